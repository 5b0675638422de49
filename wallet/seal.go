package wallet

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
)

// Sealer encrypts the original text of a password-carrying MO (AES-256-GCM,
// the MO's phone number as associated data) so that the stored MO holds the
// redacted text plus a sealed box that only the gateway's key opens: the
// engine opens it when it processes the MO, verifies the password, and
// drops the box in the same transaction. Neither the database nor a dump of
// it ever holds the password in clear.
type Sealer struct {
	aead cipher.AEAD
}

// ErrSealKey: the sealing key must be exactly 32 bytes.
var ErrSealKey = errors.New("wallet: the MO sealing key must be 32 bytes")

// ErrUnseal: the box was not sealed with this key for this phone number.
var ErrUnseal = errors.New("wallet: cannot open the sealed MO")

// NewSealer returns a Sealer with the 32-byte key.
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) != 32 {
		return nil, ErrSealKey
	}
	blk, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("wallet: sealer: %w", err)
	}
	aead, err := cipher.NewGCM(blk)
	if err != nil {
		return nil, fmt.Errorf("wallet: sealer: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts text for msisdn: nonce ‖ ciphertext.
func (s *Sealer) Seal(msisdn, text string) ([]byte, error) {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(text)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("sealing an MO: %w", err)
	}
	return s.aead.Seal(nonce, nonce, []byte(text), []byte(msisdn)), nil
}

// Open decrypts a box Seal made for msisdn. ErrUnseal otherwise.
func (s *Sealer) Open(msisdn string, box []byte) (string, error) {
	ns := s.aead.NonceSize()
	if len(box) < ns+s.aead.Overhead() {
		return "", ErrUnseal
	}
	pt, err := s.aead.Open(nil, box[:ns], box[ns:], []byte(msisdn))
	if err != nil {
		return "", ErrUnseal
	}
	return string(pt), nil
}
