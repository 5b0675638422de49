package smpp_test

import (
	"strconv"
	"testing"

	"github.com/carrierbill/carrierbill/smpp"
	"github.com/carrierbill/carrierbill/smpp/smsc"
)

// TestBindRegisteredDeliveryAndReceiptIDs: a bind's RegisteredDelivery asks
// for receipts on every MT; Submit reports the bind of each part; the
// simulator writes receipt ids in the other base when told to, and can send
// a receipt before the submit_sm_resp it reports on.
func TestBindRegisteredDeliveryAndReceiptIDs(t *testing.T) {
	t.Parallel()
	sim := newSim(t, smsc.Config{AutoReceipt: true})
	cons := newConsumer()
	bc := bindCfg(sim.Addr())
	bc.RegisteredDelivery = 1
	c := newClient(t, cons, nil, bc)
	ctx := ctxT(t)

	res, err := c.Submit(ctx, smpp.MT{From: "1065", To: "13800000041", Text: "hex ids"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Binds) != 1 || res.Binds[0] != "b1" {
		t.Fatalf("binds %v, want [b1]", res.Binds)
	}
	eventually(t, "the receipt the bind asked for", func() bool { return len(cons.DLRs()) == 1 })
	if d := cons.DLRs()[0]; d.MessageID != res.MessageIDs[0] || d.State != "DELIVRD" {
		t.Fatalf("receipt %+v for %v", d, res.MessageIDs)
	}

	// Decimal in the resp, hex in the receipt: the same number.
	sim.SetMessageIDs(smsc.IDDecimal, smsc.IDHex)
	res, err = c.Submit(ctx, smpp.MT{From: "1065", To: "13800000041", Text: "decimal ids"})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the second receipt", func() bool { return len(cons.DLRs()) == 2 })
	n, err := strconv.ParseUint(res.MessageIDs[0], 10, 64)
	if err != nil {
		t.Fatalf("resp id %q is not decimal", res.MessageIDs[0])
	}
	if h, err := strconv.ParseUint(cons.DLRs()[1].MessageID, 16, 64); err != nil || h != n || cons.DLRs()[1].MessageID == res.MessageIDs[0] {
		t.Fatalf("receipt id %q is not %d in hex", cons.DLRs()[1].MessageID, n)
	}

	// The receipt comes first: it is consumed before Submit returns.
	sim.SetMessageIDs(smsc.IDHex, smsc.IDDecimal)
	sim.ReceiptBeforeResp(true)
	res, err = c.Submit(ctx, smpp.MT{From: "1065", To: "13800000041", Text: "receipt first"})
	if err != nil {
		t.Fatal(err)
	}
	if got := cons.DLRs(); len(got) != 3 {
		t.Fatalf("%d receipts when Submit returned, want the third one already consumed", len(got))
	}
	n, _ = strconv.ParseUint(res.MessageIDs[0], 16, 64)
	if d := cons.DLRs()[2]; d.MessageID != strconv.FormatUint(n, 10) {
		t.Fatalf("receipt id %q, want %d in decimal (resp %q)", d.MessageID, n, res.MessageIDs[0])
	}
}
