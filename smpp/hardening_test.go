package smpp_test

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/fiorix/go-smpp/smpp/pdu"
	"github.com/fiorix/go-smpp/smpp/pdu/pdutlv"

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
