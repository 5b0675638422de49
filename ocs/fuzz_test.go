package ocs_test

import (
	"testing"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"
	"github.com/fiorix/go-diameter/v4/diam/dict"

	"github.com/carrierbill/carrierbill/ocs"
)

// cca builds a credit-control answer granting fen, optionally with the
// Failed-AVP that makes go-diameter v4.1.0 panic.
func cca(fen int64, malformed bool) []byte {
	m := diam.NewMessage(diam.CreditControl, diam.ProxiableFlag, ocs.AppCreditControl, 7, 9, dict.Default)
	m.NewAVP(avp.SessionID, avp.Mbit, 0, datatype.UTF8String("carrierbill.test;1;2;order:1"))
	m.NewAVP(avp.ResultCode, avp.Mbit, 0, datatype.Unsigned32(ocs.CodeSuccess))
	m.NewAVP(avp.OriginHost, avp.Mbit, 0, datatype.DiameterIdentity("ocs"))
	m.NewAVP(avp.OriginRealm, avp.Mbit, 0, datatype.DiameterIdentity("sim"))
	m.NewAVP(avp.MultipleServicesCreditControl, avp.Mbit, 0, &diam.GroupedAVP{AVP: []*diam.AVP{
		diam.NewAVP(avp.GrantedServiceUnit, avp.Mbit, 0, &diam.GroupedAVP{AVP: []*diam.AVP{ocs.Money(fen)}}),
	}})
	if malformed {
		m.NewAVP(avp.FailedAVP, avp.Mbit, 0, datatype.Grouped(make([]byte, 12)))
	}
	b, err := m.Serialize()
	if err != nil {
		panic(err)
	}
	return b
}

func TestDecodeMoneyAndMalformed(t *testing.T) {
	m, err := ocs.Decode(cca(1234, false))
	if err != nil {
		t.Fatal(err)
	}
	g := ocs.Find(ocs.Children(ocs.Find(m.AVP, avp.MultipleServicesCreditControl)), avp.GrantedServiceUnit)
	if fen, ok := ocs.Fen(g); !ok || fen != 1234 {
		t.Fatalf("granted %d %v, want 1234 fen", fen, ok)
	}
	if _, err := ocs.Decode(cca(1, true)); err == nil {
		t.Fatal("the zero-filled Failed-AVP decoded without error")
	}
}

// FuzzDecode: whatever comes off the wire, decoding and reading the AVPs
// this package reads never panics.
func FuzzDecode(f *testing.F) {
	f.Add(cca(100, false))
	f.Add(cca(100, true))
	f.Add(make([]byte, 20))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ocs.Decode(b)
		if err != nil {
			return
		}
		_ = ocs.ResultCode(m)
		mscc := ocs.Children(ocs.Find(m.AVP, avp.MultipleServicesCreditControl))
		_, _ = ocs.Fen(ocs.Find(mscc, avp.GrantedServiceUnit))
		_ = ocs.Text(ocs.Find(m.AVP, avp.SessionID))
	})
}
