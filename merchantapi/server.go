package merchantapi

import (
	"context"
	"embed"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/clock"
	"github.com/carrierbill/carrierbill/merchantkey"
)

// The base paths of the two APIs.
const (
	BasePath       = "/carrier-billing/v0.5"
	RefundBasePath = "/carrier-billing-refund/v0.3"
	// SubscriptionsBasePath is carrierbill's own extension: merchants
	// read and cancel their monthly subscriptions (issue 14). CAMARA has
	// no subscription API; its document is openapi/subscriptions.yaml.
	SubscriptionsBasePath = "/carrierbill-subscriptions/v1"
)

//go:embed openapi/carrier-billing.yaml openapi/carrier-billing-refund.yaml openapi/subscriptions.yaml
var openapiFS embed.FS

// OpenAPI returns the OpenAPI documents the server implements, by file
// name: carrier-billing.yaml and carrier-billing-refund.yaml (CAMARA r3.2,
// unchanged).
func OpenAPI() map[string][]byte {
	out := map[string][]byte{}
	for _, n := range []string{"carrier-billing.yaml", "carrier-billing-refund.yaml", "subscriptions.yaml"} {
		b, err := openapiFS.ReadFile("openapi/" + n)
		if err != nil {
			panic(err) // embedded at build time
		}
		out[n] = b
	}
	return out
}

// Rate is the per-merchant request rate limit.
type Rate struct {
	Requests int           // 0: no limit
	Period   time.Duration // default 1 s
}

// MerchantOptions are a merchant's API settings.
type MerchantOptions struct {
	// ConfirmWithoutCode lets the merchant confirm a payment the subscriber
	// has not validated (a trusted merchant that took consent itself).
	ConfirmWithoutCode bool
	// SignedRequests requires every request of the merchant to carry a
	// valid, unused SignatureHeader (reqsign.go).
	SignedRequests bool
}

// Options wire a Server. Engine and Keys are required.
type Options struct {
	Engine *billing.Engine
	Keys   merchantkey.Lookup
	// Limiter enforces Rate per merchant (redis_rate in billing/redis; the
	// in-process Redis when no REDIS_URL). nil or a zero Rate: no limit.
	Limiter billing.Limiter
	Rate    Rate
	// Merchants hold per-merchant settings by code (absent: defaults).
	Merchants map[string]MerchantOptions
	// Normalize gives a number's canonical E.164 form (the numbering
	// plan's); nil keeps an E.164 number as it is.
	Normalize func(string) (string, error)
	// Secret returns a merchant's signing secret (MerchantSecret): it
	// checks signed requests (nil: a signed request is refused).
	Secret func(merchant string) []byte
	Logger *slog.Logger
}

// Server is the merchant API's HTTP handler.
type Server struct {
	o      Options
	e      *billing.Engine
	store  billing.Store
	clock  clock.Clock
	log    *slog.Logger
	router chi.Router
	sigs   sigGuard // signatures seen, when there is no limiter
}

// New returns the merchant API.
func New(o Options) (*Server, error) {
	if o.Engine == nil || o.Keys == nil {
		return nil, errors.New("merchantapi: New needs an Engine and Keys")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Normalize == nil {
		o.Normalize = func(s string) (string, error) { return s, nil }
	}
	if o.Rate.Period <= 0 {
		o.Rate.Period = time.Second
	}
	s := &Server{o: o, e: o.Engine, store: o.Engine.Store(), clock: o.Engine.Clock(), log: o.Logger}
	s.router = s.routes()
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.router.ServeHTTP(w, r) }

// Routes lists every route the server answers, "METHOD /path" with chi's
// {param} names, for the test that checks each is in the OpenAPI documents.
func (s *Server) Routes() []string {
	var out []string
	_ = chi.Walk(s.router, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		out = append(out, method+" "+route)
		return nil
	})
	return out
}

func (s *Server) routes() chi.Router {
	r := chi.NewRouter()
	r.Use(s.correlator)
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, errorf(http.StatusNotFound, codeNotFound, "no such resource: %s", truncate(r.URL.Path, 100)))
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, errorf(http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "%s is not allowed on %s", r.Method, truncate(r.URL.Path, 100)))
	})
	docs := OpenAPI()
	serveDoc := func(name string) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/yaml")
			_, _ = w.Write(docs[name])
		}
	}
	r.Get(BasePath+"/openapi.yaml", serveDoc("carrier-billing.yaml"))
	r.Get(RefundBasePath+"/openapi.yaml", serveDoc("carrier-billing-refund.yaml"))
	r.Get(SubscriptionsBasePath+"/openapi.yaml", serveDoc("subscriptions.yaml"))
	r.Group(func(r chi.Router) {
		r.Use(s.authenticate, s.signatures, s.rateLimit)
		r.Route(BasePath+"/payments", func(r chi.Router) {
			r.Post("/", s.createPayment)
			r.Get("/", s.listPayments)
			r.Post("/prepare", s.preparePayment)
			r.Get("/{paymentId}", s.getPayment)
			r.Post("/{paymentId}/validate", s.validatePayment)
			r.Post("/{paymentId}/confirm", s.confirmPayment)
			r.Post("/{paymentId}/cancel", s.cancelPayment)
		})
		r.Route(SubscriptionsBasePath+"/subscriptions", func(r chi.Router) {
			r.Get("/", s.listSubscriptions)
			r.Get("/{subscriptionId}", s.getSubscription)
			r.Post("/{subscriptionId}/cancel", s.cancelSubscription)
		})
		r.Route(RefundBasePath+"/payments/{paymentId}/refunds", func(r chi.Router) {
			r.Post("/", s.createRefund)
			r.Get("/", s.listRefunds)
			r.Get("/remaining-amount", s.remainingAmount)
			r.Get("/{refundId}", s.getRefund)
		})
	})
	return r
}

var correlatorPattern = regexp.MustCompile(`^[a-zA-Z0-9-_:;./<>{}]{0,256}$`)

// correlator echoes the x-correlator header (CAMARA) when it is well
// formed; a malformed one is refused.
func (s *Server) correlator(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := r.Header.Get("x-correlator")
		if c != "" {
			if !correlatorPattern.MatchString(c) {
				writeError(w, invalid("x-correlator", "must match %s", correlatorPattern))
				return
			}
			w.Header().Set("x-correlator", c)
		}
		next.ServeHTTP(w, r)
	})
}

type merchantCtxKey struct{}

// merchantOf is the authenticated merchant of a request.
func merchantOf(r *http.Request) billing.Merchant {
	m, _ := r.Context().Value(merchantCtxKey{}).(billing.Merchant)
	return m
}

// authenticate finds the merchant of the request's key: Authorization:
// Bearer cbk_… (the keys of `carrierbill merchant key issue`).
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		scheme, key, ok := strings.Cut(auth, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(key) == "" {
			writeError(w, errorf(http.StatusUnauthorized, codeUnauthenticated, "Authorization: want Bearer and the merchant's API key"))
			return
		}
		code, err := s.o.Keys.MerchantForKey(r.Context(), merchantkey.HashKey(strings.TrimSpace(key)))
		if errors.Is(err, merchantkey.ErrUnknownKey) {
			writeError(w, errorf(http.StatusUnauthorized, codeUnauthenticated, "Authorization: the API key is unknown or revoked"))
			return
		}
		if err != nil {
			s.internal(w, "looking up an API key", err)
			return
		}
		m, ok := s.e.Merchant(code)
		if !ok {
			writeError(w, errorf(http.StatusForbidden, codePermissionDenied, "merchant %s of this key is not configured", code))
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), merchantCtxKey{}, m)))
	})
}

// rateLimit allows Rate.Requests per Rate.Period per merchant (GCRA in
// Redis through redis_rate). Like every frequency rule it fails closed: when
// the limiter cannot answer, the request is refused with 503.
func (s *Server) rateLimit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.o.Limiter == nil || s.o.Rate.Requests <= 0 {
			next.ServeHTTP(w, r)
			return
		}
		m := merchantOf(r)
		d, err := s.o.Limiter.Allow(r.Context(), billing.Rule{Name: "api_requests", Limit: s.o.Rate.Requests, Period: s.o.Rate.Period}, "merchant:"+m.Code)
		if err != nil {
			s.log.Error("API rate limiter unavailable; refusing", "merchant", m.Code, "err", err)
			writeError(w, errorf(http.StatusServiceUnavailable, "UNAVAILABLE", "the service is busy; try again"))
			return
		}
		if !d.Allowed {
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(d.RetryAfter.Seconds()))))
			writeError(w, errorf(http.StatusTooManyRequests, codeTooManyRequests, "rate limit of %d requests per %s reached for merchant %s", s.o.Rate.Requests, s.o.Rate.Period, m.Code))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// internal answers 500 and logs what failed (never the request body).
func (s *Server) internal(w http.ResponseWriter, what string, err error) {
	s.log.Error("merchant API: "+what, "err", err)
	writeError(w, errorf(http.StatusInternalServerError, "INTERNAL", "internal error while %s; retry with the same clientCorrelator", what))
}

// fail answers err: an *apiError as it is, anything else 500.
func (s *Server) fail(w http.ResponseWriter, what string, err error) {
	var ae *apiError
	if errors.As(err, &ae) {
		writeError(w, ae)
		return
	}
	s.internal(w, what, err)
}
