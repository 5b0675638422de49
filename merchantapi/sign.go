package merchantapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// SignatureHeader carries a notification's signature:
//
//	X-Carrierbill-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>
//
// where the HMAC is keyed with the merchant's notification secret
// (`carrierbill merchant secret`) over the timestamp, a dot and the exact
// body: "<t>.<body>". It is sent in addition to the sink's bearer
// sinkCredential. A receiver recomputes it, compares in constant time,
// refuses a timestamp older than its tolerance (a replayed request) and
// drops an event id it has already handled (a retry of a delivered one).
const SignatureHeader = "X-Carrierbill-Signature"

// DefaultTolerance is how old a signature Verify accepts by default.
const DefaultTolerance = 5 * time.Minute

// Sign returns the SignatureHeader value of body sent at at.
func Sign(secret []byte, at time.Time, body []byte) string {
	t := strconv.FormatInt(at.Unix(), 10)
	return "t=" + t + ",v1=" + mac(secret, t, body)
}

func mac(secret []byte, t string, body []byte) string {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(t))
	h.Write([]byte{'.'})
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// Signature errors.
var (
	ErrBadSignature = errors.New("merchantapi: the signature does not match")
	// ErrStaleSignature: the signature is older (or further in the future)
	// than the tolerance: a replayed request.
	ErrStaleSignature = errors.New("merchantapi: the signature's timestamp is outside the tolerance (replayed?)")
)

// Verify checks a SignatureHeader value for body at now: the HMAC must
// match and the timestamp be within tolerance of now (0: DefaultTolerance).
func Verify(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	var t, sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			t = v
		case "v1":
			sig = v
		}
	}
	sec, err := strconv.ParseInt(t, 10, 64)
	if err != nil || sig == "" {
		return ErrBadSignature
	}
	if !hmac.Equal([]byte(sig), []byte(mac(secret, t, body))) {
		return ErrBadSignature
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return ErrStaleSignature
	}
	return nil
}

// MerchantSecret derives a merchant's notification secret from the
// gateway's notification key (CARRIERBILL_NOTIFY_KEY): HMAC-SHA256(key,
// "carrierbill notify v1:" + merchant), hex. Each merchant gets its own
// secret from one operator secret; changing the key rotates them all.
func MerchantSecret(key []byte, merchant string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte("carrierbill notify v1:" + merchant))
	return []byte(hex.EncodeToString(h.Sum(nil)))
}
