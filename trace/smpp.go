package trace

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/fiorix/go-smpp/smpp/pdu"
	"github.com/fiorix/go-smpp/smpp/pdu/pdufield"
	"github.com/fiorix/go-smpp/smpp/pdu/pdutext"
	"github.com/fiorix/go-smpp/smpp/pdu/pdutlv"
)

// maxPDU bounds the command_length the stream parser accepts, so a stream
// that only looks like SMPP cannot make it buffer without end. SMPP 3.4
// puts no limit on it; 64 KiB covers a message_payload of any real message.
const maxPDU = 64 << 10

// SMPP TLV tags this package reads.
const (
	tagSarMsgRefNum      pdutlv.Tag = 0x020C
	tagSarTotalSegments  pdutlv.Tag = 0x020E
	tagSarSegmentSeqnum  pdutlv.Tag = 0x020F
	tagMessagePayload    pdutlv.Tag = 0x0424
	esmUDHI                         = 0x40
	esmMessageTypeMask              = 0x3C // delivery receipt, SME ack, intermediate notification…
	requestStatusMustBe0            = 0
	responseBit          uint32     = 0x80000000
)

// pduHeader is the 16-octet SMPP header.
type pduHeader struct {
	Len    uint32
	ID     pdu.ID
	Status uint32
	Seq    uint32
}

func parseHeader(b []byte) pduHeader {
	return pduHeader{
		Len:    binary.BigEndian.Uint32(b[0:4]),
		ID:     pdu.ID(binary.BigEndian.Uint32(b[4:8])),
		Status: binary.BigEndian.Uint32(b[8:12]),
		Seq:    binary.BigEndian.Uint32(b[12:16]),
	}
}

// sane reports whether a header can frame a PDU.
func (h pduHeader) sane() bool {
	return h.Len >= pdu.HeaderLen && h.Len <= maxPDU
}

// looksLikeSMPP is the stricter test used to recognize an SMPP stream and
// to find the next PDU after lost data: a sane length, a command_id SMPP 3.4
// defines, and a zero command_status on a request.
func (h pduHeader) looksLikeSMPP() bool {
	if !h.sane() || h.ID.String() == "" || h.Seq == 0 {
		return false
	}
	if uint32(h.ID)&responseBit == 0 && h.Status != requestStatusMustBe0 {
		return false
	}
	return true
}

// pduName names a command for Stats.Ignored.
func pduName(id pdu.ID) string {
	if s := id.String(); s != "" {
		return "pdu_" + strings.ToLower(s)
	}
	return fmt.Sprintf("pdu_%#08x", uint32(id))
}

// decodePDU turns one whole PDU into a record. ignored names a PDU that is
// not a message (it is counted, not an error). The PDU goes through
// fiorix/go-smpp's pdu.Decode; its quirks are worked around here:
//   - for deliver_sm with UDHI it parses the UDH itself, expecting it in
//     short_message, and misreads the TLVs when the message is in
//     message_payload; submit_sm it does not split at all. So the UDHI bit is
//     cleared in a copy before decoding and the UDH is split off here, the
//     same way for both commands and for message_payload;
//   - it is third-party code on network input: a panic is turned into a
//     bad_pdu error.
func decodePDU(b []byte) (rec Record, ignored string, err error) {
	h := parseHeader(b)
	var kind Kind
	switch h.ID {
	case pdu.DeliverSMID:
		kind = MO
	case pdu.SubmitSMID:
		kind = MT
	default:
		return Record{}, pduName(h.ID), nil
	}
	if len(b) > pdu.MaxSize {
		return Record{}, "", fmt.Errorf("%v of %d octets: longer than the codec's %d", h.ID, len(b), pdu.MaxSize)
	}
	esmAt, ok := esmClassOffset(b)
	if !ok {
		return Record{}, "", fmt.Errorf("%v: body ends before esm_class", h.ID)
	}
	esm := b[esmAt]
	if kind == MO && esm&esmMessageTypeMask != 0 {
		return Record{}, "delivery_receipt", nil
	}
	nb := append([]byte(nil), b...)
	nb[esmAt] &^= esmUDHI

	body, err := safeDecode(nb)
	if err != nil {
		return Record{}, "", fmt.Errorf("decoding %v: %w", h.ID, err)
	}
	f := body.Fields()
	src, okS := f[pdufield.SourceAddr]
	dst, okD := f[pdufield.DestinationAddr]
	dc, okC := f[pdufield.DataCoding]
	sm, okM := f[pdufield.ShortMessage]
	if !okS || !okD || !okC || !okM || src == nil || dst == nil || dc == nil || sm == nil {
		return Record{}, "", fmt.Errorf("%v: body ends before short_message", h.ID)
	}
	rec = Record{
		Kind:   kind,
		From:   normalizeAddr(src.String()),
		To:     normalizeAddr(dst.String()),
		Coding: dc.Bytes()[0],
		SeqNum: h.Seq,
	}
	msg := sm.Bytes()
	tlvs := body.TLVFields()
	if p, ok := tlvs[tagMessagePayload]; ok && p != nil && len(msg) == 0 {
		msg = p.Bytes()
	}
	rec.Payload = append([]byte(nil), msg...)
	ud := rec.Payload
	if esm&esmUDHI != 0 {
		if len(ud) < 1 || int(ud[0])+1 > len(ud) {
			return Record{}, "", fmt.Errorf("%v: UDH longer than the message", h.ID)
		}
		n := int(ud[0]) + 1
		rec.UDH, ud = ud[:n:n], ud[n:]
	}
	rec.Text = decodeText(rec.Coding, ud)
	rec.SAR = sarOf(tlvs)
	return rec, "", nil
}

func safeDecode(b []byte) (body pdu.Body, err error) {
	defer func() {
		if p := recover(); p != nil {
			body, err = nil, fmt.Errorf("codec panic: %v", p)
		}
	}()
	body, err = pdu.Decode(bytes.NewReader(b))
	if err == nil && body == nil {
		err = errors.New("codec returned nothing")
	}
	return body, err
}

// esmClassOffset finds esm_class in a submit_sm or deliver_sm: after
// service_type, source TON/NPI/address and destination TON/NPI/address.
func esmClassOffset(b []byte) (int, bool) {
	i := pdu.HeaderLen
	skipCString := func() bool {
		j := bytes.IndexByte(b[i:], 0)
		if j < 0 {
			return false
		}
		i += j + 1
		return true
	}
	if !skipCString() {
		return 0, false
	}
	i += 2
	if i > len(b) || !skipCString() {
		return 0, false
	}
	i += 2
	if i > len(b) || !skipCString() {
		return 0, false
	}
	if i >= len(b) {
		return 0, false
	}
	return i, true
}

func sarOf(t pdutlv.Map) *SAR {
	ref, ok1 := t[tagSarMsgRefNum]
	tot, ok2 := t[tagSarTotalSegments]
	seq, ok3 := t[tagSarSegmentSeqnum]
	if !ok1 || !ok2 || !ok3 || ref == nil || tot == nil || seq == nil {
		return nil
	}
	r, n, s := ref.Bytes(), tot.Bytes(), seq.Bytes()
	if len(r) != 2 || len(n) != 1 || len(s) != 1 {
		return nil
	}
	return &SAR{Ref: binary.BigEndian.Uint16(r), Total: n[0], Seq: s[0]}
}

// alphabet of a data_coding (3GPP TS 23.038 and SMPP 3.4 5.2.19).
type alphabet int

const (
	alphaGSM7 alphabet = iota
	alphaLatin1
	alphaUCS2
	alphaCyrillic
	alphaBinary
)

func alphabetOf(dc byte) alphabet {
	switch {
	case dc == 0x00:
		return alphaGSM7
	case dc == 0x01 || dc == 0x03: // IA5 (ASCII) is a subset of Latin-1
		return alphaLatin1
	case dc == 0x06:
		return alphaCyrillic
	case dc == 0x08:
		return alphaUCS2
	case dc < 0x10:
		return alphaBinary // 8-bit data, JIS, Hebrew, pictograms…: no text here
	case dc < 0x40: // general data coding, uncompressed when bit 5 is clear
		if dc&0x20 != 0 {
			return alphaBinary
		}
		switch dc & 0x0C {
		case 0x00:
			return alphaGSM7
		case 0x08:
			return alphaUCS2
		}
		return alphaBinary
	case dc >= 0xC0 && dc < 0xE0: // message waiting, GSM 7-bit
		return alphaGSM7
	case dc >= 0xE0 && dc < 0xF0: // message waiting, UCS2
		return alphaUCS2
	case dc >= 0xF0:
		if dc&0x04 != 0 {
			return alphaBinary
		}
		return alphaGSM7
	}
	return alphaBinary
}

// decodeText decodes user data (without its UDH) to UTF-8. Binary data
// gives "" (the octets stay in Record.Payload). It never fails: what does
// not decode becomes U+FFFD.
func decodeText(dc byte, b []byte) string {
	if len(b) == 0 {
		return ""
	}
	switch alphabetOf(dc) {
	case alphaGSM7:
		return validUTF8(pdutext.GSM7(b).Decode())
	case alphaLatin1:
		return decodeLatin1(b)
	case alphaUCS2:
		return decodeUCS2(b)
	case alphaCyrillic:
		return validUTF8(pdutext.ISO88595(b).Decode())
	}
	return ""
}

// decodeLatin1 is ISO-8859-1 proper (pdutext.Latin1 is Windows-1252, which
// differs in 0x80–0x9F).
func decodeLatin1(b []byte) string {
	var sb strings.Builder
	sb.Grow(len(b))
	for _, c := range b {
		sb.WriteRune(rune(c))
	}
	return sb.String()
}

// decodeUCS2 decodes big-endian UTF-16 (UCS2 with surrogate pairs, as
// phones send emoji).
func decodeUCS2(b []byte) string {
	return validUTF8(pdutext.UCS2(b).Decode())
}

func validUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}
