// Package httpbank is the production bank adapter: bank.Adapter over a
// bank's card gateway that speaks the signed JSON-over-HTTPS contract in
// the README ("The bank gateway contract"). In short:
//
//	POST {url}/v1/cards/bind  {"pan","holder_name","id_number"} → {"token","last4","masked"}
//	POST {url}/v1/debits      {"token","amount_fen"} + Idempotency-Key → {"status":"debited"}
//	POST {url}/v1/refunds     {"token","amount_fen"} + Idempotency-Key → {"status":"refunded"}
//	POST {url}/v1/status      {"idempotency_key"}                     → {"status":"debited"|"refunded"|"not_found"}
//	POST {url}/v1/balance     {"token"}                               → {"balance_fen"}
//
// Every request is signed with HMAC-SHA256 over its method, path,
// timestamp, nonce, idempotency key and body hash (Sign); the bank rejects
// stale timestamps and replayed nonces, and signs its answer over the
// request's nonce, the status, its timestamp and the body hash, which this
// adapter verifies. A refusal is a 4xx with {"error": code}; the codes map
// to bank's errors (errorCodes). A timeout is bank.ErrTimeout and any other
// failure (5xx, a lost connection, an unsigned or malformed answer) is an
// error too: both leave the outcome unknown, and the engine's recovery
// sweep asks Status.
//
// It must never log or return a card or ID number (the PAN crosses it in
// Bind's body only), never log the key, never follow a redirect, and never
// call a definite refusal what the bank did not answer as one.
package httpbank

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/carrierbill/carrierbill/bank"
	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/clock"
)

// Header names of the contract.
const (
	HeaderKeyID          = "X-CB-Key-Id"
	HeaderTimestamp      = "X-CB-Timestamp"
	HeaderNonce          = "X-CB-Nonce"
	HeaderSignature      = "X-CB-Signature"
	HeaderIdempotencyKey = "Idempotency-Key"
)

// Defaults.
const (
	DefaultTimeout = 5 * time.Second
	DefaultMaxSkew = 5 * time.Minute
	MinKeyLength   = 32
	maxAnswer      = 64 << 10 // bytes of an answer read
)

// Options configure the adapter.
type Options struct {
	// URL is the base URL of the bank's card gateway (https; http only to
	// a loopback address, for tests and labs).
	URL string
	// KeyID names the shared key in every request (HeaderKeyID).
	KeyID string
	// Key is the shared HMAC key, at least MinKeyLength bytes
	// ($CARRIERBILL_BANK_KEY).
	Key []byte
	// Timeout bounds one request, answer included (default DefaultTimeout).
	// When it passes the outcome is unknown: bank.ErrTimeout.
	Timeout time.Duration
	// MaxSkew is how far an answer's timestamp may be from our clock
	// (default DefaultMaxSkew).
	MaxSkew time.Duration
	Clock   clock.Clock
	Logger  *slog.Logger
	// Transport replaces http.DefaultTransport (tests, custom TLS).
	Transport http.RoundTripper
}

// Adapter is bank.Adapter over the bank's HTTP gateway. Safe for
// concurrent use.
type Adapter struct {
	base    *url.URL
	keyID   string
	key     []byte
	timeout time.Duration
	skew    time.Duration
	clk     clock.Clock
	log     *slog.Logger
	client  *http.Client
}

var _ bank.Adapter = (*Adapter)(nil)

// New checks o and returns the adapter.
func New(o Options) (*Adapter, error) {
	u, err := url.Parse(o.URL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("bank gateway URL %q: not an absolute URL", o.URL)
	}
	if u.Scheme != "https" && !(u.Scheme == "http" && loopback(u.Hostname())) {
		return nil, fmt.Errorf("bank gateway URL: https is required (http only to a loopback address)")
	}
	if len(o.Key) < MinKeyLength {
		return nil, fmt.Errorf("bank gateway key: at least %d bytes are required", MinKeyLength)
	}
	if o.KeyID == "" {
		return nil, errors.New("bank gateway key id: required")
	}
	a := &Adapter{
		base: u, keyID: o.KeyID, key: append([]byte(nil), o.Key...), timeout: o.Timeout, skew: o.MaxSkew,
		clk: o.Clock, log: o.Logger,
	}
	if a.timeout <= 0 {
		a.timeout = DefaultTimeout
	}
	if a.skew <= 0 {
		a.skew = DefaultMaxSkew
	}
	if a.clk == nil {
		a.clk = clock.Real{}
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	tr := o.Transport
	if tr == nil {
		tr = http.DefaultTransport
	}
	a.client = &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return a, nil
}

// ValidURL reports why raw cannot be a bank gateway URL ("" when it can);
// config validation uses it.
func ValidURL(raw string) string {
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		return "not an absolute http(s) URL"
	case u.Scheme == "http" && !loopback(u.Hostname()):
		return "https is required (http only to a loopback address)"
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return "no user, query or fragment"
	}
	return ""
}

func loopback(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}

// Sign returns the request signature of the contract: "v1=" and the hex
// HMAC-SHA256 under key of
//
//	"v1\n" + method + "\n" + path + "\n" + timestamp + "\n" + nonce + "\n" + idempotencyKey + "\n" + hex(sha256(body))
//
// where path is the escaped path of the request URL (the base URL's path
// included), timestamp the Unix time in seconds in decimal, and
// idempotencyKey "" for requests that carry none.
func Sign(key []byte, method, path, timestamp, nonce, idempotencyKey string, body []byte) string {
	return mac(key, "v1", method, path, timestamp, nonce, idempotencyKey, bodyHash(body))
}

// SignAnswer returns the answer signature of the contract: "v1=" and the
// hex HMAC-SHA256 under key of
//
//	"v1-answer\n" + requestNonce + "\n" + status + "\n" + timestamp + "\n" + hex(sha256(body))
//
// with status the HTTP status code in decimal.
func SignAnswer(key []byte, requestNonce string, status int, timestamp string, body []byte) string {
	return mac(key, "v1-answer", requestNonce, strconv.Itoa(status), timestamp, bodyHash(body))
}

func mac(key []byte, parts ...string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(strings.Join(parts, "\n")))
	return "v1=" + hex.EncodeToString(m.Sum(nil))
}

func bodyHash(body []byte) string {
	h := sha256.Sum256(body)
	return hex.EncodeToString(h[:])
}

// errorCodes is the one table from the contract's refusal codes to bank's
// errors: each is a definite refusal, nothing moved.
var errorCodes = map[string]error{
	"declined":             bank.ErrDeclined,
	"insufficient_funds":   bank.ErrInsufficientFunds,
	"card_closed":          bank.ErrCardClosed,
	"card_replaced":        bank.ErrCardReplaced,
	"unknown_card":         bank.ErrUnknownCard,
	"holder_mismatch":      bank.ErrHolderMismatch,
	"idempotency_conflict": bank.ErrKeyConflict,
	"key_closed":           bank.ErrKeyClosed,
}

// ErrUnverified: the answer was not signed with our key, or too old or
// from the future; its content is ignored and the outcome is unknown.
var ErrUnverified = errors.New("bank gateway: answer not verified")

type answerError struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

// call signs and sends one request and decodes a 200 answer into out. A
// refusal (4xx with a known code) is returned as bank's error; anything
// else is an error that leaves the outcome unknown.
func (a *Adapter) call(ctx context.Context, op, path, idemKey string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("bank gateway %s: encoding: %w", op, err)
	}
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	u := a.base.JoinPath(path)
	if !strings.HasPrefix(u.Path, "/") { // a base URL without a path
		u.Path, u.RawPath = "/"+u.Path, ""
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("bank gateway %s: %w", op, err)
	}
	ts := strconv.FormatInt(a.clk.Now().Unix(), 10)
	nonce, err := newNonce()
	if err != nil {
		return fmt.Errorf("bank gateway %s: %w", op, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderKeyID, a.keyID)
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderNonce, nonce)
	if idemKey != "" {
		req.Header.Set(HeaderIdempotencyKey, idemKey)
	}
	req.Header.Set(HeaderSignature, Sign(a.key, http.MethodPost, u.EscapedPath(), ts, nonce, idemKey, body))

	resp, err := a.client.Do(req)
	if err != nil {
		if ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("bank gateway %s: no answer within %v: %w", op, a.timeout, bank.ErrTimeout)
		}
		return fmt.Errorf("bank gateway %s: %w (outcome unknown)", op, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("bank gateway %s: answer cut at %v: %w", op, a.timeout, bank.ErrTimeout)
		}
		return fmt.Errorf("bank gateway %s: reading the answer: %w (outcome unknown)", op, err)
	}
	if len(raw) > maxAnswer {
		return fmt.Errorf("bank gateway %s: answer over %d bytes (outcome unknown)", op, maxAnswer)
	}
	if err := a.verify(resp, nonce, raw); err != nil {
		a.log.Error("bank gateway answer rejected", "op", op, "status", resp.StatusCode, "err", err)
		return fmt.Errorf("bank gateway %s: %w (outcome unknown)", op, err)
	}
	switch {
	case resp.StatusCode == http.StatusOK:
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("bank gateway %s: malformed answer (outcome unknown): %w", op, err)
		}
		return nil
	case resp.StatusCode >= 400 && resp.StatusCode < 500:
		var ae answerError
		_ = json.Unmarshal(raw, &ae)
		if e, ok := errorCodes[ae.Error]; ok {
			return fmt.Errorf("bank gateway %s: %w", op, e)
		}
		a.log.Error("bank gateway refused the request", "op", op, "status", resp.StatusCode, "error", ae.Error)
		return fmt.Errorf("bank gateway %s: status %d %q (outcome unknown)", op, resp.StatusCode, ae.Error)
	}
	return fmt.Errorf("bank gateway %s: status %d (outcome unknown)", op, resp.StatusCode)
}

// verify checks the answer's signature and timestamp.
func (a *Adapter) verify(resp *http.Response, nonce string, body []byte) error {
	ts := resp.Header.Get(HeaderTimestamp)
	sig := resp.Header.Get(HeaderSignature)
	if ts == "" || sig == "" {
		return fmt.Errorf("%w: unsigned", ErrUnverified)
	}
	want := SignAnswer(a.key, nonce, resp.StatusCode, ts, body)
	if !hmac.Equal([]byte(sig), []byte(want)) {
		return fmt.Errorf("%w: bad signature", ErrUnverified)
	}
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: bad timestamp", ErrUnverified)
	}
	if d := a.clk.Now().Sub(time.Unix(secs, 0)); d > a.skew || d < -a.skew {
		return fmt.Errorf("%w: timestamp %v away from our clock", ErrUnverified, d.Round(time.Second))
	}
	return nil
}

func newNonce() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("making a nonce: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

type bindRequest struct {
	PAN        string `json:"pan"`
	HolderName string `json:"holder_name"`
	IDNumber   string `json:"id_number"`
}

type cardAnswer struct {
	Token  string `json:"token"`
	Last4  string `json:"last4"`
	Masked string `json:"masked"`
}

type moneyRequest struct {
	Token  string `json:"token"`
	Amount int64  `json:"amount_fen"`
}

type statusAnswer struct {
	Status string `json:"status"`
}

type statusRequest struct {
	Key string `json:"idempotency_key"`
}

type balanceRequest struct {
	Token string `json:"token"`
}

type balanceAnswer struct {
	Balance *int64 `json:"balance_fen"`
}

// Bind implements bank.Adapter.
func (a *Adapter) Bind(ctx context.Context, pan, holderName, idNumber string) (bank.Card, error) {
	var c cardAnswer
	if err := a.call(ctx, "bind", "/v1/cards/bind", "", bindRequest{PAN: pan, HolderName: holderName, IDNumber: idNumber}, &c); err != nil {
		return bank.Card{}, err
	}
	if c.Token == "" || len(c.Last4) != 4 || c.Masked == "" || !strings.HasSuffix(c.Masked, c.Last4) {
		return bank.Card{}, errors.New("bank gateway bind: incomplete answer")
	}
	return bank.Card{Token: c.Token, Last4: c.Last4, Masked: c.Masked}, nil
}

// Debit implements bank.Adapter.
func (a *Adapter) Debit(ctx context.Context, key, token string, amount billing.Money) error {
	return a.move(ctx, "debit", "/v1/debits", "debited", key, token, amount)
}

// Refund implements bank.Adapter.
func (a *Adapter) Refund(ctx context.Context, key, token string, amount billing.Money) error {
	return a.move(ctx, "refund", "/v1/refunds", "refunded", key, token, amount)
}

func (a *Adapter) move(ctx context.Context, op, path, want, key, token string, amount billing.Money) error {
	if key == "" || amount <= 0 {
		return fmt.Errorf("bank gateway %s %q of %s: %w", op, key, amount, bank.ErrDeclined)
	}
	var st statusAnswer
	if err := a.call(ctx, op, path, key, moneyRequest{Token: token, Amount: int64(amount)}, &st); err != nil {
		return err
	}
	if st.Status != want {
		return fmt.Errorf("bank gateway %s %s: answer status %q (outcome unknown)", op, key, st.Status)
	}
	return nil
}

// Status implements bank.Adapter.
func (a *Adapter) Status(ctx context.Context, key string) (bank.DebitStatus, error) {
	var st statusAnswer
	if err := a.call(ctx, "status", "/v1/status", "", statusRequest{Key: key}, &st); err != nil {
		return "", err
	}
	switch s := bank.DebitStatus(st.Status); s {
	case bank.StatusDebited, bank.StatusRefunded, bank.StatusNotFound:
		return s, nil
	}
	return "", fmt.Errorf("bank gateway status of %s: unknown status %q", key, st.Status)
}

// Balance implements bank.Adapter.
func (a *Adapter) Balance(ctx context.Context, token string) (billing.Money, error) {
	var b balanceAnswer
	if err := a.call(ctx, "balance", "/v1/balance", "", balanceRequest{Token: token}, &b); err != nil {
		return 0, err
	}
	if b.Balance == nil {
		return 0, errors.New("bank gateway balance: no balance_fen in the answer")
	}
	return billing.Money(*b.Balance), nil
}
