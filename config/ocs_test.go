package config

import (
	"errors"
	"testing"
	"time"
)

const ocsOK = `
merchants:
  - {code: "8001", name: Game, products: [{keyword: VIP, name: VIP, amount: "10.00"}]}
ocs:
  enabled: true
  origin_host: gw1.carrierbill.example.net
  origin_realm: carrierbill.example.net
  destination_realm: ocs.example.net
  service_context_id: 32274@3gpp.org
  peers:
    - {addr: "10.0.0.7:3868", host: ocs1.example.net}
    - {addr: "10.0.0.8:5658", tls: true, tls_server_name: ocs2.example.net}
  service: {service_identifier: 1, rating_group: 1}
  services:
    - {merchant: "8001", service_identifier: 8001, rating_group: 80}
    - {merchant: "8001", product: vip, service_identifier: 8002, rating_group: 81}
`

func TestOCSSection(t *testing.T) {
	t.Parallel()
	noEnv := func(string) (string, bool) { return "", false }
	c, err := Parse([]byte("data_dir: /tmp/x\n"), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if c.OCS.Enabled || c.OCS.AnswerTimeout.D() != 1500*time.Millisecond || *c.OCS.Retries != 2 || c.OCS.WatchdogInterval.D() != 30*time.Second {
		t.Fatalf("defaults: %+v", c.OCS)
	}
	c, err = Parse([]byte(ocsOK), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if c.OCS.SessionIDPrefix != "carrierbill.example.net" || len(c.OCS.Services) != 2 || c.OCS.Services[1].ServiceIdentifier != 8002 {
		t.Fatalf("parsed: %+v", c.OCS)
	}
	tests := []struct{ name, yaml, field string }{
		{"enabled, nothing else", "ocs: {enabled: true}", "ocs.origin_host"},
		{"no realm", "ocs: {enabled: true}", "ocs.destination_realm"},
		{"no context", "ocs: {enabled: true}", "ocs.service_context_id"},
		{"no peers", "ocs: {enabled: true}", "ocs.peers"},
		{"no service", "ocs: {enabled: true}", "ocs.service.service_identifier"},
		{"bad identity", "ocs: {origin_host: \"gw 1\"}", "ocs.origin_host"},
		{"bad peer addr", "ocs: {peers: [{addr: ocs1}]}", "ocs.peers[0].addr"},
		{"peer twice", "ocs: {peers: [{addr: \"a:1\"}, {addr: \"a:1\"}]}", "ocs.peers[1].addr"},
		{"ca without tls", "ocs: {peers: [{addr: \"a:1\", tls_ca_file: ca.pem}]}", "ocs.peers[0].tls_ca_file"},
		{"skip verify without tls", "ocs: {peers: [{addr: \"a:1\", tls_skip_verify: true}]}", "ocs.peers[0].tls_skip_verify"},
		{"answer timeout", "ocs: {answer_timeout: 1m}", "ocs.answer_timeout"},
		{"retries", "ocs: {retries: 9}", "ocs.retries"},
		{"watchdog", "ocs: {watchdog_interval: 1ms}", "ocs.watchdog_interval"},
		{"backoff", "ocs: {reconnect_min: 1m, reconnect_max: 1s}", "ocs.reconnect_min"},
		{"unknown merchant", "ocs: {services: [{merchant: \"9\", service_identifier: 1}]}", "ocs.services[0].merchant"},
		{"merchant info", "ocs: {merchant_info: avp}", "ocs.merchant_info"},
		{"unknown key", "ocs: {charger: ocs}", "ocs.charger"},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(tt.yaml), noEnv)
		if err == nil {
			t.Fatalf("%s: accepted", tt.name)
		}
		var es Errors
		if !errors.As(err, &es) {
			if tt.field == "ocs.charger" {
				continue // strict decoding refuses the key itself
			}
			t.Fatalf("%s: %v", tt.name, err)
		}
		found := false
		for _, e := range es {
			found = found || e.Field == tt.field
		}
		if !found {
			t.Fatalf("%s: no error names %s: %v", tt.name, tt.field, err)
		}
	}
	// Retries that cannot fit a payment's charge timeout.
	if _, err := Parse([]byte(ocsOK+"  answer_timeout: 5s\n"), noEnv); err == nil {
		t.Fatal("5s × 3 × 2 accepted")
	}
}
