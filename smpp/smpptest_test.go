package smpp_test

import (
	"testing"

	"github.com/fiorix/go-smpp/smpp/pdu"
	"github.com/fiorix/go-smpp/smpp/pdu/pdufield"
	"github.com/fiorix/go-smpp/smpp/pdu/pdutext"
	"github.com/fiorix/go-smpp/smpp/smpptest"

	"github.com/carrierbill/carrierbill/smpp"
)

// TestAgainstSmpptest binds to go-smpp's own test server. Its handler
// answers a submit_sm by first sending a deliver_sm that reuses the
// submit_sm's sequence number, then the submit_sm_resp: both must reach
// their owners (go-smpp's Transceiver loses the MO here).
func TestAgainstSmpptest(t *testing.T) {
	srv := smpptest.NewUnstartedServer()
	srv.Handler = func(c smpptest.Conn, m pdu.Body) {
		switch m.Header().ID {
		case pdu.SubmitSMID:
			mo := pdu.NewDeliverSM()
			f := mo.Fields()
			f.Set(pdufield.SourceAddr, "13800000010")
			f.Set(pdufield.DestinationAddr, "1065")
			f.Set(pdufield.ShortMessage, pdutext.Raw("CX"))
			f[pdufield.UDHLength] = &pdufield.SM{} // the stray-byte quirk
			f[pdufield.GSMUserData] = &pdufield.SM{}
			mo.Header().Seq = m.Header().Seq
			c.Write(mo)
			resp := pdu.NewSubmitSMResp()
			resp.Header().Seq = m.Header().Seq
			resp.Fields().Set(pdufield.MessageID, "42")
			c.Write(resp)
		case pdu.EnquireLinkID:
			resp := pdu.NewEnquireLinkResp()
			resp.Header().Seq = m.Header().Seq
			c.Write(resp)
		case pdu.UnbindID:
			resp := pdu.NewUnbindResp()
			resp.Header().Seq = m.Header().Seq
			c.Write(resp)
		}
	}
	srv.Start()
	defer srv.Close()
	cons := newConsumer()
	bc := bindCfg(srv.Addr())
	bc.SystemID, bc.Password = smpptest.DefaultUser, smpptest.DefaultPasswd
	c := newClient(t, cons, nil, bc)
	res, err := c.Submit(ctxT(t), smpp.MT{From: "1065", To: "13800000010", Text: "hello"})
	if err != nil || len(res.MessageIDs) != 1 || res.MessageIDs[0] != "42" {
		t.Fatalf("submit: %+v %v", res, err)
	}
	eventually(t, "the MO", func() bool { return len(cons.MOs()) == 1 })
	if mo := cons.MOs()[0]; mo.Text != "CX" || mo.From != "13800000010" {
		t.Fatalf("MO %+v", mo)
	}
	c.Close()
}
