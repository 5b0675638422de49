package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/carrierbill/carrierbill/billing"
	billingredis "github.com/carrierbill/carrierbill/billing/redis"
	"github.com/carrierbill/carrierbill/config"
	"github.com/carrierbill/carrierbill/internal/httpserver"
	"github.com/carrierbill/carrierbill/smpp"
	"github.com/carrierbill/carrierbill/ussd"
)

// openUSSD wires the USSD channel (config ussd:, off by default): its
// sessions in the Redis the frequency rules use (REDIS_URL, or the
// in-process one), its answers stored in the same inbox as the MOs and
// handled by the SMS channel's workers (sms.Options.Divert), its SMPP
// screens sent through the gateway's binds, and the HTTP callback when
// ussd.http.listen is set.
func openUSSD(g *Gateway, c *config.Config, cw cardWiring, intake *billing.Intake, log *slog.Logger, o GatewayOptions) error {
	u := c.USSD
	if !u.Enabled {
		return nil
	}
	if err := ussd.CheckTexts(u.Texts); err != nil {
		return err
	}
	// The risk rules' client (the in-process Redis through memory).
	rc, err := billingredis.NewClient(redisFor(g, c))
	if err != nil {
		return fmt.Errorf("ussd: %w", err)
	}
	g.closers = append(g.closers, rc.Close)
	salt := []byte(os.Getenv(envRedisKeySalt))
	ops := ussd.Ops{Continue: byte(*u.SMPP.Continue), Close: byte(*u.SMPP.Close)}
	for _, l := range []struct {
		from []int
		to   *[]byte
	}{{u.SMPP.Open, &ops.Open}, {u.SMPP.Answer, &ops.Answer}, {u.SMPP.Abort, &ops.Abort}} {
		for _, op := range l.from {
			*l.to = append(*l.to, byte(op))
		}
	}
	g.USSD, err = ussd.New(ussd.Options{
		Engine: g.Engine, Cards: cw.cards, Refusals: g.texts, Texts: u.Texts,
		Sessions: &ussd.RedisSessions{Client: rc, Prefix: c.Redis.Prefix, Salt: salt, TTL: 2*u.Timeout.D() + time.Minute},
		Salt:     salt, Intake: intake, Sealer: cw.sealer,
		Normalize:     c.Numbering.Plan().Normalize,
		Subscriptions: engineSubscriptions{g.Engine},
		Reply: func(ctx context.Context, r smpp.USSDReply) error {
			if g.SMPP == nil {
				return errors.New("no SMPP client")
			}
			_, err := g.SMPP.SubmitUSSD(ctx, r)
			return err
		},
		Ops: ops, Key: u.SMPP.SessionKey, ServiceType: u.SMPP.ServiceType,
		Timeout: u.Timeout.D(), HTTPWait: u.HTTP.Wait.D(), History: u.History,
		Logger: log.With("component", "ussd"),
	})
	if err != nil {
		return err
	}
	if o.CoreOnly || u.HTTP.Listen == "" {
		return nil
	}
	auth := ussd.HTTPAuth{Secret: o.USSDSecret, Allow: u.HTTP.AllowPrefixes()}
	if auth.Secret == "" {
		auth.Secret = os.Getenv(config.EnvUSSDSecret)
	}
	if auth.Secret == "" && len(auth.Allow) == 0 {
		return fmt.Errorf("ussd.http.listen: set %s or ussd.http.allow, or the callback would take anyone's requests", config.EnvUSSDSecret)
	}
	mux := http.NewServeMux()
	mux.Handle(u.HTTP.Path, g.USSD.Handler(auth))
	ln, err := net.Listen("tcp", u.HTTP.Listen)
	if err != nil {
		return fmt.Errorf("ussd.http.listen: %w", err)
	}
	srv := httpserver.New(mux, o.HTTPTimeouts)
	g.USSDAddr = ln.Addr().String()
	g.servers = append(g.servers, srv)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("USSD callback endpoint stopped", "err", err)
		}
	}()
	g.closers = append(g.closers, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(ctx)
	})
	log.Info("USSD callback endpoint", "addr", g.USSDAddr, "path", u.HTTP.Path)
	return nil
}

// ussdConsumer is the SMPP side's USSD consumer: nil (USSD handled like
// MOs, as before) unless USSD over SMPP is on.
func ussdConsumer(g *Gateway) smpp.USSDConsumer {
	if g.USSD == nil || g.Config.USSD.SMPP.Off {
		return nil
	}
	return g.USSD
}

// engineSubscriptions is menu 6 on the engine's subscriptions (issue of
// the subscriptions feature): the number's active subscriptions, and
// cancelling one of them by id.
type engineSubscriptions struct{ e *billing.Engine }

func (s engineSubscriptions) List(ctx context.Context, msisdn string) ([]ussd.Subscription, error) {
	subs, err := s.e.ActiveSubscriptions(ctx, msisdn, "") // a read: the screen numbers them itself
	if err != nil {
		return nil, err
	}
	out := make([]ussd.Subscription, 0, len(subs))
	for _, x := range subs {
		name := x.ProductName
		if m, ok := s.e.Merchant(x.Merchant); ok {
			name = m.Name + " " + name
		}
		out = append(out, ussd.Subscription{ID: strconv.FormatInt(x.ID, 10), Name: name, Amount: x.Amount, Period: "月"})
	}
	return out, nil
}

func (s engineSubscriptions) Cancel(ctx context.Context, msisdn, id string) error {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return fmt.Errorf("subscription id %q: %w", id, err)
	}
	_, err = s.e.Unsubscribe(ctx, billing.UnsubscribeRequest{Source: billing.Source{Channel: billing.ChannelUSSD}, MSISDN: msisdn, ID: n})
	return err
}
