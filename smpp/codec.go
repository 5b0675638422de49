package smpp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/fiorix/go-smpp/smpp/pdu"
	"github.com/fiorix/go-smpp/smpp/pdu/pdufield"
	"github.com/fiorix/go-smpp/smpp/pdu/pdutlv"
)

// Command statuses the session produces or branches on.
const (
	StatusOK          pdu.Status = 0x00000000 // ESME_ROK
	StatusInvMsgLen   pdu.Status = 0x00000001 // ESME_RINVMSGLEN
	StatusInvCmdLen   pdu.Status = 0x00000002 // ESME_RINVCMDLEN
	StatusInvCmdID    pdu.Status = 0x00000003 // ESME_RINVCMDID
	StatusInvBindStat pdu.Status = 0x00000004 // ESME_RINVBNDSTS
	StatusSysErr      pdu.Status = 0x00000008 // ESME_RSYSERR
	StatusBindFail    pdu.Status = 0x0000000D // ESME_RBINDFAIL
	StatusInvPaswd    pdu.Status = 0x0000000E // ESME_RINVPASWD
	StatusInvSysID    pdu.Status = 0x0000000F // ESME_RINVSYSID
	StatusMsgQFull    pdu.Status = 0x00000014 // ESME_RMSGQFUL
	StatusThrottled   pdu.Status = 0x00000058 // ESME_RTHROTTLED
	StatusRxTApp      pdu.Status = 0x00000064 // ESME_RX_T_APPN: temporary, the SMSC redelivers
	StatusOptPart     pdu.Status = 0x000000C0 // ESME_RINVOPTPARSTREAM
	// StatusOptNotAllowed is ESME_ROPTPARNOTALLWD: answered to a message
	// carrying message_payload beside a non-empty short_message.
	StatusOptNotAllowed pdu.Status = 0x000000C1
)

// StatusError is a non-zero command_status the SMSC answered to a request.
// Submit returns it for every status except the retried ones (throttled,
// queue full).
type StatusError struct {
	Command string     // e.g. "submit_sm"
	Status  pdu.Status // the command_status
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s: status %#08x (%s)", e.Command, uint32(e.Status), e.Status.Error())
}

// Temporary reports whether retrying later may succeed.
func (e *StatusError) Temporary() bool {
	return e.Status == StatusThrottled || e.Status == StatusMsgQFull || e.Status == StatusRxTApp
}

// DefaultMaxPDU is the largest command_length a session accepts: room for a
// 64 KiB message_payload. A longer PDU cannot be trusted to resynchronize
// the stream, so the link is dropped.
const DefaultMaxPDU = 70000

// ErrFraming means the byte stream cannot be resynchronized (command_length
// below 16 or above the maximum): the link must be dropped.
var ErrFraming = errors.New("SMPP framing lost")

// Frame is one PDU as it travels: the header and the raw body.
type Frame struct {
	ID     pdu.ID
	Status pdu.Status
	Seq    uint32
	Body   []byte
}

// IsResp reports whether the frame is a response (command_id bit 31).
func (f Frame) IsResp() bool { return f.ID&0x80000000 != 0 }

// ReadFrame reads one PDU. A command_length outside 16..max is ErrFraming.
// It never allocates more than max bytes.
func ReadFrame(r io.Reader, max int) (Frame, error) {
	var h [16]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return Frame{}, err
	}
	n := binary.BigEndian.Uint32(h[0:4])
	f := Frame{
		ID:     pdu.ID(binary.BigEndian.Uint32(h[4:8])),
		Status: pdu.Status(binary.BigEndian.Uint32(h[8:12])),
		Seq:    binary.BigEndian.Uint32(h[12:16]),
	}
	if n < 16 || int64(n) > int64(max) {
		return f, fmt.Errorf("%w: command_length %d (command %#08x)", ErrFraming, n, uint32(f.ID))
	}
	f.Body = make([]byte, n-16)
	if _, err := io.ReadFull(r, f.Body); err != nil {
		return f, err
	}
	return f, nil
}

// AppendFrame appends the wire form of f to b.
func AppendFrame(b []byte, f Frame) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(16+len(f.Body)))
	b = binary.BigEndian.AppendUint32(b, uint32(f.ID))
	b = binary.BigEndian.AppendUint32(b, uint32(f.Status))
	b = binary.BigEndian.AppendUint32(b, f.Seq)
	return append(b, f.Body...)
}

// EncodeBody serializes a go-smpp PDU and returns it as a Frame with the
// given sequence number (the library's own global counter is never used).
func EncodeBody(p pdu.Body, seq uint32) (Frame, error) {
	p.Header().Seq = seq
	var buf bytes.Buffer
	if err := p.SerializeTo(&buf); err != nil {
		return Frame{}, fmt.Errorf("encoding %s: %w", p.Header().ID, err)
	}
	b := buf.Bytes()
	return Frame{ID: p.Header().ID, Status: p.Header().Status, Seq: seq, Body: b[16:]}, nil
}

// DecodeBody decodes a frame with the go-smpp codec (bind, bind_resp,
// submit_sm_resp, ...). Use DecodeSM for submit_sm, deliver_sm and data_sm.
func DecodeBody(f Frame) (pdu.Body, error) {
	if 16+len(f.Body) > pdu.MaxSize {
		return nil, fmt.Errorf("decoding %#08x: %d bytes is beyond the codec's limit", uint32(f.ID), len(f.Body))
	}
	return pdu.Decode(bytes.NewReader(AppendFrame(make([]byte, 0, 16+len(f.Body)), f)))
}

// SM is the body of submit_sm, deliver_sm or data_sm. ShortMessage keeps the
// UDH, if any (see ParseUDH). For data_sm the fields it lacks stay zero.
type SM struct {
	ServiceType        string
	SrcTON, SrcNPI     byte
	Src                string
	DstTON, DstNPI     byte
	Dst                string
	ESMClass           byte
	ProtocolID         byte
	Priority           byte
	ScheduleDelivery   string
	Validity           string
	RegisteredDelivery byte
	ReplaceIfPresent   byte
	DataCoding         byte
	DefaultMsgID       byte
	ShortMessage       []byte
	TLVs               pdutlv.Map
}

// ErrMalformed is wrapped by DecodeSM for bodies that do not parse.
var ErrMalformed = errors.New("malformed PDU body")

type bodyReader struct {
	b   []byte
	err error
}

func (r *bodyReader) cstring(max int) string {
	if r.err != nil {
		return ""
	}
	i := bytes.IndexByte(r.b, 0)
	if i < 0 || i > max {
		r.err = fmt.Errorf("%w: C-octet string unterminated or longer than %d", ErrMalformed, max)
		return ""
	}
	s := string(r.b[:i])
	r.b = r.b[i+1:]
	return s
}

func (r *bodyReader) byte1() byte {
	if r.err != nil {
		return 0
	}
	if len(r.b) < 1 {
		r.err = fmt.Errorf("%w: body ends early", ErrMalformed)
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *bodyReader) bytesN(n int) []byte {
	if r.err != nil {
		return nil
	}
	if len(r.b) < n {
		r.err = fmt.Errorf("%w: sm_length %d beyond the body (%d left)", ErrMalformed, n, len(r.b))
		return nil
	}
	b := r.b[:n:n]
	r.b = r.b[n:]
	return b
}

// DecodeSM decodes the body of a submit_sm, deliver_sm or data_sm. Unknown
// TLVs are kept in TLVs; a truncated TLV is an error wrapping ErrMalformed.
// It never panics.
func DecodeSM(id pdu.ID, body []byte) (*SM, error) {
	r := &bodyReader{b: body}
	sm := &SM{}
	sm.ServiceType = r.cstring(6)
	sm.SrcTON, sm.SrcNPI = r.byte1(), r.byte1()
	sm.Src = r.cstring(65)
	sm.DstTON, sm.DstNPI = r.byte1(), r.byte1()
	sm.Dst = r.cstring(65)
	sm.ESMClass = r.byte1()
	switch id {
	case pdu.SubmitSMID, pdu.DeliverSMID:
		sm.ProtocolID, sm.Priority = r.byte1(), r.byte1()
		sm.ScheduleDelivery = r.cstring(17)
		sm.Validity = r.cstring(17)
		sm.RegisteredDelivery, sm.ReplaceIfPresent = r.byte1(), r.byte1()
		sm.DataCoding, sm.DefaultMsgID = r.byte1(), r.byte1()
		n := r.byte1()
		sm.ShortMessage = r.bytesN(int(n))
	case pdu.DataSMID:
		sm.RegisteredDelivery, sm.DataCoding = r.byte1(), r.byte1()
	default:
		return nil, fmt.Errorf("decoding %#08x as a short message: wrong command", uint32(id))
	}
	if r.err != nil {
		return nil, fmt.Errorf("decoding %s: %w", id, r.err)
	}
	buf := bytes.NewBuffer(r.b)
	tlvs, err := pdutlv.DecodeTLV(buf)
	if err != nil {
		return nil, fmt.Errorf("decoding %s TLVs: %w: %v", id, ErrMalformed, err)
	}
	if buf.Len() != 0 {
		return nil, fmt.Errorf("decoding %s TLVs: %w: %d stray bytes", id, ErrMalformed, buf.Len())
	}
	sm.TLVs = tlvs
	return sm, nil
}

// tlvBytes returns the raw value of a TLV, or nil.
func (sm *SM) tlvBytes(t pdutlv.Tag) []byte {
	if f, ok := sm.TLVs[t]; ok && f != nil {
		return f.Bytes()
	}
	return nil
}

// UserData returns the message bytes: short_message, or message_payload when
// short_message is empty.
func (sm *SM) UserData() []byte {
	if len(sm.ShortMessage) == 0 {
		if p := sm.tlvBytes(pdutlv.TagMessagePayload); p != nil {
			return p
		}
	}
	return sm.ShortMessage
}

// ErrBothPayloads: short_message and message_payload are both set, which
// SMPP 3.4 (5.3.2.32) calls an error; neither may be dropped silently.
var ErrBothPayloads = errors.New("short_message and message_payload both set")

// CheckPayload reports ErrBothPayloads when short_message is not empty and
// a message_payload TLV is present.
func (sm *SM) CheckPayload() error {
	if len(sm.ShortMessage) > 0 && sm.tlvBytes(pdutlv.TagMessagePayload) != nil {
		return fmt.Errorf("%w: sm_length %d", ErrBothPayloads, len(sm.ShortMessage))
	}
	return nil
}

// SAR returns the concatenation info of the SAR TLVs. present reports
// whether any of sar_msg_ref_num, sar_total_segments, sar_segment_seqnum
// is there; err is set (wrapping ErrUDHBadConcat) when they are present but
// one is missing or malformed, or the sequence number lies outside
// 1..total: such a part is refused like a bad UDH, never taken whole.
func (sm *SM) SAR() (c Concat, present bool, err error) {
	ref, tot, seq := sm.tlvBytes(pdutlv.TagSarMsgRefNum), sm.tlvBytes(pdutlv.TagSarTotalSegments), sm.tlvBytes(pdutlv.TagSarSegmentSeqnum)
	_, hasRef := sm.TLVs[pdutlv.TagSarMsgRefNum]
	_, hasTot := sm.TLVs[pdutlv.TagSarTotalSegments]
	_, hasSeq := sm.TLVs[pdutlv.TagSarSegmentSeqnum]
	if !hasRef && !hasTot && !hasSeq {
		return Concat{}, false, nil
	}
	if len(ref) != 2 || len(tot) != 1 || len(seq) != 1 {
		return Concat{}, true, fmt.Errorf("%w: SAR TLVs incomplete or malformed (ref %d, total %d, seqnum %d bytes)",
			ErrUDHBadConcat, len(ref), len(tot), len(seq))
	}
	c = Concat{Ref: binary.BigEndian.Uint16(ref), Total: int(tot[0]), Seq: int(seq[0])}
	return c, true, c.Validate()
}

// EncodeSubmitSM builds a submit_sm with the go-smpp codec.
func (sm *SM) EncodeSubmitSM(seq uint32) (Frame, error) {
	p := pdu.NewSubmitSM(nil)
	sm.setFields(p.Fields())
	sm.setTLVs(p)
	return EncodeBody(p, seq)
}

// EncodeDeliverSM builds a deliver_sm with the go-smpp codec. At the pinned
// version pdu.NewDeliverSM() serializes a stray udh_length byte unless its
// UDH length and user data fields are set: they are set here to empty
// fields, and short_message carries the UDH itself.
func (sm *SM) EncodeDeliverSM(seq uint32) (Frame, error) {
	p := pdu.NewDeliverSM()
	f := p.Fields()
	sm.setFields(f)
	f[pdufield.UDHLength] = &pdufield.SM{}
	f[pdufield.GSMUserData] = &pdufield.SM{}
	sm.setTLVs(p)
	return EncodeBody(p, seq)
}

func (sm *SM) setFields(f pdufield.Map) {
	f.Set(pdufield.ServiceType, sm.ServiceType)
	f.Set(pdufield.SourceAddrTON, sm.SrcTON)
	f.Set(pdufield.SourceAddrNPI, sm.SrcNPI)
	f.Set(pdufield.SourceAddr, sm.Src)
	f.Set(pdufield.DestAddrTON, sm.DstTON)
	f.Set(pdufield.DestAddrNPI, sm.DstNPI)
	f.Set(pdufield.DestinationAddr, sm.Dst)
	f.Set(pdufield.ESMClass, sm.ESMClass)
	f.Set(pdufield.ProtocolID, sm.ProtocolID)
	f.Set(pdufield.PriorityFlag, sm.Priority)
	f.Set(pdufield.ScheduleDeliveryTime, sm.ScheduleDelivery)
	f.Set(pdufield.ValidityPeriod, sm.Validity)
	f.Set(pdufield.RegisteredDelivery, sm.RegisteredDelivery)
	f.Set(pdufield.ReplaceIfPresentFlag, sm.ReplaceIfPresent)
	f.Set(pdufield.DataCoding, sm.DataCoding)
	f.Set(pdufield.SMDefaultMsgID, sm.DefaultMsgID)
	f.Set(pdufield.ShortMessage, append([]byte{}, sm.ShortMessage...))
}

func (sm *SM) setTLVs(p pdu.Body) {
	for t, v := range sm.TLVs {
		p.TLVFields()[t] = v
	}
}

// Receipt is what a delivery receipt says, from its TLVs or its text.
type Receipt struct {
	MessageID string
	State     string
	Err       string
}

var messageStates = map[byte]string{
	1: "ENROUTE", 2: "DELIVRD", 3: "EXPIRED", 4: "DELETED",
	5: "UNDELIV", 6: "ACCEPTD", 7: "UNKNOWN", 8: "REJECTD",
}

// IsReceipt reports whether a deliver_sm/data_sm is a delivery receipt:
// esm_class message type 0x04 (SMSC delivery receipt) or 0x20
// (intermediate notification), or a receipted_message_id TLV.
func (sm *SM) IsReceipt() bool {
	t := sm.ESMClass & 0x3C
	return t == 0x04 || t == 0x20 || sm.tlvBytes(pdutlv.TagReceiptedMessageID) != nil
}

// ParseReceipt reads a receipt: receipted_message_id and message_state TLVs
// when present, else the "id:... sub:... stat:... err:..." text.
func (sm *SM) ParseReceipt() Receipt {
	t := ParseReceiptText(string(sm.UserData()))
	if id := sm.tlvBytes(pdutlv.TagReceiptedMessageID); id != nil {
		t.MessageID = strings.TrimRight(string(id), "\x00")
	}
	if st := sm.tlvBytes(pdutlv.TagMessageStateOption); len(st) == 1 {
		if s, ok := messageStates[st[0]]; ok {
			t.State = s
		}
	}
	if t.State == "" {
		t.State = "UNKNOWN"
	}
	return t
}

// ParseReceiptText reads the conventional receipt text (SMPP 3.4 appendix B):
// "id:IIII sub:SSS dlvrd:DDD submit date:... done date:... stat:DDDDDDD err:E text:...".
// Missing fields stay empty; it never panics.
func ParseReceiptText(s string) Receipt {
	var r Receipt
	field := func(key string) string {
		i := strings.Index(s, key)
		if i < 0 {
			return ""
		}
		v := s[i+len(key):]
		if j := strings.IndexByte(v, ' '); j >= 0 {
			v = v[:j]
		}
		return v
	}
	r.MessageID = field("id:")
	r.State = strings.ToUpper(field("stat:"))
	r.Err = field("err:")
	return r
}
