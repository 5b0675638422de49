package ops

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/smpp"
)

// Metrics is the gateway's Prometheus exporter. It implements
// billing.Observer and smpp.Observer (events, counted as they happen) and
// collects on scrape what is a level (bind state, window, PDU counts from
// smpp's Stats; the backlog from the store). Every name follows
// Prometheus's conventions: carrierbill_ prefix, units in the name,
// _total on counters, histograms for latencies, gauges for levels. The
// README's operations section lists them all.
type Metrics struct {
	Registry *prometheus.Registry

	requests      *prometheus.CounterVec
	payments      *prometheus.CounterVec
	chargeSeconds *prometheus.HistogramVec
	sweeps        *prometheus.CounterVec
	sweepResolved *prometheus.CounterVec
	moReceived    *prometheus.CounterVec
	moProcessed   *prometheus.CounterVec
	mtSent        *prometheus.CounterVec
	receipts      *prometheus.CounterVec
	redisErrors   prometheus.Counter
	dbErrors      *prometheus.CounterVec
	moAck         *prometheus.HistogramVec
	throttles     *prometheus.CounterVec
	jobRuns       *prometheus.CounterVec
	jobSeconds    *prometheus.HistogramVec
}

var (
	_ billing.Observer = (*Metrics)(nil)
	_ smpp.Observer    = (*Metrics)(nil)
)

// Sources are what Metrics reads on scrape; nil fields are not collected.
type Sources struct {
	// Binds is the SMPP client's Stats.
	Binds func() []smpp.BindStats
	// Backlog reads the store's levels; Now is the clock ages are
	// measured on.
	Backlog billing.BacklogReader
	Now     func() time.Time
	// Notifications reads the merchant notifications outbox: how many wait
	// to be delivered, and how many of those failed their last delivery
	// (nil: the metrics are absent).
	Notifications func(ctx context.Context) (pending, failed int64, err error)
	// Verify reads the latest scheduled run of the invariant checks
	// (carrierbill verify; nil when verify.every is 0).
	Verify func() VerifyStatus
}

// VerifyStatus is what the metrics show of the invariant checks.
type VerifyStatus struct {
	Runs       int
	At         time.Time
	Violations int
	Failed     bool // the latest run could not finish
}

// latencyBuckets span a fast local store (1 ms) to a slow OCS (10 s).
var latencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// NewMetrics registers every metric (and Go's and the process's own) on a
// new registry.
func NewMetrics(src Sources) *Metrics {
	r := prometheus.NewRegistry()
	m := &Metrics{Registry: r}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
		r.MustRegister(v)
		return v
	}
	hist := func(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
		v := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
		r.MustRegister(v)
		return v
	}
	m.requests = counter("carrierbill_requests_total", "Requests of the billing engine's typed API by request, outcome and reason.", "request", "outcome", "reason")
	m.payments = counter("carrierbill_payments_total", "Payment attempts (confirmations and merchant charges) by outcome (charged, pending, rejected, error) and reason.", "outcome", "reason")
	m.chargeSeconds = hist("carrierbill_charge_duration_seconds", "Time of one debit at the charger, by charger and outcome (ok, declined, unknown).", latencyBuckets, "charger", "outcome")
	m.sweeps = counter("carrierbill_sweeps_total", "Engine sweeps run, by sweep (expiry, recovery, hold_expiry) and result (ok, error).", "sweep", "result")
	m.sweepResolved = counter("carrierbill_sweep_resolved_total", "Orders expired, charges recovered and holds refused by the sweeps.", "sweep")
	m.moReceived = counter("carrierbill_mo_received_total", "MOs taken from the SMSC by bind and result (stored: acknowledged; failed: answered 0x64 for redelivery).", "bind", "result")
	m.moProcessed = counter("carrierbill_mo_processed_total", "Stored MOs handled by the SMS channel, by result (ok, error: retried).", "result")
	m.mtSent = counter("carrierbill_mt_sent_total", "Outbox MTs submitted to the SMSC, by result (ok, error: retried).", "result")
	m.receipts = counter("carrierbill_delivery_receipts_total", "Delivery receipts received, by state (DELIVRD, UNDELIV, ...) and result (stored, error).", "state", "result")
	m.redisErrors = prometheus.NewCounter(prometheus.CounterOpts{Name: "carrierbill_redis_errors_total", Help: "Frequency-rule calls Redis could not answer (the engine failed closed)."})
	r.MustRegister(m.redisErrors)
	m.dbErrors = counter("carrierbill_database_errors_total", "Database operations that failed, by operation (request, mo_store, receipt_store, backlog, outbox, health).", "op")
	m.moAck = hist("carrierbill_smpp_mo_ack_duration_seconds", "Time from reading a deliver_sm to writing its response (the MO stored first), by bind.", latencyBuckets, "bind")
	m.throttles = counter("carrierbill_smpp_throttled_total", "submit_sm answered ESME_RTHROTTLED or ESME_RMSGQFUL, by bind.", "bind")
	m.jobRuns = counter("carrierbill_job_runs_total", "Nightly job runs (settlement statements and bills, reports) by job and result (ok, error).", "job", "result")
	m.jobSeconds = hist("carrierbill_job_duration_seconds", "Duration of one nightly job run, by job.", []float64{.1, .5, 1, 5, 15, 60, 300, 900, 3600}, "job")
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if src.Binds != nil {
		r.MustRegister(bindCollector{stats: src.Binds})
	}
	if src.Verify != nil {
		r.MustRegister(verifyCollector{src.Verify})
	}
	if src.Backlog != nil || src.Notifications != nil {
		if src.Now == nil {
			src.Now = time.Now
		}
		r.MustRegister(&backlogCollector{src: src, dbErrors: m.dbErrors})
	}
	return m
}

// domainError reports an error that is the request's, not the database's.
func domainError(err error) bool {
	for _, e := range []error{billing.ErrBadRequest, billing.ErrIdempotencyConflict, billing.ErrNotCancellable,
		billing.ErrNotFound, billing.ErrNotRefundable, billing.ErrRefundTooLarge, context.Canceled} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// Request implements billing.Observer.
func (m *Metrics) Request(kind billing.RequestKind, res billing.Result, err error) {
	outcome, reason := string(res.Outcome), string(res.Reason)
	if err != nil {
		outcome, reason = "error", ""
		if !domainError(err) {
			m.dbErrors.WithLabelValues("request").Inc()
		}
	}
	m.requests.WithLabelValues(string(kind), outcome, reason).Inc()
	if kind == billing.RequestConfirm || kind == billing.RequestCharge {
		m.payments.WithLabelValues(outcome, reason).Inc()
	}
}

// Debit implements billing.Observer.
func (m *Metrics) Debit(charger string, outcome billing.DebitOutcome, _ billing.Reason, d time.Duration) {
	m.chargeSeconds.WithLabelValues(charger, string(outcome)).Observe(d.Seconds())
}

// Sweep implements billing.Observer.
func (m *Metrics) Sweep(kind string, n int, err error) {
	m.sweeps.WithLabelValues(kind, result(err)).Inc()
	m.sweepResolved.WithLabelValues(kind).Add(float64(n))
}

// MOProcessed implements billing.Observer.
func (m *Metrics) MOProcessed(err error) { m.moProcessed.WithLabelValues(result(err)).Inc() }

// LimiterError implements billing.Observer.
func (m *Metrics) LimiterError(error) { m.redisErrors.Inc() }

// MOAcked implements smpp.Observer.
func (m *Metrics) MOAcked(bind string, d time.Duration) {
	m.moAck.WithLabelValues(bind).Observe(d.Seconds())
}

// Throttled implements smpp.Observer.
func (m *Metrics) Throttled(bind string) { m.throttles.WithLabelValues(bind).Inc() }

// MOReceived counts one MO taken from bind: stored (err nil) or not.
func (m *Metrics) MOReceived(bind string, err error) {
	r := "stored"
	if err != nil {
		r = "failed"
		m.dbErrors.WithLabelValues("mo_store").Inc()
	}
	m.moReceived.WithLabelValues(bind, r).Inc()
}

// Receipt counts one delivery receipt of state: stored (err nil) or not.
func (m *Metrics) Receipt(state string, err error) {
	r := "stored"
	if err != nil {
		r = "error"
		m.dbErrors.WithLabelValues("receipt_store").Inc()
	}
	m.receipts.WithLabelValues(state, r).Inc()
}

// MTSent counts one outbox MT handed to the SMSC.
func (m *Metrics) MTSent(err error) { m.mtSent.WithLabelValues(result(err)).Inc() }

// JobRun counts one nightly job run (settlement.Config.Observe).
func (m *Metrics) JobRun(job string, took time.Duration, err error) {
	m.jobRuns.WithLabelValues(job, result(err)).Inc()
	m.jobSeconds.WithLabelValues(job).Observe(took.Seconds())
}

// DatabaseError counts a failed database operation op seen outside the
// engine (a health check).
func (m *Metrics) DatabaseError(op string) { m.dbErrors.WithLabelValues(op).Inc() }

func result(err error) string {
	if err != nil {
		return "error"
	}
	return "ok"
}

// bindCollector turns smpp's Stats into metrics on scrape.
type bindCollector struct{ stats func() []smpp.BindStats }

var (
	descBindUp       = prometheus.NewDesc("carrierbill_smpp_bind_up", "1 when the bind's link is bound, else 0.", []string{"bind", "role"}, nil)
	descBindState    = prometheus.NewDesc("carrierbill_smpp_bind_state", "The link's state: 1 on its current state (idle, connecting, bound, backoff, unbinding, suspended, closed).", []string{"bind", "role", "state"}, nil)
	descBinds        = prometheus.NewDesc("carrierbill_smpp_binds_total", "Successful binds of the link.", []string{"bind", "role"}, nil)
	descReconnects   = prometheus.NewDesc("carrierbill_smpp_reconnects_total", "Reconnection attempts of the link.", []string{"bind", "role"}, nil)
	descPDUs         = prometheus.NewDesc("carrierbill_smpp_pdus_total", "PDUs by direction (in, out), command and command_status.", []string{"bind", "role", "direction", "command", "status"}, nil)
	descWindowUsed   = prometheus.NewDesc("carrierbill_smpp_window_used", "Requests awaiting their response on the link.", []string{"bind", "role"}, nil)
	descWindowSize   = prometheus.NewDesc("carrierbill_smpp_window_size", "The link's window.", []string{"bind", "role"}, nil)
	descPartialMOs   = prometheus.NewDesc("carrierbill_smpp_partial_mos", "Incomplete multipart MOs held in memory by the bind.", []string{"bind", "role"}, nil)
	bindStates       = []string{"idle", "connecting", "bound", "backoff", "unbinding", "suspended", "closed"}
	descMOBacklog    = prometheus.NewDesc("carrierbill_mo_backlog", "Stored MOs not processed yet.", nil, nil)
	descMOAge        = prometheus.NewDesc("carrierbill_mo_backlog_oldest_age_seconds", "Age of the oldest unprocessed MO (0 when none).", nil, nil)
	descOutbox       = prometheus.NewDesc("carrierbill_outbox_unsent", "MTs in the outbox not sent yet.", nil, nil)
	descOutboxAge    = prometheus.NewDesc("carrierbill_outbox_oldest_age_seconds", "Age of the oldest unsent MT (0 when none).", nil, nil)
	descPendCharges  = prometheus.NewDesc("carrierbill_charges_pending", "Charges reserved whose debit is not resolved yet (the recovery sweep's work).", nil, nil)
	descPendOrders   = prometheus.NewDesc("carrierbill_orders_pending", "Orders waiting for their confirmation code.", nil, nil)
	descNotifPending = prometheus.NewDesc("carrierbill_notifications_pending", "Merchant notifications waiting to be delivered.", nil, nil)
	descNotifFailed  = prometheus.NewDesc("carrierbill_notifications_failed", "Merchant notifications waiting whose last delivery failed (being retried).", nil, nil)
)

func (bindCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descBindUp, descBindState, descBinds, descReconnects, descPDUs, descWindowUsed, descWindowSize, descPartialMOs} {
		ch <- d
	}
}

func (c bindCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.stats() {
		up := 0.0
		if s.State == "bound" {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(descBindUp, prometheus.GaugeValue, up, s.Name, s.Role)
		for _, st := range bindStates {
			v := 0.0
			if st == s.State {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(descBindState, prometheus.GaugeValue, v, s.Name, s.Role, st)
		}
		ch <- prometheus.MustNewConstMetric(descBinds, prometheus.CounterValue, float64(s.Binds), s.Name, s.Role)
		ch <- prometheus.MustNewConstMetric(descReconnects, prometheus.CounterValue, float64(s.Reconnects), s.Name, s.Role)
		for _, p := range s.In {
			ch <- prometheus.MustNewConstMetric(descPDUs, prometheus.CounterValue, float64(p.Count), s.Name, s.Role, "in", commandLabel(p.Command), statusLabel(p.Status))
		}
		for _, p := range s.Out {
			ch <- prometheus.MustNewConstMetric(descPDUs, prometheus.CounterValue, float64(p.Count), s.Name, s.Role, "out", commandLabel(p.Command), statusLabel(p.Status))
		}
		ch <- prometheus.MustNewConstMetric(descWindowUsed, prometheus.GaugeValue, float64(s.WindowUsed), s.Name, s.Role)
		ch <- prometheus.MustNewConstMetric(descWindowSize, prometheus.GaugeValue, float64(s.WindowSize), s.Name, s.Role)
		ch <- prometheus.MustNewConstMetric(descPartialMOs, prometheus.GaugeValue, float64(s.PartialMessages), s.Name, s.Role)
	}
}

// commandLabel writes a command as SMPP 3.4 names it: "SubmitSMResp" →
// "submit_sm_resp", "GenericNACK" → "generic_nack".
func commandLabel(c string) string {
	if strings.HasPrefix(c, "0x") {
		return c
	}
	var b strings.Builder
	r := []rune(c)
	for i, ch := range r {
		up := ch >= 'A' && ch <= 'Z'
		if up && i > 0 {
			prevLower := r[i-1] >= 'a' && r[i-1] <= 'z'
			nextLower := i+1 < len(r) && r[i+1] >= 'a' && r[i+1] <= 'z'
			if prevLower || (nextLower && r[i-1] >= 'A' && r[i-1] <= 'Z') {
				b.WriteByte('_')
			}
		}
		if up {
			ch += 'a' - 'A'
		}
		b.WriteRune(ch)
	}
	return b.String()
}

// statusLabel writes a command_status as SMPP documents it: 0x00000058.
func statusLabel(st uint32) string {
	s := strconv.FormatUint(uint64(st), 16)
	for len(s) < 8 {
		s = "0" + s
	}
	return "0x" + s
}

// backlogCollector reads the store's levels on scrape (a few indexed
// counts, bounded by a timeout so a slow database cannot hold a scrape).
type backlogCollector struct {
	src      Sources
	dbErrors *prometheus.CounterVec
}

func (backlogCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descMOBacklog, descMOAge, descOutbox, descOutboxAge, descPendCharges, descPendOrders, descNotifPending, descNotifFailed} {
		ch <- d
	}
}

func (c *backlogCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if c.src.Backlog != nil {
		b, err := c.src.Backlog.Backlog(ctx, c.src.Now())
		if err != nil {
			c.dbErrors.WithLabelValues("backlog").Inc()
			ch <- prometheus.NewInvalidMetric(descMOBacklog, err)
		} else {
			gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
			gauge(descMOBacklog, float64(b.UnprocessedMOs))
			gauge(descMOAge, b.OldestMOAge.Seconds())
			gauge(descOutbox, float64(b.OutboxUnsent))
			gauge(descOutboxAge, b.OldestOutboxAge.Seconds())
			gauge(descPendCharges, float64(b.PendingCharges))
			gauge(descPendOrders, float64(b.PendingOrders))
		}
	}
	if c.src.Notifications != nil {
		pending, failed, err := c.src.Notifications(ctx)
		if err != nil {
			c.dbErrors.WithLabelValues("backlog").Inc()
			ch <- prometheus.NewInvalidMetric(descNotifPending, err)
			return
		}
		ch <- prometheus.MustNewConstMetric(descNotifPending, prometheus.GaugeValue, float64(pending))
		ch <- prometheus.MustNewConstMetric(descNotifFailed, prometheus.GaugeValue, float64(failed))
	}
}

// Snapshot sums each carrierbill_ counter over its labels, plus a few
// labelled totals the console shows as rates (payments_charged,
// mo_received_stored): the console computes rates from two snapshots.
func (m *Metrics) Snapshot() map[string]uint64 {
	out := map[string]uint64{}
	mfs, err := m.Registry.Gather()
	if err != nil {
		return out
	}
	for _, mf := range mfs {
		name := mf.GetName()
		if !strings.HasPrefix(name, "carrierbill_") || !strings.HasSuffix(name, "_total") {
			continue
		}
		short := strings.TrimSuffix(strings.TrimPrefix(name, "carrierbill_"), "_total")
		for _, mt := range mf.GetMetric() {
			v := uint64(mt.GetCounter().GetValue())
			out[short] += v
			for _, lp := range mt.GetLabel() {
				if (short == "payments" && lp.GetName() == "outcome") || (short == "mo_received" && lp.GetName() == "result") {
					out[short+"_"+lp.GetValue()] += v
				}
			}
		}
	}
	return out
}

var (
	descVerifyRuns       = prometheus.NewDesc("carrierbill_verify_runs_total", "Scheduled runs of the invariant checks (carrierbill verify).", nil, nil)
	descVerifyViolations = prometheus.NewDesc("carrierbill_verify_violations", "Violations the latest run found (each check reports at most 100); alert on > 0.", nil, nil)
	descVerifyFailed     = prometheus.NewDesc("carrierbill_verify_failed", "1 when the latest run could not finish (the store did not answer).", nil, nil)
	descVerifyLast       = prometheus.NewDesc("carrierbill_verify_last_run_timestamp_seconds", "When the latest run started (Unix time; 0 before the first).", nil, nil)
)

// verifyCollector shows the latest scheduled verify run.
type verifyCollector struct{ last func() VerifyStatus }

func (verifyCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descVerifyRuns
	ch <- descVerifyViolations
	ch <- descVerifyFailed
	ch <- descVerifyLast
}

func (c verifyCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.last()
	failed, at := 0.0, 0.0
	if st.Failed {
		failed = 1
	}
	if !st.At.IsZero() {
		at = float64(st.At.UnixNano()) / 1e9
	}
	ch <- prometheus.MustNewConstMetric(descVerifyRuns, prometheus.CounterValue, float64(st.Runs))
	ch <- prometheus.MustNewConstMetric(descVerifyViolations, prometheus.GaugeValue, float64(st.Violations))
	ch <- prometheus.MustNewConstMetric(descVerifyFailed, prometheus.GaugeValue, failed)
	ch <- prometheus.MustNewConstMetric(descVerifyLast, prometheus.GaugeValue, at)
}
