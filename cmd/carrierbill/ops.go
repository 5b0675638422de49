package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/internal/httpserver"
	"github.com/carrierbill/carrierbill/ops"
	"github.com/carrierbill/carrierbill/smpp"
)

// The operations wiring of the gateway (issue 16): the metrics observer
// handed to the engine, the SMPP client and settlement; the operator's
// actions; the operations endpoint on ops.listen. Everything here is
// wiring: what it counts and serves lives in package ops.

// newGatewayMetrics builds the exporter whose scrape-time sources read g's
// parts as they are when scraped (the SMPP client exists only after the
// engine).
func newGatewayMetrics(g *Gateway) *ops.Metrics {
	return ops.NewMetrics(ops.Sources{
		Binds: func() []smpp.BindStats {
			if g.SMPP == nil {
				return nil
			}
			return g.SMPP.Stats()
		},
		Backlog:       g.stores.Backlog,
		Now:           g.Clock.Now,
		Notifications: g.Store.NotificationBacklog,
		Verify: func() ops.VerifyStatus {
			st := g.Verify.Last() // nil-safe: zero before verify runs or when off
			return ops.VerifyStatus{Runs: st.Runs, At: st.At, Violations: st.Violations, Failed: st.Err != nil}
		},
	})
}

// newOperator builds the operator's actions on g (the SMPP client and the
// phone are added by startOps in serve).
func newOperator(g *Gateway, lv *slog.LevelVar) *ops.Operator {
	plan := g.Config.Numbering.Plan()
	return &ops.Operator{
		Engine: g.Engine, Search: g.stores.Search, Backlog: g.stores.Backlog,
		Accounts: g.stores.Accounts, AccountStatus: g.stores.AccountStatus,
		LogLevel: lv, MTs: g.stores.MTs,
		Normalize: func(raw string) (string, error) { return plan.Normalize(raw, 0, 0) },
		Clock:     g.Clock, Log: g.Log.With("component", "operator"),
	}
}

// startOps serves the operations endpoint on ops.listen: /metrics,
// /healthz, /readyz without a token; the operator API and the console with
// the admin token ($CARRIERBILL_ADMIN_TOKEN).
func startOps(g *Gateway, o GatewayOptions) error {
	g.Operator.Binds = g.SMPP
	g.Operator.Phone = func(ctx context.Context, mo billing.InboundMO) error {
		if err := g.SMS.Accept(ctx, mo); err != nil {
			return err
		}
		g.Metrics.MOReceived(mo.Bind, nil)
		return nil
	}
	listen := g.Config.Ops.Listen
	if listen == "" {
		return nil
	}
	token := o.AdminToken
	if token == "" {
		token = os.Getenv(envAdminToken)
	}
	if token == "" {
		g.Log.Warn("ops.listen is set but " + envAdminToken + " is not: /metrics and the health checks are served, the operator API and the console answer 503")
	}
	health := &ops.Health{Checks: gatewayChecks(g)}
	so := ops.ServerOptions{Metrics: g.Metrics, Health: health, Token: token, Operator: g.Operator,
		Reports: g.reportService(), Logger: g.Log.With("component", "ops")}
	if token != "" { // the console's risk view reads and acts through it
		risk, err := riskAdmin(g, token)
		if err != nil {
			return err
		}
		so.Risk = risk
	}
	h := ops.NewServer(so)
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("ops.listen: %w", err)
	}
	srv := httpserver.New(h, o.HTTPTimeouts)
	g.OpsAddr = ln.Addr().String()
	g.servers = append(g.servers, srv)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			g.Log.Error("operations endpoint stopped", "err", err)
		}
	}()
	g.closers = append(g.closers, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(ctx)
	})
	g.Log.Info("operations endpoint: /metrics, /healthz, /readyz, /admin/, /console/", "addr", g.OpsAddr)
	return nil
}

// gatewayChecks are /readyz's checks: the database, Redis (the frequency
// rules fail closed without it) and at least one SMPP bind up.
func gatewayChecks(g *Gateway) []ops.Check {
	return []ops.Check{
		{Name: "database", Fn: func(ctx context.Context) (string, error) {
			if err := g.stores.Ping(ctx); err != nil {
				g.Metrics.DatabaseError("health")
				return g.stores.Description, err
			}
			return g.stores.Description, nil
		}},
		{Name: "redis", Fn: func(ctx context.Context) (string, error) {
			return g.stores.LimiterDescription, g.stores.PingLimiter(ctx)
		}},
		{Name: "smpp", Fn: func(context.Context) (string, error) {
			up, total := 0, 0
			for _, s := range g.SMPP.Stats() {
				total++
				if s.State == "bound" {
					up++
				}
			}
			detail := fmt.Sprintf("%d of %d links bound", up, total)
			if up == 0 {
				return detail, errors.New("no SMPP bind is up")
			}
			return detail, nil
		}},
	}
}

// observedConsumer counts the MOs and receipts the binds hand over.
type observedConsumer struct {
	smpp.Consumer
	m *ops.Metrics
}

func (c observedConsumer) ConsumeMO(ctx context.Context, mo smpp.MO) error {
	err := c.Consumer.ConsumeMO(ctx, mo)
	c.m.MOReceived(mo.Bind, err)
	return err
}

func (c observedConsumer) ConsumeReceipt(ctx context.Context, r smpp.DeliveryReceipt) error {
	err := c.Consumer.ConsumeReceipt(ctx, r)
	c.m.Receipt(r.State, err)
	return err
}

// observedSender counts the MTs the outbox hands the SMSC.
type observedSender struct {
	billing.Sender
	m *ops.Metrics
}

func (s observedSender) Send(ctx context.Context, m billing.OutboundSMS) ([]billing.SentPart, error) {
	parts, err := s.Sender.Send(ctx, m)
	s.m.MTSent(err)
	return parts, err
}

// observeCardCharger times the bank's debits like the phone account's (nil
// when card payments are off).
func observeCardCharger(c billing.Charger, m *ops.Metrics) billing.Charger {
	if c == nil {
		return nil
	}
	return billing.ObserveCharger("bank", c, m)
}

// chargerName labels the charger's latency metrics: ocs, accounts, or
// "custom" for one a test passed.
func chargerName(g *Gateway) string {
	switch {
	case g.OCS != nil:
		return "ocs"
	case g.Config != nil:
		return "accounts"
	}
	return "custom"
}
