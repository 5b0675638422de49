package smsc

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/fiorix/go-smpp/smpp/pdu"

	"github.com/carrierbill/carrierbill/smpp"
)

// USSD: the simulator opens dialogs as a subscriber's network would
// (deliver_sm with ussd_service_op), answers the gateway's screens and
// records them. A submit_sm carrying ussd_service_op is a USSD screen: it
// is kept apart from the SMS MTs (USSDScreens, Dialog.Next), gets no
// receipt, and never shows in MTs.

// USSDScreen is one screen the gateway sent to a dialog.
type USSDScreen struct {
	SystemID       string
	From, To       string
	ServiceType    string
	Op             byte // 2 continue, 17 close (or the vendor's codes)
	Text           string
	DataCoding     byte
	Octets         int // length of the short_message
	SessionInfo    []byte
	UserMessageRef int
}

// DialogOptions are a vendor's USSD variant. The zero value is SMPP 3.4:
// keyed by its_session_info, 1 opens, 18 answers, no abort.
type DialogOptions struct {
	SystemID string // bind to deliver on; "" any
	// KeyUMR keys the dialog by user_message_reference (plus source_addr)
	// instead of its_session_info.
	KeyUMR bool
	// OpenOp, AnswerOp and AbortOp override 1, 18 and 0x81.
	OpenOp, AnswerOp, AbortOp byte
	ServiceType               string
	// Seq fixes the dialog's session number (0: the next one; 1..255 for
	// its_session_info, which has one octet for it).
	Seq uint16
}

// Dialog is one USSD dialog the simulator opened.
type Dialog struct {
	s        *Server
	o        DialogOptions
	From, To string
	Seq      uint16
	seen     int // screens already returned by Next
}

var dialogSeq atomic.Uint32

// OpenUSSD dials text (for example "*100#") from the subscriber from to the
// service code to and returns the dialog and the gateway's answer status.
func (s *Server) OpenUSSD(ctx context.Context, from, to, text string, o DialogOptions) (*Dialog, pdu.Status, error) {
	if o.OpenOp == 0 {
		o.OpenOp = smpp.USSDPSSRIndication
	}
	if o.AnswerOp == 0 {
		o.AnswerOp = smpp.USSDUSSRConfirm
	}
	if o.AbortOp == 0 {
		o.AbortOp = 0x81
	}
	seq := o.Seq
	if seq == 0 {
		seq = uint16(dialogSeq.Add(1)%255 + 1)
	}
	d := &Dialog{s: s, o: o, From: from, To: to, Seq: seq}
	s.mu.Lock()
	for _, sc := range s.ussd { // screens of an earlier dialog with the same key are not ours
		if d.ours(sc) {
			d.seen++
		}
	}
	s.mu.Unlock()
	st, err := d.send(ctx, o.OpenOp, text)
	return d, st, err
}

// Answer sends the subscriber's answer.
func (d *Dialog) Answer(ctx context.Context, text string) (pdu.Status, error) {
	return d.send(ctx, d.o.AnswerOp, text)
}

// Abort sends the network's user-abort.
func (d *Dialog) Abort(ctx context.Context) (pdu.Status, error) {
	return d.send(ctx, d.o.AbortOp, "")
}

// Send sends a message of any op in the dialog (tests of odd input).
func (d *Dialog) Send(ctx context.Context, op byte, text string) (pdu.Status, error) {
	return d.send(ctx, op, text)
}

func (d *Dialog) send(ctx context.Context, op byte, text string) (pdu.Status, error) {
	coding, data, err := smpp.EncodeUSSDText(text)
	if err != nil {
		return 0, err
	}
	sm := &smpp.SM{ServiceType: d.o.ServiceType, Src: d.From, Dst: d.To, DataCoding: coding, ShortMessage: data}
	if d.o.KeyUMR {
		sm.SetUSSD(op, nil, int(d.Seq))
	} else {
		// its_session_info: octet 1 the session number, octet 2 the
		// sequence number and the end flag.
		sm.SetUSSD(op, []byte{byte(d.Seq), 0}, -1)
	}
	return d.s.Deliver(ctx, d.o.SystemID, sm, 0)
}

// ours reports whether a screen belongs to the dialog.
func (d *Dialog) ours(sc USSDScreen) bool {
	if sc.To != d.From {
		return false
	}
	if d.o.KeyUMR {
		return sc.UserMessageRef == int(d.Seq)
	}
	return len(sc.SessionInfo) == 2 && sc.SessionInfo[0] == byte(d.Seq)
}

// Next waits for the dialog's next screen.
func (d *Dialog) Next(ctx context.Context) (USSDScreen, error) {
	s := d.s
	for {
		s.mu.Lock()
		n := 0
		for _, sc := range s.ussd {
			if !d.ours(sc) {
				continue
			}
			n++
			if n > d.seen {
				d.seen = n
				s.mu.Unlock()
				return sc, nil
			}
		}
		ch := s.mtChanged
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return USSDScreen{}, fmt.Errorf("smsc: waiting for USSD screen #%d of dialog %d: %w", d.seen+1, d.Seq, ctx.Err())
		}
	}
}

// USSDScreens returns every USSD screen received, in order.
func (s *Server) USSDScreens() []USSDScreen {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]USSDScreen(nil), s.ussd...)
}

// addUSSD records sm as a USSD screen when it carries ussd_service_op
// (s.mu held) and reports whether it did.
func (s *Server) addUSSD(sysID string, sm *smpp.SM) bool {
	op, ok, _ := sm.USSDOp()
	if !ok {
		return false
	}
	info, umr := sm.USSDSession()
	text, _ := smpp.DecodeText(sm.DataCoding, sm.UserData())
	s.ussd = append(s.ussd, USSDScreen{SystemID: sysID, From: sm.Src, To: sm.Dst, ServiceType: sm.ServiceType, Op: op, Text: text,
		DataCoding: sm.DataCoding, Octets: len(sm.UserData()), SessionInfo: info, UserMessageRef: umr})
	s.changed()
	return true
}

// Dialog returns a handle on a dialog opened elsewhere (before a restart
// of the gateway, on another simulator) to answer it; nothing is sent.
func (s *Server) Dialog(from, to string, seq uint16, o DialogOptions) *Dialog {
	if o.AnswerOp == 0 {
		o.AnswerOp = smpp.USSDUSSRConfirm
	}
	if o.AbortOp == 0 {
		o.AbortOp = 0x81
	}
	d := &Dialog{s: s, o: o, From: from, To: to, Seq: seq}
	s.mu.Lock()
	for _, sc := range s.ussd {
		if d.ours(sc) {
			d.seen++
		}
	}
	s.mu.Unlock()
	return d
}
