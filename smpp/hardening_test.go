package smpp_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fiorix/go-smpp/smpp/pdu"
	"github.com/fiorix/go-smpp/smpp/pdu/pdutlv"

	"github.com/carrierbill/carrierbill/clock"
	"github.com/carrierbill/carrierbill/smpp"
	"github.com/carrierbill/carrierbill/smpp/smsc"
)

// respTo waits for the ESME's response to the SMSC request seq.
func respTo(t *testing.T, sim *smsc.Server, seq uint32) smsc.Record {
	t.Helper()
	var got smsc.Record
	eventually(t, fmt.Sprintf("a response to seq %d", seq), func() bool {
		return hasRecord(sim, func(r smsc.Record) bool {
			if r.In && r.Seq == seq && r.ID&0x80000000 != 0 {
				got = r
				return true
			}
			return false
		})
	})
	return got
}

// sarSM builds a deliver_sm whose SAR TLVs are ref, total and seq; a
// negative total or seq leaves that TLV out.
func sarSM(text string, ref uint16, total, seq int) *smpp.SM {
	sm := &smpp.SM{Src: "13800000010", Dst: "1065", ShortMessage: []byte(text), TLVs: pdutlv.Map{}}
	sm.TLVs.Set(pdutlv.TagSarMsgRefNum, binary.BigEndian.AppendUint16(nil, ref))
	if total >= 0 {
		sm.TLVs.Set(pdutlv.TagSarTotalSegments, uint8(total))
	}
	if seq >= 0 {
		sm.TLVs.Set(pdutlv.TagSarSegmentSeqnum, uint8(seq))
	}
	return sm
}

// TestSARAndPayloadRefusals (issue 18.9): SAR segments numbered beyond
// their total, numbered 0, or without a sequence number are refused with
// ESME_RX_P_APPN like a bad UDH, never taken as a whole message; a
// deliver_sm with both short_message and message_payload is answered
// ESME_ROPTPARNOTALLWD and nothing is stored.
func TestSARAndPayloadRefusals(t *testing.T) {
	t.Parallel()
	sim := newSim(t, smsc.Config{})
	cons := newConsumer()
	newClient(t, cons, nil, bindCfg(sim.Addr()))
	ctx := ctxT(t)
	if err := sim.WaitBound(ctx, 1); err != nil {
		t.Fatal(err)
	}
	both := &smpp.SM{Src: "13800000010", Dst: "1065", ShortMessage: []byte("short"), TLVs: pdutlv.Map{}}
	both.TLVs.Set(pdutlv.TagMessagePayload, []byte("payload"))
	cases := []struct {
		name string
		sm   *smpp.SM
		st   pdu.Status
	}{
		{"SAR part 3 of 2", sarSM("x", 7, 2, 3), smpp.StatusRxPApp},
		{"SAR part 0 of 2", sarSM("x", 7, 2, 0), smpp.StatusRxPApp},
		{"SAR without seqnum", sarSM("x", 7, 2, -1), smpp.StatusRxPApp},
		{"SAR without total", sarSM("x", 7, -1, 1), smpp.StatusRxPApp},
		{"short_message and message_payload", both, smpp.StatusOptNotAllowed},
		{"SAR part 1 of 1", sarSM("whole", 8, 1, 1), smpp.StatusOK},
	}
	for i, tc := range cases {
		seq := uint32(2000 + i)
		if err := sim.WriteRaw("", deliverRaw(seq, tc.sm)); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if r := respTo(t, sim, seq); r.ID != pdu.DeliverSMRespID || r.Stat != tc.st {
			t.Errorf("%s: answered %s %#x, want %#x", tc.name, r.ID, uint32(r.Stat), uint32(tc.st))
		}
	}
	if mos := cons.MOs(); len(mos) != 1 || mos[0].Text != "whole" {
		t.Fatalf("stored MOs %+v, want only the well-formed one", mos)
	}
}

// TestMultipartMemoryCappedPerBind (issue 18.4): through a live bind, parts
// beyond the per-part, per-source and total byte caps are answered with a
// status that stops the SMSC (ESME_RX_P_APPN, ESME_RMSGQFUL), logged with
// the number masked, and the memory held is released once the part
// timeout passed on the session's clock, without any further part.
func TestMultipartMemoryCappedPerBind(t *testing.T) {
	t.Parallel()
	sim := newSim(t, smsc.Config{})
	cons := newConsumer()
	var logs bytes.Buffer
	var lmu sync.Mutex
	log := slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &lmu}, nil))
	clk := clock.NewFake(time.Date(2026, 3, 10, 4, 0, 0, 0, time.UTC))
	bc := bindCfg(sim.Addr())
	bc.PartTimeout = time.Minute
	bc.Parts = smpp.ReassemblyLimits{MaxPartBytes: 200, MaxSourceBytes: 10000, MaxTotalBytes: 15000}
	c, err := smpp.NewClient([]smpp.BindConfig{bc}, cons, smpp.Options{Logger: log, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx := ctxT(t)
	held := func() (int, int) { s := c.Stats()[0]; return s.PartialMessages, s.PartialBytes }
	part := func(from string, ref uint16, seq int, n int) pdu.Status {
		t.Helper()
		sm := sarSM(strings.Repeat("p", n), ref, 255, seq)
		sm.Src = from
		st, err := sim.Deliver(ctx, "", sm, 0)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	const a, b, d = "13800000021", "13800000022", "13800000023"

	if st := part(a, 1, 1, 201); st != smpp.StatusRxPApp {
		t.Fatalf("a 201-byte part answered %#x, want ESME_RX_P_APPN", uint32(st))
	}
	// Source a fills its share, then is refused with ESME_RMSGQFUL.
	st := smpp.StatusOK
	for seq := 1; seq < 255 && st == smpp.StatusOK; seq++ {
		st = part(a, 1, seq, 100)
	}
	if _, by := held(); st != smpp.StatusMsgQFull || by > 10000 {
		t.Fatalf("source over its cap answered %#x with %d bytes held, want ESME_RMSGQFUL within 10000", uint32(st), by)
	}
	// Another source is refused once the bind's total is reached.
	st = smpp.StatusOK
	for seq := 1; seq < 255 && st == smpp.StatusOK; seq++ {
		st = part(b, 1, seq, 100)
	}
	if _, by := held(); st != smpp.StatusMsgQFull || by > 15000 {
		t.Fatalf("bind over its total answered %#x with %d bytes held, want ESME_RMSGQFUL within 15000", uint32(st), by)
	}
	if st := part(d, 1, 1, 100); st != smpp.StatusMsgQFull {
		t.Fatalf("a third source with the bind full answered %#x", uint32(st))
	}
	// The part timeout passes: everything is released without another part.
	clk.Advance(time.Minute)
	eventually(t, "the parts to be released after the part timeout", func() bool {
		m, by := held()
		return m == 0 && by == 0
	})
	if st := part(d, 1, 1, 100); st != smpp.StatusOK {
		t.Fatalf("after the timeout a part answered %#x", uint32(st))
	}
	lmu.Lock()
	out := logs.String()
	lmu.Unlock()
	if !strings.Contains(out, "reassembly limit") {
		t.Errorf("refusals not logged:\n%s", out)
	}
	for _, phone := range []string{a, b, d} {
		if strings.Contains(out, phone) {
			t.Fatalf("log carries %s in clear:\n%s", phone, out)
		}
	}
}

// blockingConsumer blocks every ConsumeMO and ConsumeReceipt until release
// is closed; honorCtx makes it give up when its context ends, like a
// database driver, otherwise it ignores the deadline like a stuck one.
type blockingConsumer struct {
	memConsumer
	release  chan struct{}
	honorCtx bool
}

func (c *blockingConsumer) wait(ctx context.Context) error {
	if c.honorCtx {
		select {
		case <-c.release:
		case <-ctx.Done():
			return ctx.Err()
		}
		return nil
	}
	<-c.release
	return nil
}

func (c *blockingConsumer) ConsumeMO(ctx context.Context, mo smpp.MO) error {
	if err := c.wait(ctx); err != nil {
		return err
	}
	return c.memConsumer.ConsumeMO(ctx, mo)
}

func (c *blockingConsumer) ConsumeReceipt(ctx context.Context, r smpp.DeliveryReceipt) error {
	if err := c.wait(ctx); err != nil {
		return err
	}
	return c.memConsumer.ConsumeReceipt(ctx, r)
}

// TestStoreDeadlineAnswers0x64 (issue 18.6): a Consumer that stops
// answering (a database held silent) delays an MO's or a receipt's ack by
// at most the bind's StoreTimeout, then the SMSC gets ESME_RX_T_APPN and
// redelivers; once the store answers again the redelivery is acked.
func TestStoreDeadlineAnswers0x64(t *testing.T) {
	t.Parallel()
	for _, honor := range []bool{true, false} {
		t.Run(fmt.Sprintf("honorCtx=%v", honor), func(t *testing.T) {
			t.Parallel()
			sim := newSim(t, smsc.Config{})
			cons := &blockingConsumer{release: make(chan struct{}), honorCtx: honor}
			bc := bindCfg(sim.Addr())
			bc.StoreTimeout = 300 * time.Millisecond
			c := newClient(t, cons, nil, bc)
			released := false
			release := func() {
				if !released {
					close(cons.release)
					released = true
				}
			}
			defer func() { release(); c.Close() }()
			ctx := ctxT(t)
			start := time.Now()
			sts, err := sim.InjectMO(ctx, smsc.MO{From: "13800000031", To: "1065", Text: "VIP"})
			took := time.Since(start)
			if err != nil || len(sts) != 1 || sts[0] != smpp.StatusRxTApp {
				t.Fatalf("MO with the store silent: %v %v, want [0x64]", sts, err)
			}
			if took > 3*time.Second {
				t.Fatalf("MO ack took %v with a 300ms store timeout", took)
			}
			st, err := sim.SendReceipt(ctx, "", "00000000AB", "13800000031", "1065", "DELIVRD")
			if err != nil || st != smpp.StatusRxTApp {
				t.Fatalf("receipt with the store silent: %#x %v, want 0x64", uint32(st), err)
			}
			release()
			sts, err = sim.InjectMO(ctx, smsc.MO{From: "13800000031", To: "1065", Text: "VIP"})
			if err != nil || len(sts) != 1 || sts[0] != smpp.StatusOK {
				t.Fatalf("redelivery once the store answers: %v %v", sts, err)
			}
		})
	}
}
