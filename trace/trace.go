package trace

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// Kind says whether a Record is a message to replay or a recorded reply.
type Kind uint8

const (
	// MO is a mobile-originated message: what replay feeds to the engine.
	MO Kind = iota + 1
	// MT is a mobile-terminated message the recorded system sent: kept to
	// compare with what the engine answers.
	MT
)

// String returns "mo" or "mt", the spelling of the JSON lines format.
func (k Kind) String() string {
	switch k {
	case MO:
		return "mo"
	case MT:
		return "mt"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Position locates a record or a piece of broken input in its trace.
type Position struct {
	File string // name the trace was opened with
	Line int    // 1-based line number (JSON lines, Kannel); 0 for captures

	// Captures only.
	Packet int    // 1-based number of the packet that completed the PDU (or the broken packet)
	Stream string // the TCP direction, "10.0.0.1:2775->10.0.0.2:40000"
	Offset int64  // byte offset of the PDU in that direction of the TCP stream
}

// String formats the position as file:line, or file:packet N[ stream @offset].
func (p Position) String() string {
	file := p.File
	if file == "" {
		file = "-"
	}
	if p.Line > 0 {
		return file + ":" + strconv.Itoa(p.Line)
	}
	s := file + ": packet " + strconv.Itoa(p.Packet)
	if p.Stream != "" {
		s += " " + p.Stream + " @" + strconv.FormatInt(p.Offset, 10)
	}
	return s
}

// SAR holds the sar_msg_ref_num, sar_total_segments and sar_segment_seqnum
// TLVs of a part sent with SMPP segmentation and reassembly.
type SAR struct {
	Ref   uint16
	Total uint8
	Seq   uint8
}

// Part identifies one part of a concatenated message, wherever the trace
// carried it (UDH information element 0x00 or 0x08, or the SAR TLVs).
type Part struct {
	Ref   uint16 // reference shared by all parts (8-bit references are widened)
	Total uint8
	Seq   uint8 // 1-based
	Bits  int   // 8 or 16: width of the UDH reference; 16 for SAR
}

// Record is one message of a trace.
type Record struct {
	Pos      Position
	At       time.Time // when it was recorded, in the trace's zone (Options.Location when the trace has none)
	Kind     Kind
	From, To string // addresses, a leading '+' stripped
	Text     string // decoded text; for a part, the part's text; empty for binary data
	Coding   byte   // SMPP data_coding when known (Kannel: 0, 4 for 8-bit, 8 for UCS2)
	UDH      []byte // user data header (with its length octet) of a part, if any
	SAR      *SAR   // SAR TLVs, if any
	Payload  []byte // captures: the raw short_message (or message_payload), UDH included
	SeqNum   uint32 // captures: the SMPP sequence_number
}

// Part reports the concatenation information of a record: from its UDH
// (IEI 0x00, 8-bit reference, or 0x08, 16-bit reference) or its SAR TLVs.
// ok is false for a message that is not a part.
func (r Record) Part() (p Part, ok bool) {
	if p, ok := udhPart(r.UDH); ok {
		return p, true
	}
	if r.SAR != nil {
		return Part{Ref: r.SAR.Ref, Total: r.SAR.Total, Seq: r.SAR.Seq, Bits: 16}, true
	}
	return Part{}, false
}

// udhPart finds the concatenation information element in a UDH that starts
// with its length octet.
func udhPart(udh []byte) (Part, bool) {
	if len(udh) < 1 {
		return Part{}, false
	}
	n := int(udh[0])
	if n > len(udh)-1 {
		return Part{}, false
	}
	ies := udh[1 : 1+n]
	for len(ies) >= 2 {
		iei, l := ies[0], int(ies[1])
		if l > len(ies)-2 {
			return Part{}, false
		}
		d := ies[2 : 2+l]
		switch {
		case iei == 0x00 && l == 3:
			return Part{Ref: uint16(d[0]), Total: d[1], Seq: d[2], Bits: 8}, true
		case iei == 0x08 && l == 4:
			return Part{Ref: uint16(d[0])<<8 | uint16(d[1]), Total: d[2], Seq: d[3], Bits: 16}, true
		}
		ies = ies[2+l:]
	}
	return Part{}, false
}

// Reasons a piece of input is skipped, the keys of Stats.Skipped and
// ParseError.Reason.
const (
	ReasonBadLine          = "bad_line"          // a line that should be a message but does not parse
	ReasonBadJSON          = "bad_json"          // not a JSON object
	ReasonBadField         = "bad_field"         // a JSON field missing or of the wrong form
	ReasonBadTimestamp     = "bad_timestamp"     // a timestamp in an unknown format
	ReasonLineTooLong      = "line_too_long"     // a line longer than MaxLine
	ReasonTruncatedCapture = "truncated_capture" // the capture file ends inside a packet
	ReasonBadCapture       = "bad_capture"       // a capture block that cannot be read
	ReasonBadPDU           = "bad_pdu"           // an SMPP PDU that does not decode
	ReasonStreamGap        = "stream_gap"        // TCP data missing from the capture
	ReasonIncompletePDU    = "incomplete_pdu"    // a stream ends inside a PDU
)

// ParseError is broken input with its position. Its message never contains
// the content of the input (no numbers, no texts).
type ParseError struct {
	Pos    Position
	Reason string // one of the Reason constants
	Err    error
}

func (e *ParseError) Error() string {
	return e.Pos.String() + ": " + e.Reason + ": " + e.Err.Error()
}

func (e *ParseError) Unwrap() error { return e.Err }

// Stats counts what a reader has read so far.
type Stats struct {
	Records int            // records returned by Next
	MO, MT  int            // of which MOs and MTs
	Skipped map[string]int // broken input skipped, by reason (lenient mode)
	Ignored map[string]int // input that is not a message (other log lines, other PDUs, non-SMPP streams), by what it is
}

// SkippedTotal is the number of broken pieces of input skipped.
func (s Stats) SkippedTotal() int {
	n := 0
	for _, v := range s.Skipped {
		n += v
	}
	return n
}

func (s *Stats) skip(reason string) {
	if s.Skipped == nil {
		s.Skipped = make(map[string]int)
	}
	s.Skipped[reason]++
}

func (s *Stats) ignore(what string) {
	if s.Ignored == nil {
		s.Ignored = make(map[string]int)
	}
	s.Ignored[what]++
}

func (s *Stats) count(r Record) {
	s.Records++
	switch r.Kind {
	case MO:
		s.MO++
	case MT:
		s.MT++
	}
}

func (s Stats) clone() Stats {
	c := s
	c.Skipped = cloneMap(s.Skipped)
	c.Ignored = cloneMap(s.Ignored)
	return c
}

func cloneMap(m map[string]int) map[string]int {
	if m == nil {
		return nil
	}
	c := make(map[string]int, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// Reader streams the records of a trace.
type Reader interface {
	// Next returns the next record, io.EOF at the end, or a *ParseError for
	// broken input in strict mode (after which it keeps returning that
	// error). Other errors are I/O errors of the underlying file.
	Next() (Record, error)
	// Stats returns a copy of the counts so far.
	Stats() Stats
	// Close releases the file opened by Open (a no-op for NewReader).
	Close() error
}

// Format is a trace format.
type Format int

const (
	// Auto detects the format from the first bytes: pcap or pcapng magic,
	// '{' for JSON lines, a "YYYY-MM-DD hh:mm:ss" timestamp for Kannel.
	Auto Format = iota
	JSONL
	Kannel
	PCAP
	PCAPNG
)

var formatNames = [...]string{Auto: "auto", JSONL: "jsonl", Kannel: "kannel", PCAP: "pcap", PCAPNG: "pcapng"}

func (f Format) String() string {
	if f >= 0 && int(f) < len(formatNames) {
		return formatNames[f]
	}
	return "format(" + strconv.Itoa(int(f)) + ")"
}

// ParseFormat parses a --format flag value: auto, jsonl (or json), kannel,
// pcap, pcapng.
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "auto":
		return Auto, nil
	case "jsonl", "json":
		return JSONL, nil
	case "kannel":
		return Kannel, nil
	case "pcap":
		return PCAP, nil
	case "pcapng":
		return PCAPNG, nil
	}
	return Auto, fmt.Errorf("unknown trace format %q (want auto, jsonl, kannel, pcap or pcapng)", s)
}

// Options tune a reader. The zero value is lenient, Asia/Shanghai, any port.
type Options struct {
	// Strict stops at the first broken input instead of skipping it.
	Strict bool
	// Location is the zone of timestamps that carry none (Kannel) and the
	// zone capture timestamps are shown in. Default Asia/Shanghai.
	Location *time.Location
	// Port restricts a capture to TCP streams with this port on either
	// side; 0 takes every stream whose first bytes look like SMPP.
	Port uint16
	// OnError, if set, is called with each broken input that lenient mode
	// skips (for the replay command to report positions).
	OnError func(*ParseError)
}

// MaxLine is the longest line the text formats accept.
const MaxLine = 1 << 20

// shanghai is the default zone. It has had no daylight saving time since
// 1991, so the fixed +08:00 fallback is exact for traces of this century
// when the system has no zone database.
var shanghai = func() *time.Location {
	if loc, err := time.LoadLocation("Asia/Shanghai"); err == nil {
		return loc
	}
	return time.FixedZone("CST", 8*3600)
}()

func (o Options) location() *time.Location {
	if o.Location != nil {
		return o.Location
	}
	return shanghai
}

// Open opens the trace at path. With format Auto the format is detected
// from the first bytes of the file.
func Open(path string, format Format, opts Options) (Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening trace: %w", err)
	}
	r, err := newReader(f, path, format, opts, f)
	if err != nil {
		f.Close()
		return nil, err
	}
	return r, nil
}

// NewReader reads a trace from r; name is used in positions.
func NewReader(r io.Reader, name string, format Format, opts Options) (Reader, error) {
	return newReader(r, name, format, opts, nil)
}

func newReader(r io.Reader, name string, format Format, opts Options, c io.Closer) (Reader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	if format == Auto {
		f, err := detect(br)
		if err != nil {
			return nil, fmt.Errorf("reading trace %s: %w", name, err)
		}
		format = f
	}
	var (
		src source
		err error
	)
	switch format {
	case JSONL:
		src = newJSONL(br, name, opts)
	case Kannel:
		src = newKannel(br, name, opts)
	case PCAP, PCAPNG:
		src, err = newCapture(br, name, format, opts)
	default:
		err = fmt.Errorf("unknown trace format %v", format)
	}
	if err != nil {
		return nil, fmt.Errorf("reading trace %s: %w", name, err)
	}
	return &reader{src: src, opts: opts, closer: c}, nil
}

// ErrUnknownFormat is returned by Open when auto-detection does not
// recognize the trace.
var ErrUnknownFormat = errors.New("unknown trace format (want JSON lines, a Kannel access log, pcap or pcapng)")

// detect peeks at the first bytes. An empty trace reads as empty JSON lines.
func detect(br *bufio.Reader) (Format, error) {
	head, err := br.Peek(512)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return Auto, err
	}
	if len(head) >= 4 {
		switch string(head[:4]) {
		case "\xa1\xb2\xc3\xd4", "\xd4\xc3\xb2\xa1", "\xa1\xb2\x3c\x4d", "\x4d\x3c\xb2\xa1":
			return PCAP, nil
		case "\x0a\x0d\x0d\x0a":
			return PCAPNG, nil
		}
	}
	t := bytes.TrimLeft(head, " \t\r\n\ufeff")
	t = bytes.TrimPrefix(t, []byte("\xef\xbb\xbf"))
	switch {
	case len(t) == 0:
		return JSONL, nil
	case t[0] == '{' || t[0] == '#':
		return JSONL, nil
	case len(t) >= len(kannelTime) && looksLikeKannelTime(t[:len(kannelTime)]):
		return Kannel, nil
	}
	return Auto, ErrUnknownFormat
}

// item is what a source yields: a record, or broken input.
type item struct {
	rec Record
	err *ParseError
}

// source is one format's decoder. next returns io.EOF at the end; any
// other plain error is an I/O error and ends the trace.
type source interface {
	next(st *Stats) (item, error)
}

// reader applies the strict/lenient policy over a source.
type reader struct {
	src    source
	opts   Options
	stats  Stats
	closer io.Closer
	err    error // sticky
}

func (r *reader) Next() (Record, error) {
	if r.err != nil {
		return Record{}, r.err
	}
	for {
		it, err := r.src.next(&r.stats)
		if err != nil {
			r.err = err
			return Record{}, err
		}
		if it.err != nil {
			if r.opts.Strict {
				r.err = it.err
				return Record{}, it.err
			}
			r.stats.skip(it.err.Reason)
			if r.opts.OnError != nil {
				r.opts.OnError(it.err)
			}
			continue
		}
		r.stats.count(it.rec)
		return it.rec, nil
	}
}

func (r *reader) Stats() Stats { return r.stats.clone() }

func (r *reader) Close() error {
	if r.closer == nil {
		return nil
	}
	c := r.closer
	r.closer = nil
	if err := c.Close(); err != nil {
		return fmt.Errorf("closing trace: %w", err)
	}
	return nil
}

// normalizeAddr strips surrounding spaces and the '+' of an international
// number.
func normalizeAddr(s string) string {
	s = strings.TrimSpace(s)
	return strings.TrimPrefix(s, "+")
}

// lineReader yields lines without their end-of-line, bounded by MaxLine:
// a longer line is reported and skipped, never buffered whole.
type lineReader struct {
	br   *bufio.Reader
	line int
	buf  []byte
}

// nextAt is next for a line-based format reading file name: it returns the
// line and its position, a *ParseError to skip when the line was too long,
// or the read error (io.EOF at the end; others say which file).
func (l *lineReader) nextAt(name string) (line []byte, pos Position, skip *ParseError, err error) {
	line, n, tooLong, err := l.next()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, Position{}, nil, err
		}
		return nil, Position{}, nil, fmt.Errorf("reading %s: %w", name, err)
	}
	pos = Position{File: name, Line: n}
	if tooLong {
		return nil, pos, &ParseError{Pos: pos, Reason: ReasonLineTooLong, Err: fmt.Errorf("line longer than %d bytes", MaxLine)}, nil
	}
	return line, pos, nil, nil
}

// next returns the next line (valid until the next call), its 1-based
// number, and tooLong when the line exceeded MaxLine (its content then is
// nil). err is io.EOF at the end.
func (l *lineReader) next() (line []byte, n int, tooLong bool, err error) {
	l.buf = l.buf[:0]
	for {
		frag, e := l.br.ReadSlice('\n')
		if !tooLong {
			if len(l.buf)+len(frag) > MaxLine+2 {
				tooLong = true
				l.buf = l.buf[:0]
			} else {
				l.buf = append(l.buf, frag...)
			}
		}
		if e == bufio.ErrBufferFull {
			continue
		}
		if e != nil && !errors.Is(e, io.EOF) {
			return nil, 0, false, e
		}
		if errors.Is(e, io.EOF) && len(frag) == 0 && len(l.buf) == 0 && !tooLong {
			return nil, 0, false, io.EOF
		}
		l.line++
		if tooLong {
			return nil, l.line, true, nil
		}
		b := l.buf
		b = bytes.TrimSuffix(b, []byte("\n"))
		b = bytes.TrimSuffix(b, []byte("\r"))
		if l.line == 1 {
			b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
		}
		return b, l.line, false, nil
	}
}
