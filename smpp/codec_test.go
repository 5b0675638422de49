package smpp

import (
	"bytes"
	"errors"
	"testing"

	"github.com/fiorix/go-smpp/smpp/pdu"
	"github.com/fiorix/go-smpp/smpp/pdu/pdutlv"
)

func TestReadFrame(t *testing.T) {
	t.Parallel()
	good := AppendFrame(nil, Frame{ID: pdu.EnquireLinkID, Seq: 7})
	tests := []struct {
		name string
		in   []byte
		err  error
	}{
		{"enquire_link", good, nil},
		{"too short", []byte{0, 0, 0, 8, 0, 0, 0, 0x15, 0, 0, 0, 0, 0, 0, 0, 1}, ErrFraming},
		{"oversized", []byte{0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0x15, 0, 0, 0, 0, 0, 0, 0, 1}, ErrFraming},
	}
	for _, tt := range tests {
		_, err := ReadFrame(bytes.NewReader(tt.in), DefaultMaxPDU)
		if !errors.Is(err, tt.err) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.err)
		}
	}
}

func TestDecodeSMRoundTrip(t *testing.T) {
	t.Parallel()
	sm := &SM{Src: "13800000001", Dst: "106580088001", ESMClass: 0x40, DataCoding: 8,
		ShortMessage: append(ConcatUDH8(3, 2, 1), EncodeUCS2("确认")...), TLVs: pdutlv.Map{}}
	sm.TLVs.Set(0x1401, []byte{1, 2}) // unknown TLV survives
	for _, enc := range []func(uint32) (Frame, error){sm.EncodeSubmitSM, sm.EncodeDeliverSM} {
		f, err := enc(9)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeSM(f.ID, f.Body)
		if err != nil {
			t.Fatalf("%s: %v", f.ID, err)
		}
		if got.Src != sm.Src || got.Dst != sm.Dst || !bytes.Equal(got.ShortMessage, sm.ShortMessage) || got.TLVs[0x1401] == nil {
			t.Fatalf("%s: %+v", f.ID, got)
		}
	}
}

func FuzzDecodePDU(f *testing.F) {
	sm := &SM{Src: "1", Dst: "2", ShortMessage: []byte("hi"), TLVs: pdutlv.Map{}}
	sm.TLVs.Set(pdutlv.TagMessagePayload, []byte("payload"))
	fr, _ := sm.EncodeDeliverSM(1)
	f.Add(AppendFrame(nil, fr))
	fr, _ = sm.EncodeSubmitSM(2)
	f.Add(AppendFrame(nil, fr))
	f.Add(AppendFrame(nil, Frame{ID: pdu.DataSMID, Seq: 3, Body: []byte("\x001\x001\x00\x00\x00\x00\x04\x24\x00\x01x")}))
	f.Add(AppendFrame(nil, Frame{ID: pdu.BindTransceiverRespID, Seq: 4, Body: []byte("smsc\x00")}))
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := ReadFrame(bytes.NewReader(b), 4096)
		if err != nil {
			return
		}
		switch fr.ID {
		case pdu.DeliverSMID, pdu.SubmitSMID, pdu.DataSMID:
			sm, err := DecodeSM(fr.ID, fr.Body)
			if err != nil {
				return
			}
			if sm.IsReceipt() {
				sm.ParseReceipt()
			}
			if _, ud, err := ParseUDH(sm.UserData()); err == nil {
				DecodeText(sm.DataCoding, ud)
			}
			sm.SAR()
		default:
			DecodeBody(fr)
		}
	})
}
