package faults

import (
	"context"
	"time"
)

// pairs runs a query returning (text, text, integer) rows.
func (s store) pairs(query string) (map[[2]string]int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := s.rows(ctx, query)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	out := map[[2]string]int64{}
	for r.Next() {
		var a, b string
		var n int64
		if err := r.Scan(&a, &b, &n); err != nil {
			return nil, err
		}
		out[[2]string{a, b}] += n
	}
	return out, r.Err()
}

// check asserts what the suite promises after a scenario, on a quiet
// store: every acknowledged MO stored and processed, no phone charged more
// often than it confirmed, every receipt received at least once and more
// than once only around a fault. It returns the MOs acknowledged, the
// payments charged and the duplicate receipts.
func (e *env) check(db store) (mos, paid, dups int64) {
	t := e.t
	tr := e.traffic
	tr.mu.Lock()
	defer tr.mu.Unlock()

	stored, err := db.pairs(`SELECT msisdn, body, count(*) FROM mo_inbox GROUP BY msisdn, body`)
	if err != nil {
		t.Fatalf("reading mo_inbox: %v", err)
	}
	processed, err := db.pairs(`SELECT msisdn, body, count(*) FROM mo_inbox WHERE processed_at IS NOT NULL GROUP BY msisdn, body`)
	if err != nil {
		t.Fatalf("reading mo_inbox: %v", err)
	}
	lost := 0
	for k, n := range tr.acks {
		if stored[k] < int64(n) || processed[k] != stored[k] {
			if lost++; lost <= 10 {
				t.Errorf("acknowledged MO lost: %q from %s acknowledged %d times, stored %d, processed %d", k[1], k[0], n, stored[k], processed[k])
			}
		}
	}

	charges, err := db.pairs(`SELECT msisdn, '', count(*) FROM charges WHERE status = 'succeeded' GROUP BY msisdn`)
	if err != nil {
		t.Fatalf("reading charges: %v", err)
	}
	for k, n := range charges {
		paid += n
		if n > int64(tr.codes[k[0]]) {
			t.Errorf("double charge: %s charged %d times, confirmed %d codes", k[0], n, tr.codes[k[0]])
		}
	}

	receipts, err := db.pairs(`SELECT msisdn, body, count(*) FROM outbox WHERE kind = 'receipt' GROUP BY msisdn, body`)
	if err != nil {
		t.Fatalf("reading outbox: %v", err)
	}
	received := map[[2]string]int64{}
	seen := map[string]bool{}
	for k := range receipts {
		if seen[k[0]] {
			continue
		}
		seen[k[0]] = true
		for _, text := range e.mts.texts(k[0]) {
			received[[2]string{k[0], text}]++
		}
	}
	missing := 0
	for k, n := range receipts {
		got := received[k]
		switch {
		case got < n:
			if missing++; missing <= 10 {
				t.Errorf("receipt lost: %s was sent %d of its %d receipts %q", k[0], got, n, k[1])
			}
		case got > n:
			dups += got - n
		}
	}
	faults := 0
	for _, n := range e.faults {
		faults += n
	}
	if dups > int64(10*faults) {
		t.Errorf("%d duplicate receipts after %d faults: more than an at-least-once resend around each", dups, faults)
	}
	return tr.nAcked.Load(), paid, dups
}
