package risk

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/carrierbill/carrierbill/billing"
	billingredis "github.com/carrierbill/carrierbill/billing/redis"
	"github.com/carrierbill/carrierbill/clock"
)

// DefaultTimeout bounds one Assess or Learn when Options.Timeout is zero.
const DefaultTimeout = 200 * time.Millisecond

// Balances tells a number's prepaid balance (prepaid_drain).
type Balances interface {
	// Balance returns msisdn's prepaid balance; ok is false when the number
	// has no prepaid balance to drain (unknown, postpaid). An error fails
	// Assess closed.
	Balance(ctx context.Context, msisdn string) (balance billing.Money, ok bool, err error)
}

// Options configure a Risk.
type Options struct {
	Rules Rules
	// KeyPrefix is put in front of every key, e.g. "carrierbill:risk:"; a
	// prefix per deployment (and per test) shares one Redis.
	KeyPrefix string
	// KeySalt keys the hash that hides numbers and prefixes in keys (a
	// secret per deployment, $CARRIERBILL_REDIS_KEY_SALT). Empty: an
	// unkeyed hash, which hides a number from a glance only.
	KeySalt []byte
	// Location is the operator's time zone (unusual_hours); nil: UTC.
	Location *time.Location
	// Balances, optional, tells prepaid balances; nil skips prepaid_drain.
	Balances Balances
	// Clock dates a check or an outcome that comes without At; nil: the
	// wall clock. The rules count by the At they are given.
	Clock clock.Clock
	// Timeout bounds each call; zero: DefaultTimeout.
	Timeout time.Duration
	// Logger gets a warning for every call that failed (never a number).
	Logger *slog.Logger
}

// Risk is billing.Risk on Redis. It is safe for concurrent use by any
// number of goroutines and processes sharing the Redis and the prefix.
type Risk struct {
	client   goredis.UniversalClient
	owned    bool
	rules    Rules
	prefix   string
	salt     []byte
	loc      *time.Location
	balances Balances
	clock    clock.Clock
	timeout  time.Duration
	log      *slog.Logger

	plans []plan // the enabled rules, in the order their findings are listed
	// Counters that depend on the rules' windows.
	wcHour, wcDay                       window
	numberBuys, merchantBuys, prefixBuy window
	burst, spend                        window
	drainSpend, drainCount              window
	outRecent, outUsual                 window
}

var _ billing.Risk = (*Risk)(nil)

// ErrContextTimeoutDisabled: New was given a client that ignores context
// deadlines, with which a hung Redis would hold a payment for the client's
// read timeout instead of Options.Timeout.
var ErrContextTimeoutDisabled = billingredis.ErrContextTimeoutDisabled

// New returns the rules on client (a single node, Sentinel or Cluster
// client built with ContextTimeoutEnabled). Close does not close client.
func New(client goredis.UniversalClient, o Options) (*Risk, error) {
	if err := billingredis.CheckClient(client); err != nil {
		return nil, err
	}
	if err := o.Rules.Validate(); err != nil {
		return nil, err
	}
	r := &Risk{client: client, rules: o.Rules, prefix: o.KeyPrefix, salt: o.KeySalt, loc: o.Location,
		balances: o.Balances, clock: o.Clock, timeout: o.Timeout, log: o.Logger}
	if r.loc == nil {
		r.loc = time.UTC
	}
	if r.clock == nil {
		r.clock = clock.Real{}
	}
	if r.timeout <= 0 {
		r.timeout = DefaultTimeout
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	rs := o.Rules
	r.wcHour = slotted("wc_h", time.Hour, 6)
	r.wcDay = window{name: "wc_d", width: hourSlot, slots: 24}
	r.numberBuys = slotted("buy_n", rs.NumberVelocity.Window, 6)
	r.merchantBuys = slotted("buy_m", rs.MerchantVelocity.Window, 6)
	r.prefixBuy = slotted("buy_p", rs.PrefixVelocity.Window, 6)
	r.burst = slotted("burst", rs.MerchantBurst.Window, 6)
	r.spend = window{name: "spend", width: hourSlot, slots: 24*rs.MerchantSpend.Days + 1}
	n := int(rs.PrepaidDrain.Window / drainSlot)
	r.drainSpend = window{name: "drain_fen", width: drainSlot, slots: n}
	r.drainCount = window{name: "drain_n", width: drainSlot, slots: n}
	// The outcome counters are read with each rate rule's own number of
	// slots; these slot counts only set the keys' lifetime.
	r.outRecent = window{width: outcomeSlot, slots: int(max(rs.FailureRate.Window, rs.RefundRate.Window) / outcomeSlot)}
	r.outUsual = window{width: daySlot, slots: max(rs.FailureRate.Days, rs.RefundRate.Days) + 1}
	r.plans = r.enabledPlans()
	return r, nil
}

// Open connects to the Redis a redis:// or rediss:// URL names (REDIS_URL,
// or the in-process Redis's address) with a client that honours
// Options.Timeout; Close closes it. Nothing is dialled before the first call.
func Open(url string, o Options) (*Risk, error) {
	t := o.Timeout
	if t <= 0 {
		t = DefaultTimeout
	}
	c, err := billingredis.NewClient(url, t)
	if err != nil {
		return nil, fmt.Errorf("risk: %w", err) // never the URL: it may hold a password
	}
	r, err := New(c, o)
	if err != nil {
		c.Close()
		return nil, err
	}
	r.owned = true
	return r, nil
}

// Close closes the client when Open made it.
func (r *Risk) Close() error {
	if !r.owned {
		return nil
	}
	if err := r.client.Close(); err != nil {
		return fmt.Errorf("risk: closing the Redis client: %w", err)
	}
	return nil
}

// Rules returns the rules r applies.
func (r *Risk) Rules() Rules { return r.rules }

// check is one RiskCheck with its subjects as they appear in keys.
type check struct {
	billing.RiskCheck
	number string // hash of the number
	prefix string // hash of the number's prefix
}

// judge reads what its rule queued, once the pipeline ran, and returns the
// rule's finding (nil: it did not fire). It may ask once more (a flag
// taken, a balance read) but only when the rule is about to fire.
type judge func(ctx context.Context) (*billing.RiskFinding, error)

// plan queues what a rule needs for c on p and returns its judge, or nil
// when the rule has nothing to say about c.
type plan func(ctx context.Context, p goredis.Pipeliner, c *check) judge

// Assess counts c and returns the findings of every rule that fired. Every
// rule's commands go in one pipeline: one Redis round trip per call (a rate
// rule that fires takes one more, its once-per-window flag; prepaid_drain
// about to fire reads Options.Balances). Any failure is an error and no
// verdict: the engine refuses with service_busy.
func (r *Risk) Assess(ctx context.Context, bc billing.RiskCheck) (billing.RiskVerdict, error) {
	if bc.Stage != billing.RiskPurchase && bc.Stage != billing.RiskConfirm {
		return billing.RiskVerdict{}, fmt.Errorf("risk: unknown stage %q", bc.Stage)
	}
	if bc.At.IsZero() {
		bc.At = r.clock.Now()
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	c := &check{RiskCheck: bc, number: r.hash(bc.MSISDN), prefix: r.hash(r.prefixOf(bc.MSISDN))}
	p := r.client.Pipeline()
	var judges []judge
	for _, plan := range r.plans {
		if j := plan(ctx, p, c); j != nil {
			judges = append(judges, j)
		}
	}
	if p.Len() > 0 {
		if _, err := p.Exec(ctx); err != nil {
			return billing.RiskVerdict{}, r.failed(ctx, "assessing", bc.Stage, err)
		}
	}
	var v billing.RiskVerdict
	for _, j := range judges {
		f, err := j(ctx)
		if err != nil {
			return billing.RiskVerdict{}, r.failed(ctx, "assessing", bc.Stage, err)
		}
		if f != nil {
			v.Findings = append(v.Findings, *f)
		}
	}
	return v, nil
}

// Learn counts an outcome: wrong codes per number, charges, failures and
// refunds per merchant, and a prepaid number's spend. One round trip.
func (r *Risk) Learn(ctx context.Context, o billing.RiskOutcome) error {
	at := o.At
	if at.IsZero() {
		at = r.clock.Now()
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	p := r.client.Pipeline()
	rs := r.rules
	merchantOutcome := func(kind string) {
		if o.Merchant == "" || !(rs.FailureRate.Enabled || rs.RefundRate.Enabled) {
			return
		}
		r.add(ctx, p, r.outcomes(r.outRecent, kind), o.Merchant, at, 1)
		r.add(ctx, p, r.outcomes(r.outUsual, kind), o.Merchant, at, 1)
	}
	switch o.Kind {
	case billing.RiskOutcomeWrongCode:
		if rs.WrongCodes.Enabled {
			n := r.hash(o.MSISDN)
			r.add(ctx, p, r.wcHour, n, at, 1)
			r.add(ctx, p, r.wcDay, n, at, 1)
		}
	case billing.RiskOutcomeCharged:
		merchantOutcome(outCharged)
		if rs.PrepaidDrain.Enabled && r.balances != nil && o.Method == billing.MethodPhone && o.Amount > 0 {
			n := r.hash(o.MSISDN)
			r.add(ctx, p, r.drainSpend, n, at, int64(o.Amount))
			r.add(ctx, p, r.drainCount, n, at, 1)
		}
	case billing.RiskOutcomeFailed:
		merchantOutcome(outFailed)
	case billing.RiskOutcomeRefunded:
		merchantOutcome(outRefunded)
	default:
		return fmt.Errorf("risk: unknown outcome %q", o.Kind)
	}
	if p.Len() == 0 {
		return nil
	}
	if _, err := p.Exec(ctx); err != nil {
		return r.failed(ctx, "learning "+string(o.Kind), "", err)
	}
	return nil
}

func (r *Risk) failed(ctx context.Context, doing string, stage billing.RiskStage, err error) error {
	r.log.WarnContext(ctx, "risk rules could not answer (an assessment fails closed)",
		slog.String("doing", doing), slog.String("stage", string(stage)), slog.String("error", err.Error()))
	return fmt.Errorf("risk: %s in Redis: %w", doing, err)
}

// hash is how a number or a prefix appears in keys (billing/redis.KeyHash:
// the keyed hash the frequency rules use too).
func (r *Risk) hash(v string) string { return billingredis.KeyHash(r.salt, r.prefix, v) }

// prefixOf is msisdn's prefix as the block list holds it: its first
// PrefixLength digits, after the plus when it has one.
func (r *Risk) prefixOf(msisdn string) string {
	plus := strings.HasPrefix(msisdn, "+")
	digits := strings.TrimPrefix(msisdn, "+")
	if n := r.rules.PrefixVelocity.PrefixLength; len(digits) > n {
		digits = digits[:n]
	}
	if plus {
		return "+" + digits
	}
	return digits
}
