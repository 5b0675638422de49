package settlement

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"
)

// ErrUnknownKey is returned by a KeyStore for a key that was never issued or
// was revoked.
var ErrUnknownKey = errors.New("unknown or revoked merchant key")

// KeyStore finds the merchant a download key belongs to.
type KeyStore interface {
	// MerchantForKey returns the merchant of the live key whose SHA-256 is
	// hash, or ErrUnknownKey.
	MerchantForKey(ctx context.Context, hash [32]byte) (string, error)
}

// KeyInfo describes an issued key (never the key itself).
type KeyInfo struct {
	ID        int64
	Merchant  string
	Hint      string // the key's first characters
	CreatedAt time.Time
	RevokedAt *time.Time
}

// keyPrefix marks carrierbill merchant keys so they are recognisable in a
// secret scanner.
const keyPrefix = "cbk_"

// NewKey returns a fresh merchant key (256 random bits, "cbk_" + base64url),
// its SHA-256 for storage, and a short hint to tell keys apart in listings.
// Because the key is random and long, a plain SHA-256 cannot be reversed by
// guessing; a slow password hash would only slow down every download.
func NewKey() (key string, hash [32]byte, hint string, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", hash, "", fmt.Errorf("generating a merchant key: %w", err)
	}
	key = keyPrefix + base64.RawURLEncoding.EncodeToString(b)
	return key, HashKey(key), key[:len(keyPrefix)+6], nil
}

// HashKey is the stored form of a key.
func HashKey(key string) [32]byte { return sha256.Sum256([]byte(key)) }
