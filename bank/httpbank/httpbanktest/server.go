// Package httpbanktest is the bank's side of the httpbank contract, on top
// of any bank.Adapter (the simulated bank): it verifies every request's
// signature, refuses stale timestamps and replayed nonces, checks the
// idempotency key header, answers with the contract's JSON and error
// codes, and signs its answers. Tests (and labs) point the httpbank
// adapter at it. It is written from the README's contract, independently
// of the adapter's signing code, so a drift between the two fails a test.
//
// It must never be used as a real bank, and never log a card or ID number.
package httpbanktest

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/carrierbill/carrierbill/bank"
	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/clock"
)

// Server is a bank gateway for tests.
type Server struct {
	*httptest.Server
	bank    bank.Adapter
	keyID   string
	key     []byte
	clk     clock.Clock
	maxSkew time.Duration

	mu       sync.Mutex
	nonces   map[string]time.Time
	stalls   map[string][]bool // op → queued stalls (true: after the operation)
	requests map[string]int    // op → verified requests
	rejected map[string]int    // reason → count
	// Unsigned makes every answer unsigned (a man in the middle).
	unsigned bool
}

// New starts a gateway in front of b that accepts requests signed with key
// under keyID, judging timestamps by clk (5 minutes of skew).
func New(b bank.Adapter, keyID string, key []byte, clk clock.Clock) *Server {
	s := &Server{bank: b, keyID: keyID, key: key, clk: clk, maxSkew: 5 * time.Minute,
		nonces: map[string]time.Time{}, stalls: map[string][]bool{}, requests: map[string]int{}, rejected: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// StallNext makes the next request of op ("bind", "debit", "refund",
// "status", "balance") get no answer until the caller gives up; with after
// the operation is carried out first (the money moves, the caller never
// hears it), else it is not.
func (s *Server) StallNext(op string, after bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stalls[op] = append(s.stalls[op], after)
}

// SetUnsigned makes answers unsigned (on) or signed (off).
func (s *Server) SetUnsigned(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unsigned = on
}

// Requests returns how many verified requests of op the bank received.
func (s *Server) Requests(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[op]
}

// Rejected returns how many requests were refused for reason
// ("bad_signature", "stale_timestamp", "replayed_nonce", "unknown_key",
// "missing_idempotency_key").
func (s *Server) Rejected(reason string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rejected[reason]
}

var ops = map[string]string{
	"/v1/cards/bind": "bind",
	"/v1/debits":     "debit",
	"/v1/refunds":    "refund",
	"/v1/status":     "status",
	"/v1/balance":    "balance",
}

// codes maps bank's errors to the contract's refusal codes.
var codes = []struct {
	err  error
	code string
}{
	{bank.ErrDeclined, "declined"},
	{bank.ErrInsufficientFunds, "insufficient_funds"},
	{bank.ErrCardClosed, "card_closed"},
	{bank.ErrCardReplaced, "card_replaced"},
	{bank.ErrUnknownCard, "unknown_card"},
	{bank.ErrHolderMismatch, "holder_mismatch"},
	{bank.ErrKeyConflict, "idempotency_conflict"},
	{bank.ErrKeyClosed, "key_closed"},
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	nonce := r.Header.Get("X-CB-Nonce")
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	if err != nil {
		return
	}
	op, ok := ops[r.URL.EscapedPath()]
	if !ok || r.Method != http.MethodPost {
		s.answer(w, nonce, http.StatusNotFound, map[string]string{"error": "not_found"})
		return
	}
	if reason := s.authenticate(r, body); reason != "" {
		s.mu.Lock()
		s.rejected[reason]++
		s.mu.Unlock()
		s.answer(w, nonce, http.StatusUnauthorized, map[string]string{"error": reason})
		return
	}
	idem := r.Header.Get("Idempotency-Key")
	if (op == "debit" || op == "refund") && idem == "" {
		s.mu.Lock()
		s.rejected["missing_idempotency_key"]++
		s.mu.Unlock()
		s.answer(w, nonce, http.StatusBadRequest, map[string]string{"error": "missing_idempotency_key"})
		return
	}
	s.mu.Lock()
	s.requests[op]++
	stall, after := false, false
	if q := s.stalls[op]; len(q) > 0 {
		stall, after, s.stalls[op] = true, q[0], q[1:]
	}
	s.mu.Unlock()
	if stall && !after {
		<-r.Context().Done()
		return
	}
	status, v := s.do(r.Context(), op, idem, body)
	if stall {
		<-r.Context().Done()
		return
	}
	s.answer(w, nonce, status, v)
}

// authenticate checks the request as the contract says; "" when good.
func (s *Server) authenticate(r *http.Request, body []byte) string {
	if r.Header.Get("X-CB-Key-Id") != s.keyID {
		return "unknown_key"
	}
	ts, nonce := r.Header.Get("X-CB-Timestamp"), r.Header.Get("X-CB-Nonce")
	sum := sha256.Sum256(body)
	canonical := strings.Join([]string{"v1", r.Method, r.URL.EscapedPath(), ts, nonce,
		r.Header.Get("Idempotency-Key"), hex.EncodeToString(sum[:])}, "\n")
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(canonical))
	if !hmac.Equal([]byte(r.Header.Get("X-CB-Signature")), []byte("v1="+hex.EncodeToString(m.Sum(nil)))) {
		return "bad_signature"
	}
	secs, err := strconv.ParseInt(ts, 10, 64)
	now := s.clk.Now()
	if d := now.Sub(time.Unix(secs, 0)); err != nil || d > s.maxSkew || d < -s.maxSkew {
		return "stale_timestamp"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for n, at := range s.nonces {
		if now.Sub(at) > 2*s.maxSkew {
			delete(s.nonces, n)
		}
	}
	if len(nonce) < 16 {
		return "bad_signature"
	}
	if _, seen := s.nonces[nonce]; seen {
		return "replayed_nonce"
	}
	s.nonces[nonce] = now
	return ""
}

func (s *Server) do(ctx context.Context, op, idem string, body []byte) (int, any) {
	var in struct {
		PAN        string `json:"pan"`
		HolderName string `json:"holder_name"`
		IDNumber   string `json:"id_number"`
		Token      string `json:"token"`
		Amount     int64  `json:"amount_fen"`
		Key        string `json:"idempotency_key"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return http.StatusBadRequest, map[string]string{"error": "malformed"}
	}
	ctx = context.WithoutCancel(ctx)
	var v any
	var err error
	switch op {
	case "bind":
		var c bank.Card
		c, err = s.bank.Bind(ctx, in.PAN, in.HolderName, in.IDNumber)
		v = map[string]string{"token": c.Token, "last4": c.Last4, "masked": c.Masked}
	case "debit":
		err = s.bank.Debit(ctx, idem, in.Token, billing.Money(in.Amount))
		v = map[string]string{"status": "debited"}
	case "refund":
		err = s.bank.Refund(ctx, idem, in.Token, billing.Money(in.Amount))
		v = map[string]string{"status": "refunded"}
	case "status":
		var st bank.DebitStatus
		st, err = s.bank.Status(ctx, in.Key)
		v = map[string]string{"status": string(st)}
	case "balance":
		var m billing.Money
		m, err = s.bank.Balance(ctx, in.Token)
		v = map[string]int64{"balance_fen": int64(m)}
	}
	if err != nil {
		for _, c := range codes {
			if errors.Is(err, c.err) {
				return http.StatusUnprocessableEntity, map[string]string{"error": c.code, "message": c.code}
			}
		}
		if errors.Is(err, bank.ErrTimeout) {
			return http.StatusGatewayTimeout, map[string]string{"error": "timeout"}
		}
		return http.StatusInternalServerError, map[string]string{"error": "internal"}
	}
	return http.StatusOK, v
}

func (s *Server) answer(w http.ResponseWriter, nonce string, status int, v any) {
	body, _ := json.Marshal(v)
	ts := strconv.FormatInt(s.clk.Now().Unix(), 10)
	sum := sha256.Sum256(body)
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(strings.Join([]string{"v1-answer", nonce, strconv.Itoa(status), ts, hex.EncodeToString(sum[:])}, "\n")))
	s.mu.Lock()
	unsigned := s.unsigned
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if !unsigned {
		w.Header().Set("X-CB-Timestamp", ts)
		w.Header().Set("X-CB-Signature", "v1="+hex.EncodeToString(m.Sum(nil)))
	}
	w.WriteHeader(status)
	w.Write(body)
}
