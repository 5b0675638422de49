package ocs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"
	"github.com/fiorix/go-diameter/v4/diam/dict"
)

// Diameter constants this package uses (RFC 6733, RFC 4006).
const (
	// AppCreditControl is the Diameter credit-control application id.
	AppCreditControl = 4
	// VendorTGPP is 3GPP's vendor id (Service-Information and its children).
	VendorTGPP = 10415

	headerLen = 20
	// maxFrame caps one Diameter message: a credit-control answer is a few
	// hundred bytes; a peer announcing more is broken or hostile.
	maxFrame = 64 << 10

	flagRequest    = diam.RequestFlag
	flagProxiable  = diam.ProxiableFlag
	flagError      = diam.ErrorFlag
	flagRetransmit = 1 << 4 // the T bit: a possibly retransmitted request

	cmdCapabilitiesExchange = diam.CapabilitiesExchange // 257
	cmdDeviceWatchdog       = diam.DeviceWatchdog       // 280
	cmdDisconnectPeer       = diam.DisconnectPeer       // 282
	cmdCreditControl        = diam.CreditControl        // 272

	// CC-Request-Type (RFC 4006 8.3).
	requestInitial     = 1
	requestUpdate      = 2
	requestTermination = 3
	requestEvent       = 4
	// Requested-Action REFUND_ACCOUNT (RFC 4006 8.41).
	actionRefundAccount = 1
	// Subscription-Id-Type END_USER_E164 (RFC 4006 8.47).
	subscriptionE164 = 0
	// Termination-Cause DIAMETER_LOGOUT (RFC 6733 8.15).
	terminationLogout = 1
	// CurrencyCode is ISO 4217's number for the renminbi.
	CurrencyCode = 156
	// moneyExponent: CC-Money is written in fen, Value-Digits × 10^-2 yuan.
	moneyExponent = -2
	// Service-Specific-Type values in Service-Information.
	specificMerchant = 1
	specificProduct  = 2
)

// frame is one Diameter message as read from the wire, before decoding:
// its header fields are known even when the body cannot be decoded.
type frame struct {
	flags    uint8
	code     uint32
	app      uint32
	hopByHop uint32
	endToEnd uint32
	raw      []byte // the whole message, header included
}

func (f frame) request() bool { return f.flags&flagRequest != 0 }

// readFrame reads one message off r. An error means the stream is no longer
// framed (or closed) and the connection must go.
func readFrame(r io.Reader) (frame, error) {
	var h [headerLen]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return frame{}, err
	}
	if h[0] != 1 {
		return frame{}, fmt.Errorf("diameter version %d, want 1", h[0])
	}
	n := int(h[1])<<16 | int(h[2])<<8 | int(h[3])
	if n < headerLen || n > maxFrame || n%4 != 0 {
		return frame{}, fmt.Errorf("diameter message length %d out of range", n)
	}
	raw := make([]byte, n)
	copy(raw, h[:])
	if _, err := io.ReadFull(r, raw[headerLen:]); err != nil {
		return frame{}, fmt.Errorf("reading a %d-byte message: %w", n, err)
	}
	return frame{
		flags:    h[4],
		code:     uint32(h[5])<<16 | uint32(h[6])<<8 | uint32(h[7]),
		app:      binary.BigEndian.Uint32(h[8:12]),
		hopByHop: binary.BigEndian.Uint32(h[12:16]),
		endToEnd: binary.BigEndian.Uint32(h[16:20]),
		raw:      raw,
	}, nil
}

// ErrMalformed is a message the codec could not decode. An answer that is
// malformed leaves the outcome of its request unknown.
var ErrMalformed = errors.New("ocs: malformed diameter message")

// decode decodes a frame with go-diameter. The library panics on some
// malformed input (at v4.1.0, a Failed-AVP holding a zero-filled grouped
// AVP dereferences a nil value): the panic is recovered here and reported
// as ErrMalformed, so one bad answer never takes the connection down.
func decode(f frame) (m *diam.Message, err error) {
	defer func() {
		if r := recover(); r != nil {
			m, err = nil, fmt.Errorf("%w: decoder panicked: %v", ErrMalformed, r)
		}
	}()
	m, err = diam.ReadMessage(bytes.NewReader(f.raw), dict.Default)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if m.DecodeErr != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, m.DecodeErr)
	}
	return m, nil
}

// Decode decodes one Diameter message from b, never panicking (the fuzz
// target and the simulator use it).
func Decode(b []byte) (*diam.Message, error) {
	f, err := readFrame(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return decode(f)
}

// Encode serializes m.
func Encode(m *diam.Message) ([]byte, error) { return m.Serialize() }

// writeMsg writes m to w in one write.
func writeMsg(w net.Conn, m *diam.Message) error {
	b, err := m.Serialize()
	if err != nil {
		return fmt.Errorf("encoding %s: %w", cmdName(m.Header.CommandCode), err)
	}
	_, err = w.Write(b)
	return err
}

func cmdName(code uint32) string {
	switch code {
	case cmdCapabilitiesExchange:
		return "CER/CEA"
	case cmdDeviceWatchdog:
		return "DWR/DWA"
	case cmdDisconnectPeer:
		return "DPR/DPA"
	case cmdCreditControl:
		return "CCR/CCA"
	}
	return fmt.Sprintf("command %d", code)
}

// The accessors below read decoded AVPs defensively: an AVP the decoder
// could only partly read has nil Data, and the wrong type is ignored.

// Find returns the first AVP with code (any vendor) among avps, nil if none.
func Find(avps []*diam.AVP, code uint32) *diam.AVP {
	for _, a := range avps {
		if a != nil && a.Code == code && a.Data != nil {
			return a
		}
	}
	return nil
}

// Children returns the AVPs inside a grouped AVP (nil for any other).
func Children(a *diam.AVP) []*diam.AVP {
	if a == nil {
		return nil
	}
	if g, ok := a.Data.(*diam.GroupedAVP); ok {
		return g.AVP
	}
	return nil
}

// Uint reads an Unsigned32/Enumerated/Integer AVP.
func Uint(a *diam.AVP) (uint64, bool) {
	if a == nil {
		return 0, false
	}
	switch v := a.Data.(type) {
	case datatype.Unsigned32:
		return uint64(v), true
	case datatype.Enumerated:
		return uint64(v), v >= 0
	case datatype.Unsigned64:
		return uint64(v), true
	case datatype.Integer32:
		return uint64(v), v >= 0
	}
	return 0, false
}

// Int reads a signed integer AVP.
func Int(a *diam.AVP) (int64, bool) {
	if a == nil {
		return 0, false
	}
	switch v := a.Data.(type) {
	case datatype.Integer64:
		return int64(v), true
	case datatype.Integer32:
		return int64(v), true
	case datatype.Unsigned32:
		return int64(v), true
	case datatype.Enumerated:
		return int64(v), true
	}
	return 0, false
}

// Text reads a UTF8String, DiameterIdentity or OctetString AVP.
func Text(a *diam.AVP) string {
	if a == nil {
		return ""
	}
	switch v := a.Data.(type) {
	case datatype.UTF8String:
		return string(v)
	case datatype.DiameterIdentity:
		return string(v)
	case datatype.OctetString:
		return string(v)
	case datatype.DiameterURI:
		return string(v)
	}
	return ""
}

// ResultCode is a message's Result-Code, or its Experimental-Result-Code
// (0 when it has neither).
func ResultCode(m *diam.Message) uint32 {
	if v, ok := Uint(Find(m.AVP, avp.ResultCode)); ok {
		return uint32(v)
	}
	if v, ok := Uint(Find(Children(Find(m.AVP, avp.ExperimentalResult)), avp.ExperimentalResultCode)); ok {
		return uint32(v)
	}
	return 0
}

// Money builds a CC-Money AVP for amount fen: Unit-Value {Value-Digits
// amount, Exponent −2}, Currency-Code 156.
func Money(fen int64) *diam.AVP {
	return diam.NewAVP(avp.CCMoney, avp.Mbit, 0, &diam.GroupedAVP{AVP: []*diam.AVP{
		diam.NewAVP(avp.UnitValue, avp.Mbit, 0, &diam.GroupedAVP{AVP: []*diam.AVP{
			diam.NewAVP(avp.ValueDigits, avp.Mbit, 0, datatype.Integer64(fen)),
			diam.NewAVP(avp.Exponent, avp.Mbit, 0, datatype.Integer32(moneyExponent)),
		}}),
		diam.NewAVP(avp.CurrencyCode, avp.Mbit, 0, datatype.Unsigned32(CurrencyCode)),
	}})
}

// Fen reads the CC-Money inside a service-unit AVP (Requested-, Granted-
// or Used-Service-Unit) as fen. ok is false when there is none, the
// currency is not the renminbi, or the amount is not a whole number of fen.
func Fen(unit *diam.AVP) (fen int64, ok bool) {
	money := Find(Children(unit), avp.CCMoney)
	if money == nil {
		return 0, false
	}
	kids := Children(money)
	if cur, has := Uint(Find(kids, avp.CurrencyCode)); has && cur != CurrencyCode {
		return 0, false
	}
	uv := Children(Find(kids, avp.UnitValue))
	digits, ok := Int(Find(uv, avp.ValueDigits))
	if !ok {
		return 0, false
	}
	exp, _ := Int(Find(uv, avp.Exponent)) // absent: 0
	// fen = digits × 10^(exp+2), exactly.
	shift := exp + 2
	if shift < -18 || shift > 18 {
		return 0, false
	}
	for ; shift > 0; shift-- {
		if digits > (1<<62)/10 || digits < -(1<<62)/10 {
			return 0, false
		}
		digits *= 10
	}
	for ; shift < 0; shift++ {
		if digits%10 != 0 {
			return 0, false
		}
		digits /= 10
	}
	return digits, true
}

// ReadRaw reads one whole Diameter message off r, undecoded (the
// simulator decodes it with Decode).
func ReadRaw(r io.Reader) ([]byte, error) {
	f, err := readFrame(r)
	if err != nil {
		return nil, err
	}
	return f.raw, nil
}
