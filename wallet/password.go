package wallet

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id's cost parameters. They are written into every
// encoded hash, so they can be raised later: Verify reads each record's own
// parameters and reports when the record should be rehashed.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8
	SaltLen uint32 // bytes
	KeyLen  uint32 // bytes
}

// DefaultParams are OWASP's argon2id minimum (19 MiB, 2 passes, 1 lane):
// about 20 ms per hash on this class of machine. A 6-digit password has a
// million candidates, so the pepper, not the cost, is what protects a
// stolen table; the cost bounds online guessing and the CPU of a burst of
// confirmations.
var DefaultParams = Params{Memory: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// Hasher hashes and verifies wallet passwords with argon2id. The input to
// argon2id is HMAC-SHA256(pepper, password): the pepper lives in the
// server's configuration, never in the database, so the stored hashes alone
// cannot be brute-forced.
type Hasher struct {
	pepper []byte
	params Params
}

// ErrShortPepper: the pepper must be at least 16 bytes.
var ErrShortPepper = errors.New("wallet: the password pepper must be at least 16 bytes")

// NewHasher returns a Hasher with the given pepper and parameters.
func NewHasher(pepper []byte, p Params) (*Hasher, error) {
	if len(pepper) < 16 {
		return nil, ErrShortPepper
	}
	if p.Memory < 8*uint32(p.Threads) || p.Time < 1 || p.Threads < 1 || p.SaltLen < 8 || p.KeyLen < 16 {
		return nil, fmt.Errorf("wallet: argon2id parameters too weak: %+v", p)
	}
	return &Hasher{pepper: append([]byte(nil), pepper...), params: p}, nil
}

func (h *Hasher) peppered(password string) []byte {
	m := hmac.New(sha256.New, h.pepper)
	m.Write([]byte(password))
	return m.Sum(nil)
}

// Hash returns the encoded argon2id hash of password with a fresh random
// salt: $argon2id$v=19$m=19456,t=2,p=1$<salt>$<key> (base64, no padding).
func (h *Hasher) Hash(password string) (string, error) {
	salt := make([]byte, h.params.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hashing a wallet password: reading a salt: %w", err)
	}
	p := h.params
	key := argon2.IDKey(h.peppered(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// ErrBadHash: an encoded hash that Verify cannot read.
var ErrBadHash = errors.New("wallet: malformed password hash")

// Verify reports whether password matches the encoded hash, comparing in
// constant time. rehash is true when the record's parameters are weaker
// than the Hasher's: store h.Hash(password) after a successful check.
func (h *Hasher) Verify(encoded, password string) (ok, rehash bool, err error) {
	p, salt, key, err := decodeHash(encoded)
	if err != nil {
		return false, false, err
	}
	got := argon2.IDKey(h.peppered(password), salt, p.Time, p.Memory, p.Threads, uint32(len(key)))
	ok = subtle.ConstantTimeCompare(got, key) == 1
	rehash = p.Memory < h.params.Memory || p.Time < h.params.Time || p.Threads < h.params.Threads ||
		uint32(len(key)) < h.params.KeyLen || uint32(len(salt)) < h.params.SaltLen
	return ok, ok && rehash, nil
}

// decodeHash reads an encoded argon2id hash. It never panics.
func decodeHash(encoded string) (Params, []byte, []byte, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return Params{}, nil, nil, ErrBadHash
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return Params{}, nil, nil, ErrBadHash
	}
	var p Params
	if n, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil || n != 3 {
		return Params{}, nil, nil, ErrBadHash
	}
	// Bounds keep a corrupted or hostile record from costing gigabytes.
	if p.Time < 1 || p.Time > 16 || p.Threads < 1 || p.Memory < 8*uint32(p.Threads) || p.Memory > 1<<20 {
		return Params{}, nil, nil, ErrBadHash
	}
	salt, err1 := base64.RawStdEncoding.Strict().DecodeString(parts[4])
	key, err2 := base64.RawStdEncoding.Strict().DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(key) < 16 || len(key) > 64 {
		return Params{}, nil, nil, ErrBadHash
	}
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(key))
	return p, salt, key, nil
}

// Password policy errors (CheckPolicy).
var (
	ErrNotSixDigits = errors.New("wallet: the password must be exactly 6 digits")
	ErrAllSame      = errors.New("wallet: the password must not be one digit repeated")
	ErrSequence     = errors.New("wallet: the password must not be an ascending or descending run (123456, 654321)")
)

// CheckPolicy enforces the wallet password policy: exactly six ASCII
// digits; not one digit six times (000000, 111111, ...); not a run of
// consecutive digits up or down (012345, 123456, 234567, 345678, 456789,
// 543210, 654321, 765432, 876543, 987654). Everything else is allowed.
func CheckPolicy(pw string) error {
	if len(pw) != 6 || !allDigits(pw) {
		return ErrNotSixDigits
	}
	same, up, down := true, true, true
	for i := 1; i < 6; i++ {
		d := int(pw[i]) - int(pw[i-1])
		same = same && d == 0
		up = up && d == 1
		down = down && d == -1
	}
	switch {
	case same:
		return ErrAllSame
	case up || down:
		return ErrSequence
	}
	return nil
}

// GeneratePassword returns a random 6-digit password from crypto/rand that
// passes CheckPolicy (the initial password sent after binding).
func GeneratePassword() (string, error) {
	for {
		n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
		if err != nil {
			return "", fmt.Errorf("generating a wallet password: %w", err)
		}
		pw := fmt.Sprintf("%06d", n.Int64())
		if CheckPolicy(pw) == nil {
			return pw, nil
		}
	}
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
