package redis

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// What every Redis user of the gateway shares (the frequency-rule limiter
// here, the risk rules in package risk): how a client is opened and
// checked, and how a phone number appears in a key.

// ErrContextTimeoutDisabled is returned for a client built without
// ContextTimeoutEnabled: such a client ignores the per-call deadline and a
// hung Redis would hold a payment for the client's ReadTimeout.
var ErrContextTimeoutDisabled = errors.New("redis client must be created with ContextTimeoutEnabled: true")

// CheckClient refuses a *goredis.Client or *goredis.ClusterClient built
// without ContextTimeoutEnabled (other clients cannot be asked).
func CheckClient(client goredis.UniversalClient) error {
	var on bool
	switch c := client.(type) {
	case *goredis.Client:
		on = c.Options().ContextTimeoutEnabled
	case *goredis.ClusterClient:
		on = c.Options().ContextTimeoutEnabled
	default:
		return nil
	}
	if !on {
		return ErrContextTimeoutDisabled
	}
	return nil
}

// NewClient makes a client for a redis:// or rediss:// URL (REDIS_URL, or
// the in-process Redis's address) that honours the per-call deadline and
// uses timeout for dial, read, write and pool waits. Nothing is dialled
// before the first call. The error never quotes the URL: it may hold a
// password.
func NewClient(url string, timeout time.Duration) (*goredis.Client, error) {
	co, err := goredis.ParseURL(url)
	if err != nil {
		return nil, errors.New("the Redis URL does not parse")
	}
	co.ContextTimeoutEnabled = true
	if d := inProcessDialer(co.Addr); d != nil { // the embedded server: through memory
		co.Dialer = d
	}
	co.DialTimeout, co.ReadTimeout, co.WriteTimeout, co.PoolTimeout = timeout, timeout, timeout, timeout
	return goredis.NewClient(co), nil
}

// KeyHash is how a phone number (or any subject kept out of Redis in
// clear) appears in a key: the hex of the first 16 bytes of
// HMAC-SHA256(salt, v), or without a salt of SHA-256 of prefix, a NUL and v.
func KeyHash(salt []byte, prefix, v string) string {
	var sum []byte
	if len(salt) > 0 {
		m := hmac.New(sha256.New, salt)
		m.Write([]byte(v))
		sum = m.Sum(nil)
	} else {
		h := sha256.Sum256([]byte(prefix + "\x00" + v))
		sum = h[:]
	}
	return hex.EncodeToString(sum[:16])
}
