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

	"github.com/carrierbill/carrierbill/cardadmin"
	"github.com/carrierbill/carrierbill/internal/httpserver"
)

// envAdminToken is the bearer token of the card admin HTTP endpoint; the
// endpoint is not served without it.
const envAdminToken = "CARRIERBILL_ADMIN_TOKEN"

// startCardAdmin serves the card admin API (package cardadmin) on listen
// when card payments are on and the admin token is set; otherwise it says
// why not.
func startCardAdmin(g *Gateway, listen string, cw cardWiring, log *slog.Logger, o GatewayOptions) error {
	if listen == "" {
		return nil
	}
	if cw.cards == nil {
		log.Warn("admin.listen is set but bank-card payments are off: the card admin endpoint is not served")
		return nil
	}
	token := o.AdminToken
	if token == "" {
		token = os.Getenv(envAdminToken)
	}
	if token == "" {
		log.Warn("admin.listen is set but " + envAdminToken + " is not: the card admin endpoint is not served")
		return nil
	}
	plan := g.Config.Numbering.Plan()
	api, err := cardadmin.New(cardadmin.Options{
		Cards: cw.cards,
		Owners: cardadmin.OwnersFunc(func(ctx context.Context, msisdn, name, idNumber string) error {
			return cw.owners.SetOwner(ctx, cw.secrets, msisdn, name, idNumber)
		}),
		Token:  token,
		Logger: log.With("component", "card-admin"),
		// One subscriber, one number: the canonical E.164 form.
		Normalize: func(raw string) (string, error) { return plan.Normalize(raw, 0, 0) },
	})
	if err != nil {
		return fmt.Errorf("%s: %w", envAdminToken, err)
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("admin.listen: %w", err)
	}
	srv := httpserver.New(api, o.HTTPTimeouts)
	g.AdminAddr = ln.Addr().String()
	g.servers = append(g.servers, srv)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("card admin endpoint stopped", "err", err)
		}
	}()
	g.closers = append(g.closers, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(ctx)
	})
	log.Info("card admin endpoint", "addr", g.AdminAddr)
	return nil
}
