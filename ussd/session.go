package ussd

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/carrierbill/carrierbill/billing"
)

// State is the screen a dialog is on.
type State string

// The menu's states.
const (
	StateHome          State = "home"
	StateMerchants     State = "merchants"
	StateProducts      State = "products"
	StateAmount        State = "amount"
	StateConfirm       State = "confirm"
	StateCode          State = "code"          // phone order: the SMS code
	StateCardPassword  State = "card_password" // card order: the wallet password
	StateCards         State = "cards"
	StatePasswordOld   State = "password_old"
	StatePasswordNew   State = "password_new"
	StateSubscriptions State = "subscriptions"
	StateSubscription  State = "subscription"
	StateEnd           State = "end" // a closing screen (maybe paged)
)

// secret reports whether answers on this screen are secrets (a wallet
// password, a confirmation code): they are sealed before they are stored.
func (s State) secret() bool {
	switch s {
	case StateCode, StateCardPassword, StatePasswordOld, StatePasswordNew:
		return true
	}
	return false
}

// Frame is one step of the way back.
type Frame struct {
	State State `json:"s"`
	Page  int   `json:"p,omitempty"`
}

// Session is one dialog as kept in Redis. It holds no secret in clear: the
// old password of a password change is sealed (wallet.Sealer), a code is
// never kept (a card order's code is read from the order when needed).
type Session struct {
	Key       string `json:"-"` // the hashed session key (Redis key suffix)
	MSISDN    string `json:"msisdn"`
	Transport string `json:"transport"` // "smpp" or "http"
	// SMPP: where answers go.
	Bind        string `json:"bind,omitempty"`
	ServiceAddr string `json:"service_addr,omitempty"` // the USSD code dialled (answers come from it)
	Addr        string `json:"addr,omitempty"`         // the subscriber's address as the SMSC sent it
	SessionInfo []byte `json:"its,omitempty"`
	UMR         int    `json:"umr"`

	State State   `json:"state"`
	Page  int     `json:"page,omitempty"` // page of a list state
	Back  []Frame `json:"back,omitempty"`

	Merchant  string        `json:"merchant,omitempty"`
	Product   string        `json:"product,omitempty"`
	Amount    billing.Money `json:"amount,omitempty"`
	CardLast4 string        `json:"last4,omitempty"`
	OrderID   int64         `json:"order,omitempty"`
	OldSealed []byte        `json:"old,omitempty"` // sealed old password
	SubID     string        `json:"sub,omitempty"`

	// The screen shown: its pages and which one; Final says the dialog
	// ends with the last page.
	Pages  []string `json:"pages"`
	PageAt int      `json:"page_at,omitempty"`
	Final  bool     `json:"final,omitempty"`

	Handled int       `json:"handled"` // messages handled (the opening one included)
	Started time.Time `json:"started"`
	Last    time.Time `json:"last"`
	Closed  bool      `json:"closed,omitempty"`
}

// Screen is the page on show and whether it ends the dialog.
func (s *Session) Screen() (text string, end bool) {
	if len(s.Pages) == 0 {
		return "", true
	}
	i := min(max(s.PageAt, 0), len(s.Pages)-1)
	return s.Pages[i], s.Closed || (s.Final && i == len(s.Pages)-1)
}

// Sessions keeps dialogs. Keys are hashed transport session keys; a
// number's open dialog is found through Owner.
type Sessions interface {
	// Get returns the session of key, nil when there is none (never seen,
	// or long expired).
	Get(ctx context.Context, key string) (*Session, error)
	// Put saves s (and makes it its number's open dialog) with the TTL.
	Put(ctx context.Context, s *Session) error
	// Owner returns the key of msisdn's open dialog, "" when none.
	Owner(ctx context.Context, msisdn string) (string, error)
}

// RedisSessions keeps sessions in Redis (a real one, or the gateway's
// in-process one), as JSON under Prefix+"ussd:s:"+key with a TTL.
type RedisSessions struct {
	Client *goredis.Client
	Prefix string
	// Salt keys the hash of a number in the owner key (the Redis key salt:
	// a dump cannot be matched against a list of numbers).
	Salt []byte
	TTL  time.Duration
}

func (r *RedisSessions) ownerKey(msisdn string) string {
	m := hmac.New(sha256.New, r.Salt)
	m.Write([]byte(msisdn))
	return r.Prefix + "ussd:n:" + hex.EncodeToString(m.Sum(nil)[:16])
}

// Get implements Sessions.
func (r *RedisSessions) Get(ctx context.Context, key string) (*Session, error) {
	b, err := r.Client.Get(ctx, r.Prefix+"ussd:s:"+key).Bytes()
	if errors.Is(err, goredis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading a USSD session: %w", err)
	}
	var s Session
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("decoding a USSD session: %w", err)
	}
	s.Key = key
	return &s, nil
}

// Put implements Sessions.
func (r *RedisSessions) Put(ctx context.Context, s *Session) error {
	b, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("encoding a USSD session: %w", err)
	}
	_, err = r.Client.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.Set(ctx, r.Prefix+"ussd:s:"+s.Key, b, r.TTL)
		if s.Closed {
			// Only the owner's own close frees the number.
			p.Eval(ctx, `if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`,
				[]string{r.ownerKey(s.MSISDN)}, s.Key)
		} else {
			p.Set(ctx, r.ownerKey(s.MSISDN), s.Key, r.TTL)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("saving a USSD session: %w", err)
	}
	return nil
}

// Owner implements Sessions.
func (r *RedisSessions) Owner(ctx context.Context, msisdn string) (string, error) {
	k, err := r.Client.Get(ctx, r.ownerKey(msisdn)).Result()
	if errors.Is(err, goredis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading the open USSD dialog of a number: %w", err)
	}
	return k, nil
}

// HashKey turns a transport session key into the key sessions are kept
// under (it may hold a number: SMPP keys by source address).
func HashKey(salt []byte, transportKey string) string {
	m := hmac.New(sha256.New, salt)
	m.Write([]byte(transportKey))
	return hex.EncodeToString(m.Sum(nil)[:16])
}
