package httpbank_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/carrierbill/carrierbill/bank"
	"github.com/carrierbill/carrierbill/bank/banksim"
	"github.com/carrierbill/carrierbill/bank/httpbank"
	"github.com/carrierbill/carrierbill/bank/httpbank/httpbanktest"
	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/clock"
)

const (
	pan     = "6222021234567881234"
	holder  = "张三"
	idNum   = "11010119900307123X"
	keyID   = "carrierbill-test"
	timeout = 500 * time.Millisecond
)

var key = []byte("bank-key-bank-key-bank-key-bank-key!")

type env struct {
	sim   *banksim.Bank
	srv   *httpbanktest.Server
	a     *httpbank.Adapter
	token string
}

func newEnv(t *testing.T, mut ...func(*httpbank.Options)) *env {
	t.Helper()
	sim := banksim.New(clock.Real{})
	tok, err := sim.AddCard(pan, holder, idNum, billing.Yuan(100))
	if err != nil {
		t.Fatal(err)
	}
	srv := httpbanktest.New(sim, keyID, key, clock.Real{})
	t.Cleanup(srv.Close)
	o := httpbank.Options{URL: srv.URL, KeyID: keyID, Key: key, Timeout: timeout}
	for _, f := range mut {
		f(&o)
	}
	a, err := httpbank.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return &env{sim: sim, srv: srv, a: a, token: tok}
}

func TestContract(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	c, err := e.a.Bind(ctx, pan, holder, idNum)
	if err != nil || c.Token != e.token || c.Last4 != "1234" || strings.Contains(c.Masked, pan[6:15]) {
		t.Fatalf("Bind = %+v, %v", c, err)
	}
	if err := e.a.Debit(ctx, "charge-1", e.token, 1500); err != nil {
		t.Fatalf("Debit: %v", err)
	}
	// A repeated debit answers the first outcome and moves nothing.
	if err := e.a.Debit(ctx, "charge-1", e.token, 1500); err != nil || e.sim.Debits("charge-1") != 1 {
		t.Fatalf("repeated Debit: %v, %d debits", err, e.sim.Debits("charge-1"))
	}
	if bal, err := e.a.Balance(ctx, e.token); err != nil || bal != billing.Yuan(85) {
		t.Fatalf("Balance = %v, %v", bal, err)
	}
	if err := e.a.Refund(ctx, "refund-1", e.token, 500); err != nil {
		t.Fatalf("Refund: %v", err)
	}
	for k, want := range map[string]bank.DebitStatus{"charge-1": bank.StatusDebited, "refund-1": bank.StatusRefunded, "never": bank.StatusNotFound} {
		if st, err := e.a.Status(ctx, k); err != nil || st != want {
			t.Fatalf("Status(%s) = %v, %v; want %v", k, st, err, want)
		}
	}
	// "never" is closed now.
	if err := e.a.Debit(ctx, "never", e.token, 100); !errors.Is(err, bank.ErrKeyClosed) {
		t.Fatalf("Debit under a closed key: %v", err)
	}
	if n := e.srv.Requests("debit"); n != 3 {
		t.Fatalf("%d debit requests, want 3", n)
	}
}

// TestRefusals: each refusal code of the contract becomes bank's error,
// a definite refusal, and moves nothing.
func TestRefusals(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	if _, err := e.a.Bind(ctx, pan, "李四", idNum); !errors.Is(err, bank.ErrHolderMismatch) {
		t.Fatalf("holder mismatch: %v", err)
	}
	if _, err := e.a.Bind(ctx, "6222021234567880000", holder, idNum); !errors.Is(err, bank.ErrUnknownCard) {
		t.Fatalf("unknown card: %v", err)
	}
	if err := e.a.Debit(ctx, "big", e.token, billing.Yuan(101)); !errors.Is(err, bank.ErrInsufficientFunds) || !bank.Definite(err) {
		t.Fatalf("insufficient: %v", err)
	}
	e.sim.FailNext(e.token, bank.ErrDeclined)
	if err := e.a.Debit(ctx, "declined", e.token, 100); !errors.Is(err, bank.ErrDeclined) {
		t.Fatalf("declined: %v", err)
	}
	if err := e.a.Debit(ctx, "ok", e.token, 100); err != nil {
		t.Fatal(err)
	}
	if err := e.a.Debit(ctx, "ok", e.token, 200); !errors.Is(err, bank.ErrKeyConflict) {
		t.Fatalf("same key, other amount: %v", err)
	}
	if err := e.sim.CloseCard(e.token); err != nil {
		t.Fatal(err)
	}
	if err := e.a.Debit(ctx, "closed", e.token, 100); !errors.Is(err, bank.ErrCardClosed) {
		t.Fatalf("closed: %v", err)
	}
	// Through the engine's charger: the reasons the subscriber is told.
	ch := bank.NewCharger(e.a, func(context.Context, string, string) (string, error) { return e.token, nil })
	var d *billing.Declined
	if err := ch.Debit(ctx, "closed-2", "+8613900000001", 100); !errors.As(err, &d) || d.Reason != billing.ReasonCardClosed {
		t.Fatalf("charger on a closed card: %v", err)
	}
	if e.sim.Debited(e.token) != 100 {
		t.Fatalf("debited %v, want only the 1.00 that was accepted", e.sim.Debited(e.token))
	}
}

// TestTimeoutIsAnUnknownOutcome: the bank takes the money and the answer
// never comes. The adapter reports ErrTimeout (not a refusal), and the
// recovery sweep's Status finds the debit, which is not repeated.
func TestTimeoutIsAnUnknownOutcome(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	ch := bank.NewCharger(e.a, func(context.Context, string, string) (string, error) { return e.token, nil })

	e.srv.StallNext("debit", true) // debited, never answered
	err := ch.Debit(ctx, "charge-t", "+8613900000001", 1500)
	var d *billing.Declined
	if !errors.Is(err, bank.ErrTimeout) || errors.As(err, &d) || bank.Definite(err) {
		t.Fatalf("stalled debit: %v, want an unknown outcome (ErrTimeout)", err)
	}
	if st, err := ch.Status(ctx, "charge-t"); err != nil || st != billing.DebitDone {
		t.Fatalf("Status after the timeout = %v, %v; want done", st, err)
	}
	if e.sim.Debits("charge-t") != 1 {
		t.Fatalf("%d debits", e.sim.Debits("charge-t"))
	}

	e.srv.StallNext("debit", false) // never arrived at the bank
	if err := ch.Debit(ctx, "charge-u", "+8613900000001", 1500); !errors.Is(err, bank.ErrTimeout) {
		t.Fatalf("stalled debit: %v", err)
	}
	if st, err := ch.Status(ctx, "charge-u"); err != nil || st != billing.DebitNone {
		t.Fatalf("Status = %v, %v; want none", st, err)
	}
	// The key is closed: a late retry cannot take money.
	if err := ch.Debit(ctx, "charge-u", "+8613900000001", 1500); !errors.As(err, &d) {
		t.Fatalf("retry under a closed key: %v", err)
	}
	if e.sim.Debits("charge-u") != 0 {
		t.Fatal("money taken under a closed key")
	}
}

// TestSignatures: the bank refuses a wrong key and a stale timestamp; the
// adapter refuses an unsigned answer. None is a definite refusal.
func TestSignatures(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, func(o *httpbank.Options) { o.Key = []byte("another-key-another-key-another-key!") })
	if err := e.a.Debit(ctx, "k1", e.token, 100); err == nil || bank.Definite(err) {
		t.Fatalf("wrong key: %v, want an error that is not a refusal", err)
	}
	if e.srv.Rejected("bad_signature") != 1 || e.sim.Debits("k1") != 0 {
		t.Fatalf("wrong key: rejected %d, debits %d", e.srv.Rejected("bad_signature"), e.sim.Debits("k1"))
	}

	skewed := clock.NewFake(time.Now().Add(-10 * time.Minute))
	e = newEnv(t, func(o *httpbank.Options) { o.Clock = skewed; o.MaxSkew = time.Hour })
	if err := e.a.Debit(ctx, "k2", e.token, 100); err == nil || bank.Definite(err) {
		t.Fatalf("stale timestamp: %v", err)
	}
	if e.srv.Rejected("stale_timestamp") != 1 || e.sim.Debits("k2") != 0 {
		t.Fatal("a stale request was not refused")
	}

	e = newEnv(t)
	e.srv.SetUnsigned(true)
	err := e.a.Debit(ctx, "k3", e.token, 100)
	if !errors.Is(err, httpbank.ErrUnverified) || bank.Definite(err) {
		t.Fatalf("unsigned answer: %v", err)
	}
	e.srv.SetUnsigned(false)
	if st, err := e.a.Status(ctx, "k3"); err != nil || st != bank.StatusDebited {
		t.Fatalf("Status = %v, %v", st, err)
	}
}

// TestReplayedRequestRefused: a captured request sent again is refused by
// its nonce.
func TestReplayedRequestRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rec := &recorder{rt: http.DefaultTransport}
	e := newEnv(t)
	a, err := httpbank.New(httpbank.Options{URL: e.srv.URL, KeyID: keyID, Key: key, Transport: rec})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Refund(ctx, "r1", e.token, 100); err != nil {
		t.Fatal(err)
	}
	again, _ := http.NewRequest(rec.req.Method, rec.req.URL.String(), bytes.NewReader(rec.body))
	again.Header = rec.req.Header.Clone()
	resp, err := http.DefaultClient.Do(again)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || e.srv.Rejected("replayed_nonce") != 1 {
		t.Fatalf("replay: status %d", resp.StatusCode)
	}
}

type recorder struct {
	rt   http.RoundTripper
	req  *http.Request
	body []byte
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	b, _ := io.ReadAll(req.Body)
	r.req, r.body = req, b
	req.Body = io.NopCloser(bytes.NewReader(b))
	return r.rt.RoundTrip(req)
}

// TestSignCoversThePath: the signature covers the full path, base path
// included, so a gateway mounted under a prefix verifies.
func TestSignCoversThePath(t *testing.T) {
	t.Parallel()
	a := httpbank.Sign(key, "POST", "/gw/v1/debits", "1", "n", "k", []byte("{}"))
	b := httpbank.Sign(key, "POST", "/v1/debits", "1", "n", "k", []byte("{}"))
	c := httpbank.Sign(key, "POST", "/v1/debits", "1", "n", "other", []byte("{}"))
	if a == b || b == c || !strings.HasPrefix(a, "v1=") {
		t.Fatal("the signature does not cover the path and the idempotency key")
	}
}

func TestNewRefuses(t *testing.T) {
	t.Parallel()
	for _, o := range []httpbank.Options{
		{URL: "http://bank.example", KeyID: "k", Key: key}, // plain http to a remote host
		{URL: "https://bank.example", KeyID: "k", Key: []byte("short")},
		{URL: "https://bank.example", Key: key},
		{URL: "bank.example", KeyID: "k", Key: key},
	} {
		if _, err := httpbank.New(o); err == nil {
			t.Errorf("New(%+v) accepted", o.URL)
		}
	}
}
