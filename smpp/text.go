package smpp

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Data codings the session understands (SMPP 3.4 §5.2.19).
const (
	CodingDefault byte = 0x00 // GSM 03.38 default alphabet, one septet per octet
	CodingIA5     byte = 0x01 // IA5 / ASCII
	CodingLatin1  byte = 0x03 // ISO-8859-1
	CodingUCS2    byte = 0x08 // UCS2 (decoded as UTF-16BE, so surrogate pairs survive)
)

// Errors returned by the text codecs. DecodeText returns them together with
// its best-effort text, so a caller can still store what arrived.
var (
	ErrOddUCS2        = errors.New("UCS2 text with an odd number of bytes")
	ErrInvalidGSM7    = errors.New("invalid GSM 7-bit septet")
	ErrUnknownCoding  = errors.New("unsupported data_coding")
	ErrUDHTooShort    = errors.New("UDH longer than the message")
	ErrUDHBadIE       = errors.New("UDH information element overruns the header")
	ErrUDHBadConcat   = errors.New("UDH concatenation element is inconsistent")
	ErrNotGSM7        = errors.New("text has characters outside the GSM 7-bit alphabet")
	errEmptyUserData  = errors.New("empty user data")
	errTooManySegment = errors.New("text needs more than 255 parts")
)

// gsm7Basic is the GSM 03.38 default alphabet; 0x1B is the escape to gsm7Ext.
var gsm7Basic = [128]rune{
	'@', '£', '$', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', '\n', 'Ø', 'ø', '\r', 'Å', 'å',
	'Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', 0x1B, 'Æ', 'æ', 'ß', 'É',
	' ', '!', '"', '#', '¤', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/',
	'0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?',
	'¡', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O',
	'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ', 'Ü', '§',
	'¿', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o',
	'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à',
}

// gsm7Ext is the GSM 03.38 extension table (after 0x1B).
var gsm7Ext = map[byte]rune{
	0x0A: '\f', 0x14: '^', 0x28: '{', 0x29: '}', 0x2F: '\\',
	0x3C: '[', 0x3D: '~', 0x3E: ']', 0x40: '|', 0x65: '€',
}

var (
	gsm7BasicRev = map[rune]byte{}
	gsm7ExtRev   = map[rune]byte{}
)

func init() {
	for i, r := range gsm7Basic {
		if i != 0x1B {
			gsm7BasicRev[r] = byte(i)
		}
	}
	for b, r := range gsm7Ext {
		gsm7ExtRev[r] = b
	}
}

// DecodeText decodes a short message body (without UDH) in the given
// data_coding to UTF-8. It is pure and never panics. On malformed input it
// returns its best effort (U+FFFD for what cannot be decoded) together with
// an error saying what was wrong, so a caller may still keep the message.
//
// Codings: 0 (and 0xF0-0xF3) GSM 7-bit default alphabet, unpacked as SMPP
// carries it; 1 IA5/ASCII; 3 Latin-1; 8 UCS2 (read as UTF-16BE). Anything
// else returns ErrUnknownCoding with the bytes read as Latin-1.
func DecodeText(coding byte, b []byte) (string, error) {
	switch {
	case coding == CodingDefault || coding&0xFC == 0xF0:
		return decodeGSM7(b)
	case coding == CodingIA5 || coding == CodingLatin1:
		return decodeLatin1(b), nil
	case coding == CodingUCS2:
		return decodeUCS2(b)
	default:
		return decodeLatin1(b), fmt.Errorf("%w: %#02x", ErrUnknownCoding, coding)
	}
}

func decodeLatin1(b []byte) string {
	var sb strings.Builder
	sb.Grow(len(b))
	for _, c := range b {
		sb.WriteRune(rune(c))
	}
	return sb.String()
}

func decodeUCS2(b []byte) (string, error) {
	var err error
	if len(b)%2 != 0 {
		err = fmt.Errorf("%w (%d)", ErrOddUCS2, len(b))
		b = b[:len(b)-1]
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
	}
	s := string(utf16.Decode(u))
	if err != nil {
		s += string(utf8.RuneError)
	}
	return s, err
}

func decodeGSM7(b []byte) (string, error) {
	var sb strings.Builder
	sb.Grow(len(b))
	var err error
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c >= 0x80 {
			sb.WriteRune(utf8.RuneError)
			err = ErrInvalidGSM7
			continue
		}
		if c == 0x1B {
			if i+1 < len(b) {
				if r, ok := gsm7Ext[b[i+1]]; ok {
					sb.WriteRune(r)
					i++
					continue
				}
			}
			// An escape followed by nothing known reads as a space
			// (GSM 03.38 says: display the basic character; we are stricter).
			sb.WriteRune(' ')
			continue
		}
		sb.WriteRune(gsm7Basic[c])
	}
	return sb.String(), err
}

// EncodeGSM7 encodes s in the GSM 7-bit default alphabet, one septet per
// octet (data_coding 0 as SMPP carries it). ok is false when a character
// does not fit; the caller should then use UCS2.
func EncodeGSM7(s string) (b []byte, ok bool) {
	b = make([]byte, 0, len(s))
	for _, r := range s {
		if c, ok := gsm7BasicRev[r]; ok {
			b = append(b, c)
			continue
		}
		if c, ok := gsm7ExtRev[r]; ok {
			b = append(b, 0x1B, c)
			continue
		}
		return nil, false
	}
	return b, true
}

// EncodeUCS2 encodes s as UTF-16BE (what SMSCs accept as UCS2).
func EncodeUCS2(s string) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2*len(u))
	for i, v := range u {
		b[2*i], b[2*i+1] = byte(v>>8), byte(v)
	}
	return b
}

// Sizes of one short message and of one part of a concatenated message.
const (
	gsm7Single = 160 // septets
	gsm7Part   = 153 // septets after a 6-octet concatenation UDH
	ucs2Single = 140 // octets (70 UTF-16 units)
	ucs2Part   = 134 // octets (67 UTF-16 units)
)

// SplitText encodes text for submit_sm: GSM 7-bit when every character fits,
// UCS2 otherwise. When it does not fit in one message it is split into parts
// that each start with an 8-bit-reference concatenation UDH (IEI 0x00) using
// ref; parts never split a GSM escape sequence or a UTF-16 surrogate pair.
// When len(parts) > 1 the caller must set the UDHI bit (0x40) of esm_class.
// It is pure: the same input gives the same output.
func SplitText(text string, ref uint8) (coding byte, parts [][]byte, err error) {
	var units []byte // encoded stream
	var single, per, step int
	if g, ok := EncodeGSM7(text); ok {
		coding, units, single, per, step = CodingDefault, g, gsm7Single, gsm7Part, 1
	} else {
		coding, units, single, per, step = CodingUCS2, EncodeUCS2(text), ucs2Single, ucs2Part, 2
	}
	if len(units) <= single {
		return coding, [][]byte{units}, nil
	}
	var chunks [][]byte
	for len(units) > 0 {
		n := min(per, len(units))
		if n < len(units) {
			if coding == CodingDefault && units[n-1] == 0x1B && !escapedAt(units, n-1) {
				n-- // keep the escape with its character
			}
			if coding == CodingUCS2 {
				hi := uint16(units[n-2])<<8 | uint16(units[n-1])
				if hi >= 0xD800 && hi < 0xDC00 {
					n -= step // keep the surrogate pair together
				}
			}
		}
		chunks = append(chunks, units[:n])
		units = units[n:]
	}
	if len(chunks) > 255 {
		return coding, nil, errTooManySegment
	}
	parts = make([][]byte, len(chunks))
	for i, c := range chunks {
		p := make([]byte, 0, 6+len(c))
		p = append(p, ConcatUDH8(ref, len(chunks), i+1)...)
		parts[i] = append(p, c...)
	}
	return coding, parts, nil
}

// escapedAt reports whether the byte at i is itself the second half of an
// escape sequence (so it is not an escape even when it is 0x1B).
func escapedAt(b []byte, i int) bool {
	n := 0
	for j := i - 1; j >= 0 && b[j] == 0x1B; j-- {
		n++
	}
	return n%2 == 1
}

// ConcatUDH8 returns a 6-octet UDH (length byte included) for part seq of
// total with an 8-bit reference.
func ConcatUDH8(ref uint8, total, seq int) []byte {
	return []byte{0x05, 0x00, 0x03, ref, byte(total), byte(seq)}
}

// ConcatUDH16 returns a 7-octet UDH (length byte included) for part seq of
// total with a 16-bit reference.
func ConcatUDH16(ref uint16, total, seq int) []byte {
	return []byte{0x06, 0x08, 0x04, byte(ref >> 8), byte(ref), byte(total), byte(seq)}
}

// IE is one information element of a user data header.
type IE struct {
	ID   byte
	Data []byte
}

// Concat is what a concatenation element (IEI 0x00 or 0x08) or the SAR
// TLVs say about a part.
type Concat struct {
	Ref   uint16
	Total int // 1..255
	Seq   int // 1..Total
}

// UDH is a parsed user data header.
type UDH struct {
	IEs    []IE
	Concat *Concat // nil when the message is not a part
}

// ParseUDH parses the user data header at the start of b (a short_message
// whose esm_class has UDHI set): b[0] is the header length. It returns the
// header and the user data after it. It never panics; a header that lies
// about its length, an element that overruns it, or a concatenation element
// with a bad size, zero total or a part number outside 1..total is an error.
func ParseUDH(b []byte) (UDH, []byte, error) {
	var h UDH
	if len(b) == 0 {
		return h, nil, errEmptyUserData
	}
	n := int(b[0])
	if 1+n > len(b) {
		return h, nil, fmt.Errorf("%w: header %d, message %d", ErrUDHTooShort, n, len(b)-1)
	}
	hdr, rest := b[1:1+n], b[1+n:]
	for len(hdr) > 0 {
		if len(hdr) < 2 || 2+int(hdr[1]) > len(hdr) {
			return h, nil, ErrUDHBadIE
		}
		ie := IE{ID: hdr[0], Data: hdr[2 : 2+int(hdr[1])]}
		hdr = hdr[2+int(hdr[1]):]
		h.IEs = append(h.IEs, ie)
		switch ie.ID {
		case 0x00:
			if len(ie.Data) != 3 {
				return h, nil, fmt.Errorf("%w: 8-bit element of %d bytes", ErrUDHBadConcat, len(ie.Data))
			}
			h.Concat = &Concat{Ref: uint16(ie.Data[0]), Total: int(ie.Data[1]), Seq: int(ie.Data[2])}
		case 0x08:
			if len(ie.Data) != 4 {
				return h, nil, fmt.Errorf("%w: 16-bit element of %d bytes", ErrUDHBadConcat, len(ie.Data))
			}
			h.Concat = &Concat{Ref: uint16(ie.Data[0])<<8 | uint16(ie.Data[1]), Total: int(ie.Data[2]), Seq: int(ie.Data[3])}
		}
	}
	if h.Concat != nil {
		if err := h.Concat.Validate(); err != nil {
			return h, nil, err
		}
	}
	return h, rest, nil
}

// Validate checks that the part number lies in 1..Total.
func (c Concat) Validate() error {
	if c.Total < 1 || c.Seq < 1 || c.Seq > c.Total {
		return fmt.Errorf("%w: part %d of %d", ErrUDHBadConcat, c.Seq, c.Total)
	}
	return nil
}
