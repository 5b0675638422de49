package wallet

import (
	"bytes"
	"errors"
	"testing"
)

func newSecrets(t *testing.T) *Secrets {
	t.Helper()
	s, err := NewSecrets(bytes.Repeat([]byte("k"), 32))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCheckPAN(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want error
	}{
		{"4111111111111111", nil},
		{"6222021234567881234", nil}, // test PAN used across the repo
		{"6222 0212 3456 7881 234", nil},
		{"6222-0212-3456-7881-234", nil},
		{"６２２２０２１２３４５６７８８１２３４", nil},
		{"4111111111111112", ErrPANLuhn},
		{"411111111111", ErrPANFormat},
		{"41111111111111111111", ErrPANFormat},
		{"4111a11111111111", ErrPANFormat},
		{"", ErrPANFormat},
	}
	for _, tt := range tests {
		if err := CheckPAN(NormalizePAN(tt.in)); !errors.Is(err, tt.want) {
			t.Errorf("CheckPAN(%q) = %v, want %v", tt.in, err, tt.want)
		}
	}
}

func TestLuhnAgreesWithCheckPAN(t *testing.T) {
	t.Parallel()
	if !Luhn("79927398713") || Luhn("79927398710") || Luhn("") || Luhn("7992739871x") {
		t.Fatal("Luhn wrong on the textbook number")
	}
}

func TestFingerprints(t *testing.T) {
	t.Parallel()
	s := newSecrets(t)
	a := s.CardFingerprint("6222021234567881234")
	if !EqualHash(a, s.CardFingerprint("6222 0212 3456 7881 234")) {
		t.Fatal("the same card with spaces has another fingerprint")
	}
	if EqualHash(a, s.CardFingerprint("4111111111111111")) {
		t.Fatal("two cards share a fingerprint")
	}
	other, _ := NewSecrets(bytes.Repeat([]byte("j"), 32))
	if EqualHash(a, other.CardFingerprint("6222021234567881234")) {
		t.Fatal("the fingerprint does not depend on the key")
	}
	if bytes.Contains(a, []byte("1234")) && len(a) != 32 {
		t.Fatal("fingerprint is not a 32-byte MAC")
	}
	if !EqualHash(s.IDHash("11010119900307123x"), s.IDHash(" 110101 19900307123X ")) {
		t.Fatal("ID hash is sensitive to case or spaces")
	}
	if EqualHash(s.IDHash("6222021234567881234"), s.CardFingerprint("6222021234567881234")) {
		t.Fatal("ID hash and card fingerprint share a key")
	}
	if _, err := NewSecrets([]byte("short")); !errors.Is(err, ErrShortKey) {
		t.Fatal("short key accepted")
	}
	if m := MaskPAN("6222 0212 3456 7881 234"); m != "622202*********1234" {
		t.Fatalf("MaskPAN = %q", m)
	}
}

func TestSealer(t *testing.T) {
	t.Parallel()
	s, err := NewSealer(bytes.Repeat([]byte("s"), 32))
	if err != nil {
		t.Fatal(err)
	}
	box, err := s.Seal("8613800000001", "482913 285714")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(box, []byte("285714")) {
		t.Fatal("box holds the password in clear")
	}
	if got, err := s.Open("8613800000001", box); err != nil || got != "482913 285714" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := s.Open("8613800000002", box); !errors.Is(err, ErrUnseal) {
		t.Fatal("a box opened for another phone number")
	}
	if _, err := s.Open("8613800000001", box[:5]); !errors.Is(err, ErrUnseal) {
		t.Fatal("a truncated box opened")
	}
	if _, err := NewSealer([]byte("short")); !errors.Is(err, ErrSealKey) {
		t.Fatal("short key accepted")
	}
}
