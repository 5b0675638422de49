package main

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/carrierbill/carrierbill/internal/dbtest"
	"github.com/carrierbill/carrierbill/internal/faultproxy"
	"github.com/carrierbill/carrierbill/smpp/smsc"
)

// TestServePostgresSilentNacksWithinDeadline (issue 18.6): PostgreSQL held
// silent (connections open, nothing answered) no longer delays MO acks for
// as long as the outage lasts: the bind's store timeout (2 s by default)
// passes and the SMSC gets ESME_RX_T_APPN (0x64); once the database answers
// again the SMSC's redelivery is stored and acked.
func TestServePostgresSilentNacksWithinDeadline(t *testing.T) {
	t.Parallel()
	_, prefix := dbtest.Redis(t)
	u, err := url.Parse(dbtest.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	p := faultproxy.Start(t, u.Host)
	u.Host = p.Addr()
	h := boot(t, u.String(), dbtest.RedisURL(), prefix, "")
	phone := h.newPhone()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	p.Hang()
	start := time.Now()
	st, err := h.sim.InjectMO(ctx, smsc.MO{From: phone, To: "106580088001", Text: "VIP"})
	took := time.Since(start)
	if err != nil {
		t.Fatalf("InjectMO: %v", err)
	}
	if len(st) != 1 || st[0] != 0x64 {
		t.Fatalf("with PostgreSQL silent the MO was answered %v, want [0x64]", st)
	}
	if took < 1500*time.Millisecond || took > 5*time.Second {
		t.Fatalf("the 0x64 came after %v, want about the 2s store timeout", took)
	}
	t.Logf("MO answered 0x64 after %v with PostgreSQL silent", took)
	p.Unblock()
	for {
		st, err = h.sim.InjectMO(ctx, smsc.MO{From: phone, To: "106580088001", Text: "VIP"})
		if err == nil && len(st) == 1 && st[0] == 0 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("redelivery after PostgreSQL answered again: %v %v", st, err)
		}
		time.Sleep(100 * time.Millisecond) // the SMSC's redelivery interval, not a wait for an event
	}
	codeOf(t, h.reply(phone, 1))
}
