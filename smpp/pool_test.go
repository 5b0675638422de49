package smpp_test

import (
	"sync"
	"testing"

	"github.com/carrierbill/carrierbill/smpp"
	"github.com/carrierbill/carrierbill/smpp/smsc"
)

// TestSeveralBindsAndSMSCs: two binds to one SMSC and one to another share
// the MT traffic, MOs from every SMSC reach the consumer with the name of
// their bind, and when one SMSC goes away the others carry on.
func TestSeveralBindsAndSMSCs(t *testing.T) {
	a, b := newSim(t, smsc.Config{}), newSim(t, smsc.Config{})
	a1, a2, b1 := bindCfg(a.Addr()), bindCfg(a.Addr()), bindCfg(b.Addr())
	a1.Name, a2.Name, b1.Name = "a1", "a2", "b1"
	cons := newConsumer()
	c := newClient(t, cons, nil, a1, a2, b1)
	ctx := ctxT(t)
	if err := a.WaitBound(ctx, 2); err != nil {
		t.Fatalf("SMSC a: %v", err)
	}
	if err := b.WaitBound(ctx, 1); err != nil {
		t.Fatalf("SMSC b: %v", err)
	}
	eventually(t, "all three binds up on the client side", func() bool {
		up := 0
		for _, st := range c.Stats() {
			if st.State == "bound" {
				up++
			}
		}
		return up == 3
	})

	const n = 90
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Submit(ctx, smpp.MT{From: "106580088001", To: "8613800000001", Text: "receipt"}); err != nil {
				t.Errorf("Submit: %v", err)
			}
		}()
	}
	wg.Wait()
	na, nb := len(a.MTs()), len(b.MTs())
	if na+nb != n || na == 0 || nb == 0 {
		t.Fatalf("MTs per SMSC: a %d, b %d; want all %d delivered over both", na, nb, n)
	}

	for _, s := range []*smsc.Server{a, b} {
		if st, err := s.InjectMO(ctx, smsc.MO{From: "8613800000001", To: "106580088001", Text: "CX"}); err != nil || st[0] != 0 {
			t.Fatalf("InjectMO: %v %v", st, err)
		}
	}
	eventually(t, "an MO from each SMSC", func() bool {
		binds := map[string]bool{}
		for _, mo := range cons.MOs() {
			binds[mo.Bind] = true
		}
		return len(cons.MOs()) == 2 && binds["b1"] && (binds["a1"] || binds["a2"])
	})

	b.Close() // the second SMSC is gone: the first carries every MT
	for range 10 {
		if _, err := c.Submit(ctx, smpp.MT{From: "106580088001", To: "8613800000002", Text: "after"}); err != nil {
			t.Fatalf("Submit with one SMSC down: %v", err)
		}
	}
	got := 0
	for _, mt := range a.MTs() {
		if mt.To == "8613800000002" {
			got++
		}
	}
	if got != 10 {
		t.Fatalf("SMSC a got %d of the 10 MTs sent while b was down", got)
	}
}
