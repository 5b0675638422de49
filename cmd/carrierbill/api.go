package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/carrierbill/carrierbill/config"
	"github.com/carrierbill/carrierbill/internal/httpserver"
	"github.com/carrierbill/carrierbill/merchantapi"
)

// envNotifyKey is the secret the merchants' notification secrets are
// derived from (merchantapi.MerchantSecret); like every secret it comes
// from the environment only.
const envNotifyKey = "CARRIERBILL_NOTIFY_KEY"

// notifyKey is the notification key of o or the environment ("" when none).
func notifyKey(o GatewayOptions) []byte {
	if len(o.NotifyKey) > 0 {
		return o.NotifyKey
	}
	return []byte(os.Getenv(envNotifyKey))
}

// apiNotifier is the engine's event hook: it writes the merchant API's rows
// and notifications in every gateway, with the API on or off, so that an
// SMS confirmation handled by any process notifies the merchant.
func apiNotifier(c *config.Config, g *Gateway) *merchantapi.Notifier {
	return merchantapi.NewNotifier(c.API.PublicURL, g.Clock)
}

// riskAlerts is the engine's decision hook: the operator's risk alerts to
// risk.alert_webhook through the notification outbox (none without it).
func riskAlerts(c *config.Config, g *Gateway) *merchantapi.RiskAlerts {
	return merchantapi.NewRiskAlerts(c.API.PublicURL, c.Risk.AlertWebhook, g.Clock)
}

// startMerchantAPI starts the notification dispatcher (whenever the
// notification key is set) and, with api.listen, the merchant API.
func startMerchantAPI(g *Gateway, c *config.Config, log *slog.Logger, o GatewayOptions) error {
	key := notifyKey(o)
	if len(key) > 0 && len(key) < 16 {
		return fmt.Errorf("%s has %d bytes, want at least 16", envNotifyKey, len(key))
	}
	// The dispatcher delivers the merchants' notifications and the
	// operator's risk alerts (risk.alert_webhook, signed with
	// risk.alert_secret).
	if len(key) > 0 || c.Risk.AlertWebhook != "" {
		client := o.NotifyClient
		if client == nil {
			client = &http.Client{Timeout: c.API.NotifyTimeout.D(),
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		}
		g.Notifications = &merchantapi.Dispatcher{Store: g.Store, Clock: g.Clock, Client: client, Logger: log.With("component", "notifications"),
			OperatorSecret: []byte(c.Risk.AlertSecret)}
		if len(key) > 0 {
			g.Notifications.Secret = func(m string) []byte { return merchantapi.MerchantSecret(key, m) }
		}
	}
	if c.API.Listen == "" {
		return nil
	}
	if len(key) == 0 {
		return fmt.Errorf("api.listen is set but %s is not: merchants' notifications could not be signed (set 16 or more random bytes)", envNotifyKey)
	}
	merchants := map[string]merchantapi.MerchantOptions{}
	for _, m := range c.API.ConfirmWithoutCode {
		merchants[m] = merchantapi.MerchantOptions{ConfirmWithoutCode: true}
	}
	for _, m := range c.API.SignedRequests {
		mo := merchants[m]
		mo.SignedRequests = true
		merchants[m] = mo
	}
	plan := c.Numbering.Plan()
	api, err := merchantapi.New(merchantapi.Options{
		Engine: g.Engine, Keys: g.stores.Keys, Limiter: g.stores.Limiter,
		Rate:      merchantapi.Rate{Requests: *c.API.RateLimit, Period: c.API.RatePeriod.D()},
		Merchants: merchants, Logger: log.With("component", "merchant-api"),
		Secret:    func(m string) []byte { return merchantapi.MerchantSecret(key, m) },
		Normalize: func(raw string) (string, error) { return plan.Normalize(raw, 0, 0) },
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", c.API.Listen)
	if err != nil {
		return fmt.Errorf("api.listen: %w", err)
	}
	srv := httpserver.New(api, o.HTTPTimeouts)
	g.API, g.APIAddr = api, ln.Addr().String()
	g.servers = append(g.servers, srv)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("merchant API stopped", "err", err)
		}
	}()
	g.closers = append(g.closers, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(ctx)
	})
	log.Info("merchant API (CAMARA Carrier Billing v0.5, Refund v0.3)", "addr", g.APIAddr,
		"openapi", "http://"+g.APIAddr+merchantapi.BasePath+"/openapi.yaml")
	return nil
}

// runNotifications delivers merchant notifications until ctx ends.
func (g *Gateway) runNotifications(ctx context.Context) error {
	if g.Notifications == nil {
		return nil
	}
	return g.Notifications.Run(ctx, g.Config.API.NotifyPoll.D())
}

// merchantSecret prints a merchant's notification secret, derived from
// $CARRIERBILL_NOTIFY_KEY, for the operator to hand to the merchant.
func merchantSecret(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newVerbFlagSet("carrierbill merchant secret", "--merchant M",
		"Print the secret merchant M verifies the "+merchantapi.SignatureHeader+" of its notifications with (HMAC-SHA256 over \"<t>.<body>\"). It is derived from $"+envNotifyKey+": changing that key rotates every merchant's secret.", stderr)
	merchant := fs.String("merchant", "", "merchant code (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *merchant == "" || fs.NArg() > 0 {
		return fmt.Errorf("%w: merchant secret needs --merchant M and nothing else", errUsage)
	}
	key := []byte(os.Getenv(envNotifyKey))
	if len(key) < 16 {
		return fmt.Errorf("%w: set %s (16 or more bytes, the same as serve's)", errUsage, envNotifyKey)
	}
	fmt.Fprintln(stdout, string(merchantapi.MerchantSecret(key, *merchant)))
	return nil
}
