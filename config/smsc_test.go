package config

import (
	"errors"
	"testing"
	"time"
)

// TestBindDeliveryAndLimits: the per-bind fields of delivery receipts, the
// store deadline and the reassembly caps take their defaults and name the
// field when wrong.
func TestBindDeliveryAndLimits(t *testing.T) {
	t.Parallel()
	c, err := Parse([]byte("smsc:\n  binds:\n  - {system_id: x, addr: 'h:1'}\n"), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	b := c.SMSC.Binds[0]
	if b.RegisteredDelivery == nil || *b.RegisteredDelivery != 1 || b.StoreTimeout.D() != 2*time.Second {
		t.Fatalf("defaults: registered_delivery %v, store_timeout %v", b.RegisteredDelivery, b.StoreTimeout)
	}
	c, err = Parse([]byte("smsc:\n  binds:\n  - {system_id: x, addr: 'h:1', registered_delivery: 0}\n"), noEnv)
	if err != nil || *c.SMSC.Binds[0].RegisteredDelivery != 0 {
		t.Fatalf("registered_delivery 0 must switch receipts off: %v", err)
	}
	for yaml, field := range map[string]string{
		"registered_delivery: 3":                             "registered_delivery",
		"store_timeout: 1m":                                  "store_timeout",
		"part_max_bytes: -1":                                 "part_max_bytes",
		"parts_max_source_bytes: 1000, parts_max_bytes: 500": "parts_max_source_bytes",
		"part_max_bytes: 4096, parts_max_source_bytes: 1024": "part_max_bytes",
	} {
		_, err := Parse([]byte("smsc:\n  binds:\n  - {system_id: x, addr: 'h:1', "+yaml+"}\n"), noEnv)
		var es Errors
		if !errors.As(err, &es) {
			t.Fatalf("%s: err = %v, want Errors", yaml, err)
		}
		found := false
		for _, e := range es {
			found = found || e.Field == "smsc.binds[0]."+field
		}
		if !found {
			t.Errorf("%s: no error names smsc.binds[0].%s: %v", yaml, field, err)
		}
	}
}
