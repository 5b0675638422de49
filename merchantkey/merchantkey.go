// Package merchantkey is the one store of merchants' API keys: the keys a
// merchant presents to download its statements (settlement's download
// server) and to call the merchant API (merchantapi). A key is 256 random
// bits shown once when issued; only its SHA-256 is stored, with a short hint
// to tell keys apart. Keys are revoked one by one or rotated: a new key is
// issued and the merchant's other live keys are revoked in the same step.
//
// It must never store, log or return a key in clear after issuing it, and
// it holds no other merchant data. The SQL of both databases lives here
// (postgres.go, sqlite.go), on the merchant_keys table of migration 0010.
package merchantkey

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"
)

// ErrUnknownKey is returned for a key that was never issued or was revoked.
var ErrUnknownKey = errors.New("unknown or revoked merchant key")

// Lookup finds the merchant a key belongs to: all that the servers that
// authenticate merchants need.
type Lookup interface {
	// MerchantForKey returns the merchant of the live key whose SHA-256 is
	// hash, or ErrUnknownKey.
	MerchantForKey(ctx context.Context, hash [32]byte) (string, error)
}

// Store is the key store: Lookup plus issuing, revoking, rotating and
// listing.
type Store interface {
	Lookup
	// IssueKey stores a key's hash for merchant and returns its id.
	IssueKey(ctx context.Context, merchant string, hash [32]byte, hint string, now time.Time) (int64, error)
	// RevokeKey revokes key id; it reports whether a live key was revoked.
	RevokeKey(ctx context.Context, id int64, now time.Time) (bool, error)
	// RotateKey stores a new key's hash for merchant and revokes the
	// merchant's other live keys, in one transaction; it returns the new
	// key's id and how many keys it revoked.
	RotateKey(ctx context.Context, merchant string, hash [32]byte, hint string, now time.Time) (id int64, revoked int, err error)
	// ListKeys lists the keys of merchant, or of every merchant when "".
	ListKeys(ctx context.Context, merchant string) ([]KeyInfo, error)
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
// guessing; a slow password hash would only slow down every request.
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
