package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/carrierbill/carrierbill/bank"
	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/billing/sqlite"
	"github.com/carrierbill/carrierbill/clock"
	"github.com/carrierbill/carrierbill/config"
	"github.com/carrierbill/carrierbill/internal/httpserver"
	"github.com/carrierbill/carrierbill/merchantapi"
	"github.com/carrierbill/carrierbill/ocs"
	"github.com/carrierbill/carrierbill/ops"
	"github.com/carrierbill/carrierbill/reports"
	"github.com/carrierbill/carrierbill/settlement"
	"github.com/carrierbill/carrierbill/smpp"
	"github.com/carrierbill/carrierbill/smpp/smsc"
	"github.com/carrierbill/carrierbill/sms"
	"github.com/carrierbill/carrierbill/stores"
	"github.com/carrierbill/carrierbill/subscriptions"
	"github.com/carrierbill/carrierbill/ussd"
	"github.com/carrierbill/carrierbill/verify"
)

// Gateway is the whole running program that `serve` starts: the store, the
// frequency-rule limiter, the billing engine and its workers, the outbox
// dispatcher, the SMPP binds (or the built-in SMSC simulator), the nightly
// settlement scheduler and the merchant download server. Tests boot it on
// port 0 in a temp dir exactly as serve does.
type Gateway struct {
	Config *config.Config
	Log    *slog.Logger
	Clock  clock.Clock

	Engine *billing.Engine
	// SMS is the SMS channel: the SMPP consumer, the MO grammar, the texts.
	SMS        *sms.Channel
	Store      billing.Store
	Dispatcher *billing.Dispatcher
	SMPP       *smpp.Client
	// Simulator is the built-in SMSC when no bind is configured; nil otherwise.
	Simulator *smsc.Server
	// SimulatorHTTPAddr is the address of the built-in simulator's HTTP
	// control endpoint (POST /mo, GET /mts), "" when off.
	SimulatorHTTPAddr string
	// DownloadAddr is the merchant download server's address, "" when off.
	DownloadAddr string
	// Cards is the operator side of bank cards and Bank the bank adapter;
	// both nil when card payments are off.
	Cards *billing.Cards
	Bank  bank.Adapter
	// AdminAddr is the card admin endpoint's address, "" when off.
	AdminAddr string
	// USSD is the USSD channel (nil when off) and USSDAddr its HTTP
	// callback's address ("" when off); see ussd.go.
	USSD     *ussd.Service
	USSDAddr string
	// Settlement runs the statements and bills on the open store (the
	// scheduler drives it nightly; the demo calls Generate by hand).
	Settlement *settlement.Runner
	// Verify runs the invariant checks every verify.every (nil when 0);
	// Verify.Last is the latest result (the metrics read it).
	Verify *verify.Scheduler
	// OCS is the Diameter charger when ocs.enabled; nil otherwise.
	OCS *ocs.Charger
	// Metrics is the Prometheus exporter, Operator the operator's actions,
	// LogLevel the running level, OpsAddr the operations endpoint's
	// address ("" when off); ops.go.
	Metrics  *ops.Metrics
	Refusals *ops.RecordRefusals
	Operator *ops.Operator
	LogLevel *slog.LevelVar
	OpsAddr  string
	// API is the merchant API (api.listen; nil when off) at APIAddr, and
	// Notifications the merchant notification dispatcher (nil without
	// $CARRIERBILL_NOTIFY_KEY); see api.go.
	API           *merchantapi.Server
	APIAddr       string
	Notifications *merchantapi.Dispatcher

	stores *stores.Set
	// pool and sqlite are the open store's handle (one of them nil), owned
	// by stores: tests query through them.
	texts     *sms.Texts
	pool      *pgxpool.Pool
	sqlite    *sqlite.Store
	scheduler *settlement.Scheduler
	renewals  *subscriptions.Scheduler
	reports   *reports.Nightly
	download  *http.Server
	servers   []*http.Server // every HTTP server started, for the hardening test
	closers   []func() error
}

// GatewayOptions are what tests and the demo change; serve leaves them zero.
type GatewayOptions struct {
	Clock clock.Clock // default clock.Real
	// SimulatorAddr is where the built-in SMSC simulator listens when no bind
	// is configured; default 127.0.0.1:2775 (tests pass 127.0.0.1:0).
	SimulatorAddr string
	// SimulatorHTTP is where the built-in simulator's HTTP control endpoint
	// (the one of `carrierbill smsc --http`) listens; "" serves none (serve
	// defaults it to 127.0.0.1:2776; tests pass 127.0.0.1:0).
	SimulatorHTTP string
	// SweepEvery is the engine's expiry/recovery sweep interval (default 5s).
	SweepEvery time.Duration
	// OutboxPoll is how often the dispatcher looks for due MTs (default 50ms).
	OutboxPoll time.Duration
	// Charger replaces the built-in phone-account charger (tests).
	Charger billing.Charger
	// CoreOnly opens the store, the limiter and the engine and nothing that
	// listens or dials (operator commands such as refund).
	CoreOnly bool
	// Bank is the bank adapter of card payments (tests pass a simulated
	// bank); nil: the built-in simulated bank.
	Bank bank.Adapter
	// CardKey and WalletPepper replace $CARRIERBILL_CARD_KEY and
	// $CARRIERBILL_WALLET_PEPPER (tests).
	CardKey, WalletPepper []byte
	// AdminToken replaces $CARRIERBILL_ADMIN_TOKEN (tests).
	AdminToken string
	// USSDSecret replaces $CARRIERBILL_USSD_SECRET (tests).
	USSDSecret string
	// BankKey replaces $CARRIERBILL_BANK_KEY (tests).
	BankKey []byte
	// HTTPTimeouts are the timeouts of every HTTP server (zero: the
	// httpserver defaults; tests shorten them).
	HTTPTimeouts httpserver.Timeouts
	// LogLevel is the level of log, changed at run time by the operator
	// (nil: a fixed level).
	LogLevel *slog.LevelVar
	// NotifyKey replaces $CARRIERBILL_NOTIFY_KEY and NotifyClient the
	// notification dispatcher's HTTP client (tests: a TLS test sink).
	NotifyKey    []byte
	NotifyClient *http.Client
}

// BillingConfig maps the YAML configuration onto the engine's.
func BillingConfig(c *config.Config) billing.Config {
	bc := billing.DefaultConfig()
	bc.ServiceCode = c.ServiceCode
	bc.Location = c.Location()
	bc.CodeValidity = c.Orders.CodeValidity.D()
	bc.MaxWrongCodes = c.Orders.MaxWrongCodes
	bc.RecoverAfter = c.Orders.RecoverAfter.D()
	bc.HoldExpiry = c.Risk.HoldExpiry.D()
	bc.Limits = map[billing.Method]billing.Limits{}
	for m, l := range c.Limits {
		bc.Limits[billing.Method(m)] = billing.Limits{PerPayment: l.PerPayment.Money, Daily: l.Daily.Money, Monthly: l.Monthly.Money}
	}
	bc.MinInterval = c.Frequency.MinInterval.D()
	bc.PurchasesPerHour = *c.Frequency.PurchasesPerHour
	bc.ConfirmationsPerOrder = *c.Frequency.ConfirmationsPerOrder
	bc.CardFrequency = cardFrequency(c, bc)
	bc.Merchants = nil
	for _, m := range c.Merchants {
		bm := billing.Merchant{Code: m.Code, Name: m.Name, OpenAmount: m.OpenAmount, MinAmount: m.MinAmount.Money, MaxAmount: m.MaxAmount.Money}
		for _, p := range m.Products {
			bm.Products = append(bm.Products, billing.Product{Keyword: p.Keyword, Name: p.Name, Amount: p.Amount.Money, Period: p.Period})
		}
		bc.Merchants = append(bc.Merchants, bm)
	}
	bc.MaxPendingOrders = *c.Orders.MaxPending
	bc.WrongCodesPerHour = *c.Orders.WrongCodesPerHour
	bc.WrongCodesPerDay = *c.Orders.WrongCodesPerDay
	bc.WrongCodesPerMonth = *c.Orders.WrongCodesPerMonth
	bc.Subscriptions = billing.SubscriptionRules{MaxFailures: c.Subscriptions.MaxFailures, RetryEvery: c.Subscriptions.RetryEvery.D(),
		ReminderDays: *c.Subscriptions.ReminderDays, ListValidity: c.Subscriptions.ListValidity.D()}
	return bc
}

// TextConfig maps the YAML configuration onto the SMS texts'.
func TextConfig(c *config.Config) sms.TextConfig {
	return sms.TextConfig{ServiceCode: c.ServiceCode, Location: c.Location(), Overrides: c.Texts,
		Hotline: c.SMS.Hotline, ExpiryNotice: c.SMS.ExpiryNotice}
}

// BindConfigs maps the configured binds onto the SMPP layer's.
func BindConfigs(c *config.Config) []smpp.BindConfig {
	var out []smpp.BindConfig
	for _, b := range c.SMSC.Binds {
		bc := smpp.BindConfig{
			Name: b.Name, Addr: b.Addr, SystemID: b.SystemID, Password: b.Password, SystemType: b.SystemType,
			AddrTON: byte(b.AddrTON), AddrNPI: byte(b.AddrNPI), Mode: smpp.ModeTransceiver,
			Window: b.Window, MaxPerSecond: b.MaxPerSecond,
			EnquireLink: b.EnquireLink.D(), EnquireLinkTimeout: b.EnquireLinkTimeout.D(), PartTimeout: b.PartTimeout.D(),
			Parts:        smpp.ReassemblyLimits{MaxPartBytes: b.PartMaxBytes, MaxSourceBytes: b.PartsMaxSourceBytes, MaxTotalBytes: b.PartsMaxBytes},
			StoreTimeout: b.StoreTimeout.D(),
		}
		if b.RegisteredDelivery != nil {
			bc.RegisteredDelivery = byte(*b.RegisteredDelivery)
		}
		if b.Mode == "transmitter+receiver" {
			bc.Mode = smpp.ModeTxRx
		}
		if b.TLS {
			bc.TLS = tlsConfig(b)
		}
		out = append(out, bc)
	}
	return out
}

// OpenGateway builds every part of the gateway from c without starting
// anything that talks to the SMSC or the merchants; Run starts them.
func OpenGateway(ctx context.Context, c *config.Config, log *slog.Logger, o GatewayOptions) (_ *Gateway, err error) {
	g := &Gateway{Config: c, Log: log, Clock: o.Clock, LogLevel: o.LogLevel}
	if g.Clock == nil {
		g.Clock = clock.Real{}
	}
	defer func() {
		if err != nil {
			g.Close()
		}
	}()

	// Store, charger and limiter: PostgreSQL and Redis when configured,
	// the embedded store and an in-process Redis otherwise.
	g.stores, err = stores.Open(ctx, StoreOptions(c, g.Clock, log))
	if err != nil {
		return nil, err
	}
	if len(g.stores.Applied) > 0 {
		log.Info("applied migrations", "versions", fmt.Sprint(g.stores.Applied))
	}
	log.Info("store: "+g.stores.Description, "frequency_rules", g.stores.LimiterDescription)
	if c.Redis.URL != "" && os.Getenv(envRedisKeySalt) == "" && !o.CoreOnly {
		log.Warn("Redis keys are hashed without a secret salt: set " + envRedisKeySalt + " (16 bytes or more) so that a Redis dump cannot be matched against a list of numbers")
	}
	g.Store, g.pool, g.sqlite = g.stores.Billing, g.stores.Pool, g.stores.Embedded
	g.Metrics = newGatewayMetrics(g)
	g.Refusals = ops.NewRefusalRecorder(g.stores.Refusals, g.Clock.Now, log.With("component", "refusals"))
	g.closers = append(g.closers, func() error { g.Refusals.Close(); return nil })
	charger := o.Charger
	if charger == nil {
		charger = g.stores.Accounts
	}
	if o.Charger == nil && c.OCS.Enabled { // the operator's OCS (ocscharger.go)
		if g.OCS, err = openOCS(c, g.Store, log); err != nil {
			return nil, err
		}
		g.closers = append(g.closers, g.OCS.Close)
		charger = g.OCS
	}
	rules, err := openRisk(g, c, o.Charger == nil && !c.OCS.Enabled, log) // riskrules.go
	if err != nil {
		return nil, err
	}
	charger = billing.ObserveCharger(chargerName(g), charger, g.Metrics)
	limiter := billing.ObserveLimiter(g.stores.Limiter, g.Metrics)

	if g.texts, err = sms.NewTexts(TextConfig(c)); err != nil {
		return nil, err
	}
	cw, err := openCards(g, c.ServiceCode, c.Numbering.Plan(), log, o)
	if err != nil {
		return nil, err
	}
	g.Cards, g.Bank = cw.cards, cw.bank
	// MOs of every bind share commits (issue 11); each is acknowledged
	// only once its batch committed.
	intake := billing.NewIntake(g.Store, billing.IntakeOptions{Logger: log.With("component", "intake")})
	g.closers = append(g.closers, func() error { intake.Close(); return nil })
	g.Engine, g.SMS, err = sms.NewEngine(billing.Options{
		Config: BillingConfig(c), Store: g.Store, Charger: charger, Limiter: limiter, Clock: g.Clock, Logger: log,
		CardCharger: observeCardCharger(cw.charger, g.Metrics), CardBank: cw.bank, Hasher: cw.hasher, Observer: ops.Observers{g.Metrics, g.Refusals},
		EventHook:    apiNotifier(c, g).Hook, // merchant API rows and notifications (api.go)
		DecisionHook: riskAlerts(c, g).Hook,  // the operator's risk alerts (api.go)
		Risk:         rules,
	}, TextConfig(c), sms.Options{Sealer: cw.sealer, Logger: log.With("component", "sms"), Intake: intake,
		Divert: func(ctx context.Context, mo billing.InboundMO) (billing.Result, bool, error) { // USSD answers (ussd.go)
			if g.USSD == nil {
				return billing.Result{}, false, nil
			}
			return g.USSD.Divert(ctx, mo)
		},
		Normalize: c.Numbering.Plan().Normalize,
		Receipts: func(ctx context.Context, r smpp.DeliveryReceipt) error {
			// Matched to the MT part it reports on; nil only once stored
			// (counted by observedConsumer).
			return g.Dispatcher.Receipt(ctx, billing.DeliveryReceipt{
				Bind: r.Bind, MessageID: r.MessageID, State: billing.DeliveryState(r.State), Err: r.Err, ReceivedAt: r.ReceivedAt,
			})
		}})
	if err != nil {
		return nil, err
	}
	g.Operator = newOperator(g, o.LogLevel)

	if err := openUSSD(g, c, cw, intake, log, o); err != nil {
		return nil, err
	}
	if o.CoreOnly {
		return g, nil
	}
	// SMPP: the configured binds, or the built-in simulator and one bind to it.
	binds := BindConfigs(c)
	if len(binds) == 0 {
		addr := o.SimulatorAddr
		if addr == "" {
			addr = "127.0.0.1:2775"
		}
		g.Simulator = smsc.New(smsc.Config{SystemID: "carrierbill", Password: "sim", Logger: log.With("component", "smsc-simulator"), AutoReceipt: true})
		if err := g.Simulator.Listen(addr); err != nil {
			return nil, fmt.Errorf("starting the built-in SMSC simulator on %s: %w", addr, err)
		}
		if err := startSimulatorHTTP(g, o.SimulatorHTTP); err != nil {
			return nil, err
		}
		log.Warn("no SMSC configured: started the built-in SMSC simulator (configure smsc.binds or CARRIERBILL_SMSC_ADDR for a real one)",
			"addr", g.Simulator.Addr(), "inject", simulatorHTTPHint(g.SimulatorHTTPAddr))
		binds = []smpp.BindConfig{{Name: "simulator", Addr: g.Simulator.Addr(), SystemID: "carrierbill", Password: "sim", RegisteredDelivery: 1}}
	}
	// The dispatcher sends the outbox through the binds and matches the
	// receipts they bring back; its Sender is set once the client exists.
	g.Dispatcher = &billing.Dispatcher{Store: g.Store, Clock: g.Clock, Logger: log.With("component", "outbox")}
	if cw.sealer != nil {
		g.Dispatcher.Unseal = cw.sealer.Open // the sealed initial-password MT (issue 18.3)
	}
	g.SMPP, err = smpp.NewClient(binds, observedConsumer{g.SMS, g.Metrics}, smpp.Options{Logger: log.With("component", "smpp"), Clock: g.Clock, Observer: g.Metrics, USSD: ussdConsumer(g)})
	if err != nil {
		return nil, err
	}
	g.Dispatcher.Sender = observedSender{smppSender{g.SMPP}, g.Metrics}
	if err := startCardAdmin(g, c.Admin.Listen, cw, log, o); err != nil {
		return nil, err
	}

	// Settlement: the nightly jobs and the download server, on whichever
	// store is open (the embedded one reads the same tables through SQLite).
	src := g.stores.Settlement
	g.Settlement, err = settlement.NewRunner(src, src, settlement.Config{
		Dir: c.StatementsDir(), Location: c.Location(), Terms: termsFromConfig(c), StartDate: c.Settlement.StartDate,
		Observe: g.Metrics.JobRun,
	}, g.Clock, log.With("component", "settlement"))
	if err != nil {
		return nil, err
	}
	g.scheduler, err = settlement.NewScheduler(g.Settlement, settlement.Schedules{
		Statements: c.Settlement.StatementSchedule, DailyBills: c.Settlement.DailyBillSchedule, MonthlyBills: c.Settlement.MonthlyBillSchedule,
	}, g.Clock, log.With("component", "settlement"))
	if err != nil {
		return nil, err
	}
	g.Verify = newVerifyScheduler(g) // issue 17
	g.renewals, err = subscriptions.NewScheduler(g.Engine, c.Subscriptions.Schedule, c.Location(), log.With("component", "subscriptions"))
	if err != nil {
		return nil, err
	}
	if c.Settlement.Listen != "" {
		ln, err := net.Listen("tcp", c.Settlement.Listen)
		if err != nil {
			return nil, fmt.Errorf("settlement.listen: %w", err)
		}
		g.DownloadAddr = ln.Addr().String()
		g.download = httpserver.New(settlement.NewDownloadServer(c.StatementsDir(), g.stores.Keys, g.Clock, log.With("component", "downloads")), o.HTTPTimeouts)
		g.servers = append(g.servers, g.download)
		go func() {
			if err := g.download.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("merchant download server stopped", "err", err)
			}
		}()
		log.Info("merchant download server", "addr", g.DownloadAddr)
	}
	if err := startMerchantAPI(g, c, log, o); err != nil {
		return nil, err
	}
	if err := startReports(g); err != nil {
		return nil, err
	}
	if err := startOps(g, o); err != nil {
		return nil, err
	}
	return g, nil
}

// Run starts the SMPP binds, the engine's workers, the outbox dispatcher and
// the settlement scheduler, and blocks until ctx ends. Then it stops taking
// MOs (unbind), lets the workers finish what they claimed and the dispatcher
// flush, and returns.
func (g *Gateway) Run(ctx context.Context, o GatewayOptions) error {
	if err := g.SMPP.Start(ctx); err != nil {
		return fmt.Errorf("starting SMPP: %w", err)
	}
	if g.scheduler != nil {
		g.scheduler.Start()
	}
	if g.Verify != nil {
		go g.Verify.Run(ctx, g.Config.Verify.Every.D()) //nolint:errcheck // ends with ctx
	}
	if g.renewals != nil {
		g.renewals.Start()
	}
	if g.reports != nil {
		if err := g.reports.Start(g.Config.Ops.ReportSchedule); err != nil {
			return err
		}
		defer g.reports.Stop()
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	wg.Add(4)
	go func() {
		defer wg.Done()
		if err := g.Engine.Run(ctx, o.SweepEvery); err != nil && !errors.Is(err, context.Canceled) {
			errs <- fmt.Errorf("engine sweeps: %w", err)
		}
	}()
	go func() {
		defer wg.Done()
		if err := g.SMS.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			errs <- fmt.Errorf("SMS channel: %w", err)
		}
	}()
	// The dispatcher outlives ctx by a little: receipts written by the
	// workers' last MOs still go out before the binds close.
	dctx, dcancel := context.WithCancel(context.WithoutCancel(ctx))
	defer dcancel()
	go func() {
		defer wg.Done()
		poll := o.OutboxPoll
		if poll == 0 {
			poll = 50 * time.Millisecond
		}
		if err := g.Dispatcher.Run(dctx, poll); err != nil && !errors.Is(err, context.Canceled) {
			errs <- fmt.Errorf("outbox: %w", err)
		}
	}()
	go func() {
		defer wg.Done()
		if err := g.runNotifications(ctx); err != nil && !errors.Is(err, context.Canceled) {
			errs <- fmt.Errorf("merchant notifications: %w", err)
		}
	}()
	g.Log.Info("carrierbill is serving", "service_code", g.Config.ServiceCode, "merchants", len(g.Config.Merchants))
	<-ctx.Done()
	g.Log.Info("stopping: finishing in-flight work")
	// Engine.Run returns once its workers finished what they claimed; then
	// give the dispatcher a bounded moment to send what they wrote.
	flush, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		n, err := g.Dispatcher.RunOnce(flush)
		if err != nil || n == 0 || flush.Err() != nil {
			break
		}
	}
	dcancel()
	wg.Wait()
	if g.scheduler != nil {
		_ = g.scheduler.Stop(flush)
	}
	if g.renewals != nil {
		_ = g.renewals.Stop(flush)
	}
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return errors.Join(all...)
}

// Close releases everything Open acquired. Safe to call more than once.
func (g *Gateway) Close() error {
	var errs []error
	for _, c := range g.closers {
		errs = append(errs, c())
	}
	g.closers = nil
	if g.download != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		errs = append(errs, g.download.Shutdown(ctx))
		cancel()
		g.download = nil
	}
	if g.SMPP != nil {
		errs = append(errs, g.SMPP.Close())
		g.SMPP = nil
	}
	if g.Simulator != nil {
		errs = append(errs, g.Simulator.Close())
		g.Simulator = nil
	}
	if g.stores != nil {
		errs = append(errs, g.stores.Close())
		g.stores, g.pool, g.sqlite = nil, nil, nil
	}
	return errors.Join(errs...)
}

// smppSender sends outbox MTs through the SMPP client and reports the
// message id and bind of each part.
type smppSender struct{ c *smpp.Client }

func (s smppSender) Send(ctx context.Context, m billing.OutboundSMS) ([]billing.SentPart, error) {
	// A canonical number is E.164 with a plus; submit_sm carries the digits.
	res, err := s.c.Submit(ctx, smpp.MT{From: m.From, To: strings.TrimPrefix(m.To, "+"), Text: m.Text})
	if err != nil {
		return nil, err
	}
	parts := make([]billing.SentPart, len(res.MessageIDs))
	for i, id := range res.MessageIDs {
		parts[i] = billing.SentPart{Bind: res.Binds[i], MessageID: id}
	}
	return parts, nil
}

func tlsConfig(b config.Bind) *tls.Config {
	host, _, _ := net.SplitHostPort(b.Addr)
	return &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12, InsecureSkipVerify: b.TLSSkipVerify} //nolint:gosec // operator's choice, off by default
}

// envRedisKeySalt is the secret that keys the hash of phone numbers in
// Redis keys (billing/redis); like every secret it comes from the
// environment only.
const envRedisKeySalt = "CARRIERBILL_REDIS_KEY_SALT"

// StoreOptions maps the configuration onto the store opener's options:
// every command opens its stores through stores.Open with them.
func StoreOptions(c *config.Config, clk clock.Clock, log *slog.Logger) stores.Options {
	return stores.Options{
		DatabaseURL: c.Database.URL, MaxConns: c.Database.MaxConns, DataDir: c.DataDir,
		Accounts: billing.AccountsOptions{AutoOpen: c.Accounts.AutoOpen, CreditLimit: c.Accounts.CreditLimit.Money},
		Limiter:  true, RedisURL: c.Redis.URL, RedisPrefix: c.Redis.Prefix, RedisTimeout: c.Redis.Timeout.D(),
		RedisKeySalt: []byte(os.Getenv(envRedisKeySalt)),
		Clock:        clk, Logger: log,
	}
}
