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
	"github.com/carrierbill/carrierbill/riskadmin"
)

// envAdminToken is the bearer token of the admin HTTP endpoint (cards and
// risk) and of the operator API; neither is served without it.
const envAdminToken = "CARRIERBILL_ADMIN_TOKEN"

// startCardAdmin serves the admin API on listen when the admin token is
// set: the card admin API (package cardadmin) when card payments are on,
// and the risk admin API (package riskadmin, /admin/risk/); otherwise it
// says why not.
func startCardAdmin(g *Gateway, listen string, cw cardWiring, log *slog.Logger, o GatewayOptions) error {
	if listen == "" {
		return nil
	}
	token := o.AdminToken
	if token == "" {
		token = os.Getenv(envAdminToken)
	}
	if token == "" {
		log.Warn("admin.listen is set but " + envAdminToken + " is not: the admin endpoint is not served")
		return nil
	}
	mux := http.NewServeMux()
	if cw.cards == nil {
		log.Warn("admin.listen is set but bank-card payments are off: the card admin endpoint is not served")
	} else {
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
		mux.Handle("/", api)
	}
	risk, err := riskAdmin(g, token)
	if err != nil {
		return err
	}
	mux.Handle("/admin/risk/", risk)
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("admin.listen: %w", err)
	}
	srv := httpserver.New(mux, o.HTTPTimeouts)
	g.AdminAddr = ln.Addr().String()
	g.servers = append(g.servers, srv)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("admin endpoint stopped", "err", err)
		}
	}()
	g.closers = append(g.closers, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(ctx)
	})
	log.Info("admin endpoint", "addr", g.AdminAddr, "cards", cw.cards != nil, "risk", true)
	return nil
}

// riskAdmin is the risk admin API (package riskadmin) on g's engine and
// store, behind token; the admin endpoint and the operations endpoint
// both serve it at /admin/risk/.
func riskAdmin(g *Gateway, token string) (*riskadmin.API, error) {
	api, err := riskadmin.New(riskadmin.Options{Operator: riskOperator(g.Config, g.Store, g.Engine, g.Clock), Token: token,
		Logger: g.Log.With("component", "risk-admin"), Location: g.Config.Location()})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", envAdminToken, err)
	}
	return api, nil
}
