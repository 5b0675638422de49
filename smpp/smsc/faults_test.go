package smsc_test

import (
	"context"
	"testing"
	"time"

	gosmpp "github.com/fiorix/go-smpp/smpp"
	"github.com/fiorix/go-smpp/smpp/pdu"

	"github.com/carrierbill/carrierbill/smpp/smsc"
)

type delivered struct {
	seq  uint32
	text string
}

// TestLostAckAndReusedSeq: with LoseAcks the ESME sees the same MO twice
// under two sequence numbers; with ReuseSeqs the next MO comes under the
// previous one's number.
func TestLostAckAndReusedSeq(t *testing.T) {
	s := smsc.New(smsc.Config{})
	if err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got := make(chan delivered, 10)
	tx := &gosmpp.Transceiver{Addr: s.Addr(), User: "esme", Passwd: "pw", RespTimeout: 5 * time.Second,
		Handler: func(p pdu.Body) {
			if p.Header().ID == pdu.DeliverSMID {
				got <- delivered{p.Header().Seq, string(p.Fields()["short_message"].Bytes())}
			}
		}}
	defer tx.Close()
	select {
	case st := <-tx.Bind():
		if st.Error() != nil {
			t.Fatal(st.Error())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("never bound")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	next := func() delivered {
		t.Helper()
		select {
		case d := <-got:
			return d
		case <-ctx.Done():
			t.Fatal("no deliver_sm")
		}
		return delivered{}
	}

	s.LoseAcks(1)
	if st, err := s.InjectMO(ctx, smsc.MO{From: "8613800000001", To: "106580088001", Text: "GOLD"}); err != nil || st[0] != 0 {
		t.Fatalf("InjectMO: %v %v", st, err)
	}
	a, b := next(), next()
	if a.text != "GOLD" || b.text != "GOLD" || a.seq == b.seq {
		t.Fatalf("a lost ack: want GOLD twice under two numbers, got %+v %+v", a, b)
	}

	s.ReuseSeqs(1)
	if _, err := s.InjectMO(ctx, smsc.MO{From: "8613800000001", To: "106580088001", Text: "CX"}); err != nil {
		t.Fatalf("InjectMO: %v", err)
	}
	if c := next(); c.text != "CX" || c.seq != b.seq {
		t.Fatalf("a reused number: want CX under %d, got %+v", b.seq, c)
	}
	if r, u := s.FaultCounts(); r != 1 || u != 1 {
		t.Fatalf("FaultCounts = %d, %d; want 1, 1", r, u)
	}
}
