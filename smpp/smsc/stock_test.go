package smsc_test

import (
	"context"
	"testing"
	"time"

	gosmpp "github.com/fiorix/go-smpp/smpp"
	"github.com/fiorix/go-smpp/smpp/pdu"
	"github.com/fiorix/go-smpp/smpp/pdu/pdutext"

	"github.com/carrierbill/carrierbill/smpp/smsc"
)

// TestStockClientBindsAndSubmits: an SMPP client we did not write
// (go-smpp's own Transceiver) binds to the simulator, submits a UCS2 MT and
// receives an MO, as it would against `carrierbill smsc`.
func TestStockClientBindsAndSubmits(t *testing.T) {
	s := smsc.New(smsc.Config{SystemID: "stock", Password: "pw"})
	if err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	mos := make(chan string, 1)
	tx := &gosmpp.Transceiver{Addr: s.Addr(), User: "stock", Passwd: "pw", RespTimeout: 5 * time.Second,
		Handler: func(p pdu.Body) {
			if p.Header().ID == pdu.DeliverSMID {
				mos <- string(p.Fields()["short_message"].Bytes())
			}
		}}
	defer tx.Close()
	select {
	case st := <-tx.Bind():
		if st.Error() != nil || st.Status() != gosmpp.Connected {
			t.Fatalf("stock client bind: %v %v", st.Status(), st.Error())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("stock client never bound")
	}
	sm, err := tx.Submit(&gosmpp.ShortMessage{Src: "106580088001", Dst: "8613800000001", Text: pdutext.UCS2("支付成功")})
	if err != nil {
		t.Fatalf("stock client submit: %v", err)
	}
	if sm.RespID() == "" {
		t.Fatal("no message_id in submit_sm_resp")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := s.WaitMT(ctx, func(m smsc.MT) bool { return m.Text == "支付成功" }); err != nil {
		t.Fatalf("the simulator did not decode the stock client's UCS2 MT: %v", err)
	}
	if _, err := s.InjectMO(ctx, smsc.MO{From: "8613800000001", To: "106580088001", Text: "CX"}); err != nil {
		t.Fatalf("InjectMO to the stock client: %v", err)
	}
	select {
	case got := <-mos:
		if got != "CX" {
			t.Fatalf("stock client got MO %q, want CX", got)
		}
	case <-ctx.Done():
		t.Fatal("stock client never got the MO")
	}
}
