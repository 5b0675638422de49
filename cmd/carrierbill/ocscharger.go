package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/config"
	"github.com/carrierbill/carrierbill/ocs"
)

// openOCS builds the OCS charger of the ocs section (ocs.enabled): phone-
// account payments are then charged over Diameter credit control. It
// describes a charge to the OCS by reading the order behind its key from
// store. The charger connects in the background; Close disconnects it.
func openOCS(c *config.Config, store billing.Store, log *slog.Logger) (*ocs.Charger, error) {
	o := c.OCS
	var peers []ocs.Peer
	for i, p := range o.Peers {
		pe := ocs.Peer{Addr: p.Addr, Host: p.Host}
		if p.TLS {
			tc, err := ocsTLS(p)
			if err != nil {
				return nil, fmt.Errorf("ocs.peers[%d]: %w", i, err)
			}
			pe.TLS = tc
		}
		peers = append(peers, pe)
	}
	retries := *o.Retries
	var rules []ocs.ServiceRule
	for _, r := range o.Services {
		rules = append(rules, ocs.ServiceRule{Merchant: r.Merchant, Product: r.Product,
			Service: ocs.Service{Identifier: r.ServiceIdentifier, RatingGroup: r.RatingGroup}})
	}
	ch, err := ocs.New(ocs.Options{
		Client: ocs.ClientOptions{
			OriginHost: o.OriginHost, OriginRealm: o.OriginRealm,
			DestinationRealm: o.DestinationRealm, DestinationHost: o.DestinationHost,
			Peers: peers, AnswerTimeout: o.AnswerTimeout.D(), Retries: &retries,
			WatchdogInterval: o.WatchdogInterval.D(), ReconnectMin: o.ReconnectMin.D(), ReconnectMax: o.ReconnectMax.D(),
		},
		ServiceContextID: o.ServiceContextID,
		SessionPrefix:    o.SessionIDPrefix,
		MerchantInfo:     ocs.MerchantInfo(o.MerchantInfo),
		Default:          ocs.Service{Identifier: o.Service.ServiceIdentifier, RatingGroup: o.Service.RatingGroup},
		Rules:            rules,
		Describe:         describeCharge(store),
		Logger:           log.With("component", "ocs"),
	})
	if err != nil {
		return nil, fmt.Errorf("ocs: %w", err)
	}
	addrs := make([]string, len(peers))
	for i, p := range peers {
		addrs[i] = p.Addr
	}
	log.Info("charger: the operator's OCS over Diameter credit control", "peers", strings.Join(addrs, ","),
		"origin_host", o.OriginHost, "destination_realm", o.DestinationRealm, "service_context_id", o.ServiceContextID)
	return ch, nil
}

// describeCharge finds the order behind a charge key (billing.ChargeKey:
// "order:<id>") in a short transaction of its own.
func describeCharge(store billing.Store) ocs.Describer {
	return func(ctx context.Context, key string) (ocs.ChargeInfo, error) {
		id, err := strconv.ParseInt(strings.TrimPrefix(key, "order:"), 10, 64)
		if err != nil || !strings.HasPrefix(key, "order:") {
			return ocs.ChargeInfo{}, fmt.Errorf("%q is not a charge key", key)
		}
		var o billing.Order
		err = store.InTx(ctx, func(tx billing.Tx) error {
			var err error
			o, err = tx.GetOrder(ctx, id)
			return err
		})
		if err != nil {
			return ocs.ChargeInfo{}, fmt.Errorf("reading order %d: %w", id, err)
		}
		return ocs.ChargeInfo{MSISDN: o.MSISDN, Amount: o.Amount, Merchant: o.Merchant, Product: o.Product}, nil
	}
}

// ocsTLS is the TLS configuration of one OCS peer.
func ocsTLS(p config.OCSPeer) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: p.TLSServerName, InsecureSkipVerify: p.TLSSkipVerify} //nolint:gosec // operator's choice, off by default
	if tc.ServerName == "" {
		tc.ServerName, _, _ = net.SplitHostPort(p.Addr)
	}
	if p.TLSCAFile != "" {
		pem, err := os.ReadFile(p.TLSCAFile)
		if err != nil {
			return nil, fmt.Errorf("tls_ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls_ca_file %s: no PEM certificate in it", p.TLSCAFile)
		}
		tc.RootCAs = pool
	}
	return tc, nil
}
