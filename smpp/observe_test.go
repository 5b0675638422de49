package smpp_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/carrierbill/carrierbill/smpp"
	"github.com/carrierbill/carrierbill/smpp/smsc"
)

// waitState polls the client's Stats until the bind's link is in state.
func waitState(t *testing.T, c *smpp.Client, state string) smpp.BindStats {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := c.Stats()[0]
		if s.State == state {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("bind state %q, want %q", s.State, state)
		}
		time.Sleep(5 * time.Millisecond) // polling a state with a deadline
	}
}

// TestSuspendResume: a suspended bind unbinds and stays down, submits wait,
// and a resume binds it again at once.
func TestSuspendResume(t *testing.T) {
	t.Parallel()
	sim := newSim(t, smsc.Config{})
	c := newClient(t, newConsumer(), nil, bindCfg(sim.Addr()))
	ctx := ctxT(t)
	if err := sim.WaitBound(ctx, 1); err != nil {
		t.Fatal(err)
	}
	waitState(t, c, "bound")
	if changed, err := c.Suspend("b1"); err != nil || !changed {
		t.Fatalf("Suspend = %v, %v", changed, err)
	}
	if changed, _ := c.Suspend("b1"); changed {
		t.Error("a second Suspend changed something")
	}
	s := waitState(t, c, "suspended")
	if _, err := c.Suspend("nosuch"); !errors.Is(err, smpp.ErrUnknownBind) {
		t.Errorf("Suspend(nosuch) = %v", err)
	}
	// Well past the reconnect backoff, it is still down.
	time.Sleep(100 * time.Millisecond) // the bind must NOT come back on its own: nothing to wait for
	if now := c.Stats()[0]; now.State != "suspended" || now.Binds != s.Binds {
		t.Fatalf("a suspended bind came back: %+v", now)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	var submitErr error
	go func() {
		defer wg.Done()
		_, submitErr = c.Submit(ctx, smpp.MT{From: "1065", To: "13800000001", Text: "waits"})
	}()
	if changed, err := c.Resume("b1"); err != nil || !changed {
		t.Fatalf("Resume = %v, %v", changed, err)
	}
	waitState(t, c, "bound")
	wg.Wait()
	if submitErr != nil || len(sim.MTs()) != 1 {
		t.Fatalf("the MT submitted while suspended: %v, %d MTs", submitErr, len(sim.MTs()))
	}
	if got := c.Stats()[0].Binds; got != s.Binds+1 {
		t.Errorf("binds %d after resume, want %d", got, s.Binds+1)
	}
}
