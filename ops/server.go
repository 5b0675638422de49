package ops

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/smpp"
)

// ServerOptions wire the operations endpoint.
type ServerOptions struct {
	Metrics *Metrics
	Health  *Health
	// Token is the admin bearer token of the operator API (/admin/...);
	// empty: the operator API answers 503 and the console says why.
	Token    string
	Operator *Operator
	Reports  *ReportService // nil: no reports
	// Risk is the risk admin API (package riskadmin), served at
	// /admin/risk/ with its own check of the same token; nil: none.
	Risk   http.Handler
	Logger *slog.Logger
}

// NewServer returns the operations endpoint's handler:
//
//	GET  /metrics                     Prometheus (no token)
//	GET  /healthz, /readyz            health (no token)
//	GET  /console/                    the operator console (static; its data comes from /admin with the token)
//	     /admin/...                   the operator API (Authorization: Bearer $CARRIERBILL_ADMIN_TOKEN)
//	     /admin/risk/...              the risk admin API (ServerOptions.Risk), same token
func NewServer(o ServerOptions) http.Handler {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &server{o: o, op: o.Operator}
	if s.op == nil {
		s.op = &Operator{}
	}
	if o.Token != "" {
		s.token = sha256.Sum256([]byte(o.Token))
	}
	mux := http.NewServeMux()
	if o.Metrics != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(o.Metrics.Registry, promhttp.HandlerOpts{Registry: o.Metrics.Registry}))
	}
	if o.Health != nil {
		mux.HandleFunc("GET /healthz", o.Health.ServeHealthz)
		mux.HandleFunc("GET /readyz", o.Health.ServeReadyz)
	}
	mux.Handle("GET /console/", consoleHandler())
	mux.Handle("GET /{$}", http.RedirectHandler("/console/", http.StatusFound))
	api := http.NewServeMux()
	api.HandleFunc("GET /admin/status", s.status)
	api.HandleFunc("GET /admin/orders", s.findOrders)
	api.HandleFunc("GET /admin/orders/{id}", s.order)
	api.HandleFunc("POST /admin/refunds", s.refund)
	api.HandleFunc("GET /admin/accounts/{number}", s.account)
	api.HandleFunc("POST /admin/accounts", s.openAccount)
	api.HandleFunc("POST /admin/accounts/{number}/topup", s.topUp)
	api.HandleFunc("POST /admin/accounts/{number}/suspend", s.accountStatus(true))
	api.HandleFunc("POST /admin/accounts/{number}/resume", s.accountStatus(false))
	api.HandleFunc("POST /admin/binds/{name}/suspend", s.bind(false))
	api.HandleFunc("POST /admin/binds/{name}/resume", s.bind(true))
	api.HandleFunc("GET /admin/loglevel", s.logLevel)
	api.HandleFunc("PUT /admin/loglevel", s.setLogLevel)
	api.HandleFunc("POST /admin/phone", s.phone)
	api.HandleFunc("GET /admin/phone", s.phoneInbox)
	api.HandleFunc("GET /admin/reports", s.reports)
	api.HandleFunc("POST /admin/reports", s.makeReport)
	api.HandleFunc("GET /admin/reports/{file}", s.reportFile)
	mux.Handle("/admin/", s.auth(api))
	if o.Risk != nil {
		mux.Handle("/admin/risk/", o.Risk)
	}
	return mux
}

type server struct {
	o     ServerOptions
	op    *Operator
	token [32]byte
}

// auth checks the bearer token in constant time.
func (s *server) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.o.Token == "" {
			writeError(w, http.StatusServiceUnavailable, "the operator API is off: set CARRIERBILL_ADMIN_TOKEN and restart")
			return
		}
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		h := sha256.Sum256([]byte(got))
		if !ok || subtle.ConstantTimeCompare(h[:], s.token[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="carrierbill-ops"`)
			writeError(w, http.StatusUnauthorized, "missing or wrong bearer token")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		next.ServeHTTP(w, r)
	})
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// fail maps an error to its HTTP status in one table.
func (s *server) fail(w http.ResponseWriter, err error) {
	st := http.StatusInternalServerError
	switch {
	case errors.Is(err, billing.ErrBadRequest), errors.Is(err, billing.ErrBadMask):
		st = http.StatusBadRequest
	case errors.Is(err, billing.ErrNotFound), errors.Is(err, smpp.ErrUnknownBind), errors.Is(err, errNoReport):
		st = http.StatusNotFound
	case errors.Is(err, ErrUnavailable):
		st = http.StatusServiceUnavailable
	case errors.Is(err, ErrAccountExists), errors.Is(err, billing.ErrNotRefundable), errors.Is(err, billing.ErrRefundTooLarge),
		errors.Is(err, billing.ErrIdempotencyConflict), errors.Is(err, billing.ErrNotPrepaid):
		st = http.StatusConflict
	}
	if st == http.StatusInternalServerError {
		s.o.Logger.Error("operator API", "err", err)
	}
	writeError(w, st, err.Error())
}

func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return errors.Join(billing.ErrBadRequest, fmt.Errorf("request body: %w", err))
	}
	return nil
}

func intParam(r *http.Request, name string) (int64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, errors.Join(billing.ErrBadRequest, fmt.Errorf("%s: %q is not a number", name, v))
	}
	return n, nil
}

func money(field, v string) (billing.Money, error) {
	if v == "" {
		return 0, nil
	}
	m, err := billing.ParseYuan(v)
	if err != nil {
		return 0, errors.Join(billing.ErrBadRequest, fmt.Errorf("%s: %w", field, err))
	}
	return m, nil
}

func (s *server) status(w http.ResponseWriter, r *http.Request) {
	st := s.op.Status(r.Context())
	if s.o.Metrics != nil {
		st.Counters = s.o.Metrics.Snapshot()
	}
	writeJSON(w, http.StatusOK, st)
}

// orderJSON is an order hit as the API shows it (money in yuan).
type orderJSON struct {
	Order        int64  `json:"order"`
	Txn          int64  `json:"txn,omitempty"`
	ChargeStatus string `json:"charge_status,omitempty"`
	Number       string `json:"number"` // masked
	Merchant     string `json:"merchant"`
	MerchantRef  string `json:"merchant_ref,omitempty"`
	Product      string `json:"product"`
	Amount       string `json:"amount"`
	Method       string `json:"method"`
	Status       string `json:"status"`
	Reason       string `json:"reason,omitempty"`
	Refunded     string `json:"refunded"`
	Created      string `json:"created"`
}

func hitJSON(h billing.OrderHit, loc *time.Location) orderJSON {
	return orderJSON{Order: h.OrderID, Txn: h.ChargeID, ChargeStatus: string(h.ChargeStatus), Number: MaskNumber(h.MSISDN),
		Merchant: h.Merchant, MerchantRef: h.MerchantRef, Product: h.ProductName, Amount: h.Amount.String(), Method: string(h.Method),
		Status: string(h.Status), Reason: string(h.Reason), Refunded: h.Refunded.String(), Created: h.CreatedAt.In(loc).Format("2006-01-02 15:04:05")}
}

func (s *server) loc() *time.Location {
	if s.op.Engine != nil && s.op.Engine.Config().Location != nil {
		return s.op.Engine.Config().Location
	}
	return time.Local
}

func (s *server) findOrders(w http.ResponseWriter, r *http.Request) {
	var q SearchQuery
	var err error
	if q.Order, err = intParam(r, "order"); err != nil {
		s.fail(w, err)
		return
	}
	if q.Txn, err = intParam(r, "txn"); err != nil {
		s.fail(w, err)
		return
	}
	q.Merchant, q.Ref, q.Number = r.URL.Query().Get("merchant"), r.URL.Query().Get("ref"), r.URL.Query().Get("number")
	hits, err := s.op.FindOrders(r.Context(), q)
	if err != nil {
		s.fail(w, err)
		return
	}
	out := make([]orderJSON, 0, len(hits))
	for _, h := range hits {
		out = append(out, hitJSON(h, s.loc()))
	}
	writeJSON(w, http.StatusOK, map[string]any{"orders": out})
}

func (s *server) order(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		s.fail(w, errors.Join(billing.ErrBadRequest, errors.New("order id must be a number")))
		return
	}
	v, err := s.op.Order(r.Context(), id)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, ViewJSON(v, s.loc()))
}

func (s *server) refund(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Order  int64  `json:"order"`
		Txn    int64  `json:"txn"`
		Amount string `json:"amount"`
		Reason string `json:"reason"`
		Key    string `json:"key"`
	}
	if err := decode(r, &in); err != nil {
		s.fail(w, err)
		return
	}
	amt, err := money("amount", in.Amount)
	if err != nil {
		s.fail(w, err)
		return
	}
	ref, v, err := s.op.Refund(r.Context(), RefundRequest{Order: in.Order, Txn: in.Txn, Amount: amt, Reason: in.Reason, Key: in.Key})
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"refund": ref.ID, "amount": ref.Amount.String(), "reason": ref.Reason, "order": ViewJSON(v, s.loc())})
}

// accountJSON is a phone account as the API shows it.
type accountJSON struct {
	Number      string `json:"number"`
	Plan        string `json:"plan"`
	Balance     string `json:"balance"`
	Bill        string `json:"bill"`
	CreditLimit string `json:"credit_limit"`
	Suspended   bool   `json:"suspended"`
}

// AccountJSON is the API's (and `account show -json`'s) form of an account.
func AccountJSON(a billing.Subscriber) accountJSON {
	return accountJSON{Number: MaskNumber(a.MSISDN), Plan: string(a.Plan), Balance: a.Balance.String(), Bill: a.Bill.String(),
		CreditLimit: a.CreditLimit.String(), Suspended: a.Suspended}
}

func (s *server) account(w http.ResponseWriter, r *http.Request) {
	a, err := s.op.Account(r.Context(), r.PathValue("number"))
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, AccountJSON(a))
}

func (s *server) openAccount(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Number      string `json:"number"`
		Plan        string `json:"plan"`
		Balance     string `json:"balance"`
		CreditLimit string `json:"credit_limit"`
	}
	if err := decode(r, &in); err != nil {
		s.fail(w, err)
		return
	}
	bal, err := money("balance", in.Balance)
	if err != nil {
		s.fail(w, err)
		return
	}
	lim, err := money("credit_limit", in.CreditLimit)
	if err != nil {
		s.fail(w, err)
		return
	}
	if in.Plan == "" {
		in.Plan = string(billing.Prepaid)
	}
	a, err := s.op.OpenAccount(r.Context(), in.Number, billing.Plan(in.Plan), bal, lim)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, AccountJSON(a))
}

func (s *server) topUp(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Amount string `json:"amount"`
		Key    string `json:"key"`
	}
	if err := decode(r, &in); err != nil {
		s.fail(w, err)
		return
	}
	amt, err := money("amount", in.Amount)
	if err != nil {
		s.fail(w, err)
		return
	}
	if in.Key == "" {
		s.fail(w, errors.Join(billing.ErrBadRequest, errors.New("key: a top-up needs an idempotency key (the same key twice tops up once)")))
		return
	}
	a, err := s.op.TopUp(r.Context(), r.PathValue("number"), amt, in.Key)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, AccountJSON(a))
}

func (s *server) accountStatus(suspend bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a, err := s.op.SetSuspended(r.Context(), r.PathValue("number"), suspend)
		if err != nil {
			s.fail(w, err)
			return
		}
		writeJSON(w, http.StatusOK, AccountJSON(a))
	}
}

func (s *server) bind(on bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		changed, err := s.op.SetBind(r.PathValue("name"), on)
		if err != nil {
			s.fail(w, err)
			return
		}
		state := "suspended"
		if on {
			state = "resumed"
		}
		writeJSON(w, http.StatusOK, map[string]any{"bind": r.PathValue("name"), "state": state, "changed": changed})
	}
}

func (s *server) logLevel(w http.ResponseWriter, _ *http.Request) {
	if s.op.LogLevel == nil {
		s.fail(w, ErrUnavailable)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"level": strings.ToLower(s.op.LogLevel.Level().String())})
}

func (s *server) setLogLevel(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Level string `json:"level"`
	}
	if err := decode(r, &in); err != nil {
		s.fail(w, err)
		return
	}
	before, err := s.op.SetLogLevel(in.Level)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"level": strings.ToLower(in.Level), "before": before})
}

// mtJSON is an MT as the phone simulator shows it.
type mtJSON struct {
	ID   int64  `json:"id"`
	From string `json:"from"`
	Text string `json:"text"`
	Kind string `json:"kind"`
	At   string `json:"at"`
	Sent bool   `json:"sent"`
}

func (s *server) phoneJSON(p PhoneResult) map[string]any {
	mts := make([]mtJSON, 0, len(p.MTs))
	for _, m := range p.MTs {
		mts = append(mts, mtJSON{ID: m.ID, From: m.ServiceAddr, Text: m.Body, Kind: string(m.Kind),
			At: m.CreatedAt.In(s.loc()).Format("15:04:05"), Sent: !m.SentAt.IsZero()})
	}
	return map[string]any{"number": p.MSISDN, "mts": mts}
}

func (s *server) phone(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Number string `json:"number"`
		To     string `json:"to"`
		Text   string `json:"text"`
	}
	if err := decode(r, &in); err != nil {
		s.fail(w, err)
		return
	}
	res, err := s.op.SendAsPhone(r.Context(), in.Number, in.To, in.Text, 5*time.Second)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, s.phoneJSON(res))
}

func (s *server) phoneInbox(w http.ResponseWriter, r *http.Request) {
	since := time.Time{}
	if v := r.URL.Query().Get("since_id"); v != "" {
		_ = v // ids are handled by the client; since is a time window
	}
	if v := r.URL.Query().Get("minutes"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			s.fail(w, errors.Join(billing.ErrBadRequest, errors.New("minutes: a positive number")))
			return
		}
		since = s.op.now().Add(-time.Duration(n) * time.Minute)
	} else {
		since = s.op.now().Add(-time.Hour)
	}
	res, err := s.op.PhoneInbox(r.Context(), r.URL.Query().Get("number"), since)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, s.phoneJSON(res))
}
