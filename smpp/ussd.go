package smpp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/fiorix/go-smpp/smpp/pdu"
	"github.com/fiorix/go-smpp/smpp/pdu/pdutlv"

	"github.com/carrierbill/carrierbill/redact"
)

// USSD over SMPP 3.4: a deliver_sm carrying the ussd_service_op TLV
// (0x0501) is a USSD message, not an SMS. The session hands it to the
// USSDConsumer (Options.USSD) under the same contract as an MO: the
// deliver_sm_resp is written only after ConsumeUSSD returned, ESME_ROK
// when it stored the message, ESME_RX_T_APPN (0x64) when it did not. The
// gateway answers with SubmitUSSD: a submit_sm carrying ussd_service_op
// (2 USSR request to continue, 17 PSSR response to close) and the
// dialog's session TLVs echoed back. Which op codes mean what is the USSD
// channel's configuration (vendors differ); this file only carries them.
//
// Without a USSDConsumer a deliver_sm with ussd_service_op is handled like
// any MO, as before.

// The ussd_service_op values of SMPP 3.4 (5.3.2.44).
const (
	USSDPSSDIndication byte = 0
	USSDPSSRIndication byte = 1 // the subscriber dialled: a dialog opens
	USSDUSSRRequest    byte = 2 // the application asks and waits: continue
	USSDUSSNRequest    byte = 3
	USSDPSSDResponse   byte = 16
	USSDPSSRResponse   byte = 17 // the application's last screen: close
	USSDUSSRConfirm    byte = 18 // the subscriber's answer
	USSDUSSNConfirm    byte = 19
)

// USSD is one inbound USSD message.
type USSD struct {
	Bind        string
	From        string // source_addr as sent
	SourceTON   byte
	SourceNPI   byte
	To          string // destination_addr: the USSD service code
	ServiceType string
	Op          byte   // ussd_service_op
	Text        string // decoded user data (the dialled string, or the answer)
	// SessionInfo is the its_session_info TLV (0x1383) as sent, nil when
	// absent. UserMessageRef is user_message_reference (0x0204), -1 when
	// absent. Either may key the dialog, by configuration.
	SessionInfo    []byte
	UserMessageRef int
	ReceivedAt     time.Time
}

// USSDConsumer takes USSD messages. The contract is Consumer.ConsumeMO's:
// nil only once the message is durably stored; it must be safe for
// concurrent use and do nothing beyond storing.
type USSDConsumer interface {
	ConsumeUSSD(ctx context.Context, m USSD) error
}

// USSDReply is one screen sent to a dialog.
type USSDReply struct {
	Bind        string // the bind the dialog came in on ("" or down: any bind)
	From        string // source_addr: the service code
	To          string // the subscriber, as the SMSC sent it
	ServiceType string // "USSD" where the SMSC wants it
	Op          byte
	Text        string
	// SessionInfo and UserMessageRef are echoed from the dialog (nil / -1:
	// not sent).
	SessionInfo    []byte
	UserMessageRef int
}

// ErrUSSDTooLong: a USSD screen must fit one short_message.
var ErrUSSDTooLong = errors.New("USSD screen does not fit one message")

// USSDOp returns the ussd_service_op TLV of sm: ok false when absent, and
// valid false when present with a length other than one octet.
func (sm *SM) USSDOp() (op byte, ok, valid bool) {
	if _, ok = sm.TLVs[pdutlv.TagUssdServiceOp]; !ok {
		return 0, false, false
	}
	b := sm.tlvBytes(pdutlv.TagUssdServiceOp)
	if len(b) != 1 {
		return 0, true, false
	}
	return b[0], true, true
}

// USSDSession returns the its_session_info (nil when absent) and
// user_message_reference (-1 when absent or malformed) TLVs of sm.
func (sm *SM) USSDSession() (info []byte, umr int) {
	umr = -1
	if b := sm.tlvBytes(pdutlv.TagItsSessionInfo); b != nil {
		info = append([]byte(nil), b...)
	}
	if b := sm.tlvBytes(pdutlv.TagUserMessageReference); len(b) == 2 {
		umr = int(binary.BigEndian.Uint16(b))
	}
	return info, umr
}

// SetUSSD sets the USSD TLVs of sm: ussd_service_op, and its_session_info
// and user_message_reference when given (nil / negative: left out).
func (sm *SM) SetUSSD(op byte, info []byte, umr int) {
	if sm.TLVs == nil {
		sm.TLVs = pdutlv.Map{}
	}
	sm.TLVs[pdutlv.TagUssdServiceOp] = pdutlv.NewTLV(pdutlv.TagUssdServiceOp, []byte{op})
	if info != nil {
		sm.TLVs[pdutlv.TagItsSessionInfo] = pdutlv.NewTLV(pdutlv.TagItsSessionInfo, append([]byte(nil), info...))
	}
	if umr >= 0 && umr <= 0xFFFF {
		sm.TLVs[pdutlv.TagUserMessageReference] = pdutlv.NewTLV(pdutlv.TagUserMessageReference, binary.BigEndian.AppendUint16(nil, uint16(umr)))
	}
}

// processUSSD hands a USSD deliver_sm to the USSDConsumer and returns the
// status to answer with.
func (b *bind) processUSSD(ctx context.Context, sm *SM, now time.Time, log *slog.Logger) pdu.Status {
	op, _, valid := sm.USSDOp()
	if !valid {
		log.Warn("smpp: USSD message with a malformed ussd_service_op rejected", "from", redact.Phone(sm.Src))
		return StatusOptPart
	}
	if err := sm.CheckPayload(); err != nil {
		log.Warn("smpp: USSD message with both short_message and message_payload rejected", "from", redact.Phone(sm.Src))
		return StatusOptNotAllowed
	}
	data := sm.UserData()
	text, err := DecodeText(sm.DataCoding, data)
	if err != nil {
		log.Warn("smpp: USSD text decoded with errors", "from", redact.Phone(sm.Src), "coding", sm.DataCoding, "len", len(data), "err", err)
	}
	info, umr := sm.USSDSession()
	m := USSD{Bind: b.cfg.Name, From: sm.Src, SourceTON: sm.SrcTON, SourceNPI: sm.SrcNPI, To: sm.Dst, ServiceType: sm.ServiceType,
		Op: op, Text: text, SessionInfo: info, UserMessageRef: umr, ReceivedAt: now}
	if err := b.store(ctx, func(ctx context.Context) error { return b.c.ussd.ConsumeUSSD(ctx, m) }); err != nil {
		log.Warn("smpp: storing a USSD message failed, answering 0x64", "from", redact.Phone(sm.Src), "op", op, "err", err)
		return StatusRxTApp
	}
	return StatusOK
}

// EncodeUSSDText encodes a screen for one short_message: GSM 7-bit (one
// septet per octet) when every character fits, UCS2 otherwise. It fails
// when the result exceeds the 254 octets of short_message.
func EncodeUSSDText(text string) (coding byte, b []byte, err error) {
	if g, ok := EncodeGSM7(text); ok {
		coding, b = CodingDefault, g
	} else {
		coding, b = CodingUCS2, EncodeUCS2(text)
	}
	if len(b) > 254 {
		return 0, nil, fmt.Errorf("%w: %d octets", ErrUSSDTooLong, len(b))
	}
	return coding, b, nil
}

// SubmitUSSD sends one USSD screen as a submit_sm on the bind the dialog
// came in on (any bound transmitting link when that bind is down) and
// returns the SMSC's message_id. Statuses and retries as Submit; a screen
// is never split.
func (c *Client) SubmitUSSD(ctx context.Context, r USSDReply) (string, error) {
	coding, data, err := EncodeUSSDText(r.Text)
	if err != nil {
		return "", err
	}
	for {
		cn := c.linkOf(r.Bind)
		if cn == nil {
			if cn, err = c.sender(ctx); err != nil {
				return "", fmt.Errorf("submitting a USSD screen: %w", err)
			}
		}
		cfg := cn.l.cfg
		sm := &SM{ServiceType: r.ServiceType, Src: r.From, Dst: r.To, DataCoding: coding, ShortMessage: data,
			SrcTON: cfg.SourceTON, SrcNPI: cfg.SourceNPI, DstTON: cfg.DestTON, DstNPI: cfg.DestNPI}
		sm.SetUSSD(r.Op, r.SessionInfo, r.UserMessageRef)
		id, sent, err := cn.submit(ctx, sm)
		if err == nil {
			return id, nil
		}
		var se *StatusError
		switch {
		case errors.As(err, &se) && (se.Status == StatusThrottled || se.Status == StatusMsgQFull):
			t := time.NewTimer(cfg.RetryDelay)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return "", fmt.Errorf("submitting a USSD screen after %v: %w", se, ctx.Err())
			}
		case !sent && errors.Is(err, ErrLinkLost):
		default:
			return "", fmt.Errorf("submitting a USSD screen: %w", err)
		}
	}
}

// linkOf returns a bound transmitting connection of the bind named name,
// or nil.
func (c *Client) linkOf(name string) *conn {
	if name == "" {
		return nil
	}
	for _, l := range c.links {
		if l.b.cfg.Name != name || l.role == pdu.BindReceiverID {
			continue
		}
		if cn := l.current(); cn != nil && !isDead(cn) {
			return cn
		}
	}
	return nil
}
