package wallet

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// testParams keep argon2id cheap in tests; DefaultParams is measured by
// BenchmarkHash.
var testParams = Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func newHasher(t testing.TB, pepper string, p Params) *Hasher {
	t.Helper()
	h, err := NewHasher([]byte(pepper), p)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestHashVerify(t *testing.T) {
	t.Parallel()
	h := newHasher(t, "pepper-pepper-pepper", testParams)
	enc, err := h.Hash("285714")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(enc, "285714") || !strings.HasPrefix(enc, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("encoded hash %q", enc)
	}
	enc2, _ := h.Hash("285714")
	if enc == enc2 {
		t.Fatal("two hashes of one password are equal: the salt is not random")
	}
	other := newHasher(t, "another-pepper-0000", testParams)
	stronger := newHasher(t, "pepper-pepper-pepper", Params{Memory: 128, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32})
	tests := []struct {
		name       string
		h          *Hasher
		pw         string
		ok, rehash bool
	}{
		{"right", h, "285714", true, false},
		{"wrong", h, "285715", false, false},
		{"right password, wrong pepper", other, "285714", false, false},
		{"right, parameters raised since", stronger, "285714", true, true},
		{"wrong, parameters raised since", stronger, "000001", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, rehash, err := tt.h.Verify(enc, tt.pw)
			if err != nil || ok != tt.ok || rehash != tt.rehash {
				t.Fatalf("Verify = %v, %v, %v; want %v, %v", ok, rehash, err, tt.ok, tt.rehash)
			}
		})
	}
}

func TestNewHasherRejectsWeakSetup(t *testing.T) {
	t.Parallel()
	if _, err := NewHasher([]byte("short"), DefaultParams); !errors.Is(err, ErrShortPepper) {
		t.Fatalf("short pepper: %v", err)
	}
	if _, err := NewHasher([]byte("pepper-pepper-pepper"), Params{Memory: 64, Time: 0, Threads: 1, SaltLen: 16, KeyLen: 32}); err == nil {
		t.Fatal("t=0 accepted")
	}
}

var badHashes = []string{
	"",
	"$argon2id$",
	"$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5",
	"$argon2id$v=18$m=64,t=1,p=1$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5",
	"$argon2id$v=19$m=64,t=0,p=1$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5",
	"$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5",
	"$argon2id$v=19$m=64,t=1,p=1$!!$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5",
	"$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0$a2V5",
	"$argon2id$v=19$m=64,t=1$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5",
}

func TestVerifyMalformed(t *testing.T) {
	t.Parallel()
	h := newHasher(t, "pepper-pepper-pepper", testParams)
	for _, enc := range badHashes {
		if ok, _, err := h.Verify(enc, "285714"); ok || !errors.Is(err, ErrBadHash) {
			t.Errorf("Verify(%q) = %v, %v; want ErrBadHash", enc, ok, err)
		}
	}
}

func FuzzDecodeHash(f *testing.F) {
	for _, s := range badHashes {
		f.Add(s)
	}
	h := newHasher(f, "pepper-pepper-pepper", testParams)
	good, _ := h.Hash("285714")
	f.Add(good)
	f.Fuzz(func(t *testing.T, enc string) {
		p, salt, key, err := decodeHash(enc)
		if err == nil && (p.Memory > 1<<20 || p.Time > 16 || len(salt) < 8 || len(key) < 16) {
			t.Fatalf("accepted out-of-bounds hash %q", enc)
		}
	})
}

func TestCheckPolicy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pw   string
		want error
	}{
		{"285714", nil},
		{"123457", nil},
		{"112233", nil},
		{"012345", ErrSequence},
		{"123456", ErrSequence},
		{"456789", ErrSequence},
		{"654321", ErrSequence},
		{"987654", ErrSequence},
		{"543210", ErrSequence},
		{"000000", ErrAllSame},
		{"888888", ErrAllSame},
		{"12345", ErrNotSixDigits},
		{"1234567", ErrNotSixDigits},
		{"12a456", ErrNotSixDigits},
		{"１２３４５６", ErrNotSixDigits},
		{"", ErrNotSixDigits},
	}
	for _, tt := range tests {
		if err := CheckPolicy(tt.pw); !errors.Is(err, tt.want) {
			t.Errorf("CheckPolicy(%q) = %v, want %v", tt.pw, err, tt.want)
		}
	}
}

func TestGeneratePassword(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 200 {
		pw, err := GeneratePassword()
		if err != nil {
			t.Fatal(err)
		}
		if err := CheckPolicy(pw); err != nil {
			t.Fatalf("generated %q breaks the policy: %v", pw, err)
		}
		seen[pw] = true
	}
	if len(seen) < 190 {
		t.Fatalf("only %d distinct passwords in 200", len(seen))
	}
}

func TestLockout(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		steps  string // w = wrong, r = right, u = operator unlock
		locked bool
		left   int
	}{
		{"fresh", "", false, 3},
		{"two wrong", "ww", false, 1},
		{"three wrong lock", "www", true, 0},
		{"right resets the count", "wwrww", false, 1},
		{"right does not unlock", "wwwr", true, 0},
		{"more wrong stay locked", "wwwww", true, 0},
		{"operator unlocks", "wwwu", false, 3},
		{"after unlock, three again", "wwwuwww", true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var l Lock
			for i, s := range tt.steps {
				switch s {
				case 'w':
					l = l.Wrong(t0.Add(time.Duration(i) * time.Minute))
				case 'r':
					l = l.Right()
				case 'u':
					l = l.Unlock()
				}
			}
			if l.Locked() != tt.locked || l.Left() != tt.left {
				t.Fatalf("after %q: locked %v left %d; want %v %d", tt.steps, l.Locked(), l.Left(), tt.locked, tt.left)
			}
		})
	}
	l := Lock{}.Wrong(t0).Wrong(t0).Wrong(t0.Add(time.Hour))
	if !l.LockedAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("LockedAt = %v", l.LockedAt)
	}
}

func BenchmarkHash(b *testing.B) {
	h := newHasher(b, "pepper-pepper-pepper", DefaultParams)
	enc, _ := h.Hash("285714")
	b.ResetTimer()
	for b.Loop() {
		if ok, _, _ := h.Verify(enc, "285714"); !ok {
			b.Fatal("verify failed")
		}
	}
}
