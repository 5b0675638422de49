package wallet

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"strings"

	"github.com/carrierbill/carrierbill/redact"
)

// Secrets computes the keyed hashes that stand in for card and ID numbers.
// One server-side key (configuration, never the database) is split into a
// subkey per purpose, so a card fingerprint can never equal an ID hash.
type Secrets struct {
	panKey []byte
	idKey  []byte
}

// ErrShortKey: the card secrets key must be at least 32 bytes.
var ErrShortKey = errors.New("wallet: the card secrets key must be at least 32 bytes")

// NewSecrets derives the fingerprint and ID-hash keys from key.
func NewSecrets(key []byte) (*Secrets, error) {
	if len(key) < 32 {
		return nil, ErrShortKey
	}
	return &Secrets{panKey: mac(key, "carrierbill/card-fingerprint/v1"), idKey: mac(key, "carrierbill/id-hash/v1")}, nil
}

func mac(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// CardFingerprint is HMAC-SHA256 of the normalized PAN (NormalizePAN): the
// same card always has the same fingerprint, which is what the
// one-card-one-phone rule compares; the PAN cannot be recovered from it
// without the key.
func (s *Secrets) CardFingerprint(pan string) []byte { return mac(s.panKey, NormalizePAN(pan)) }

// IDHash is HMAC-SHA256 of the normalized ID number (spaces dropped, upper
// case, so the check letter x and X agree). subscribers.owner_id_hash must
// be written with this function and the same key.
func (s *Secrets) IDHash(idNumber string) []byte { return mac(s.idKey, NormalizeID(idNumber)) }

// NormalizeID drops spaces and upper-cases an ID number.
func NormalizeID(id string) string {
	return strings.ToUpper(strings.Join(strings.Fields(FoldWidth(id)), ""))
}

// EqualHash compares two hashes or fingerprints in constant time.
func EqualHash(a, b []byte) bool { return hmac.Equal(a, b) }

// NormalizePAN drops spaces and dashes and folds full-width digits, as an
// operator may type "6222 0212 3456 7891 234".
func NormalizePAN(pan string) string {
	var b strings.Builder
	for _, r := range FoldWidth(pan) {
		if r == ' ' || r == '-' || r == '\t' {
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Card number errors (CheckPAN).
var (
	ErrPANFormat = errors.New("wallet: a card number is 13 to 19 digits")
	ErrPANLuhn   = errors.New("wallet: the card number's check digit is wrong")
)

// CheckPAN validates a normalized card number at binding: 13 to 19 digits
// and a valid Luhn check digit.
func CheckPAN(pan string) error {
	if len(pan) < 13 || len(pan) > 19 || !allDigits(pan) {
		return ErrPANFormat
	}
	if !Luhn(pan) {
		return ErrPANLuhn
	}
	return nil
}

// Luhn reports whether the digit string s has a valid Luhn check digit.
// Non-digits make it false.
func Luhn(s string) bool {
	if s == "" {
		return false
	}
	sum, double := 0, false
	for i := len(s) - 1; i >= 0; i-- {
		c := s[i]
		if c < '0' || c > '9' {
			return false
		}
		d := int(c - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}

// MaskPAN is the only form of a card number carrierbill shows or stores:
// 622202*********1234 (redact.PAN).
func MaskPAN(pan string) string { return redact.PAN(NormalizePAN(pan)) }

// FoldWidth folds full-width ASCII and the ideographic space to ASCII.
func FoldWidth(s string) string {
	if isASCII(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r == '\u3000':
			r = ' '
		case r >= '\uFF01' && r <= '\uFF5E':
			r = r - 0xFF01 + '!'
		}
		b.WriteRune(r)
	}
	return b.String()
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
