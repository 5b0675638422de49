package trace

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Kannel 1.4 access log lines look like
//
//	2026-11-21 22:48:16 Receive SMS [SMSC:acc] [SVC:] [ACT:] [BINF:] [FID:] [META:?smpp?] [from:+8613800138001] [to:106580088001] [flags:-1:0:-1:0:-1] [msg:2:10] [udh:0:]
//
// flags are mclass:coding:mwi:compress:dlr_mask; coding 0 (or -1) is text
// as logged, 1 (8-bit) and 2 (UCS2) are logged as hex octets; msg and udh
// carry their length in octets. Times are local, without a zone.

const kannelTime = "2006-01-02 15:04:05"

type kannelSource struct {
	lines lineReader
	name  string
	loc   *time.Location
}

func newKannel(br *bufio.Reader, name string, opts Options) *kannelSource {
	return &kannelSource{lines: lineReader{br: br}, name: name, loc: opts.location()}
}

func (s *kannelSource) next(st *Stats) (item, error) {
	for {
		line, pos, skip, err := s.lines.nextAt(s.name)
		if err != nil {
			return item{}, err
		}
		if skip != nil {
			return item{err: skip}, nil
		}
		rec, ok, perr := parseKannelLine(string(line), pos, s.loc)
		if perr != nil {
			return item{err: perr}, nil
		}
		if !ok {
			st.ignore("other_line")
			continue
		}
		return item{rec: rec}, nil
	}
}

// looksLikeKannelTime reports whether b has the shape of a Kannel timestamp.
func looksLikeKannelTime(b []byte) bool {
	if len(b) != len(kannelTime) {
		return false
	}
	for i, c := range b {
		switch kannelTime[i] {
		case '-', ' ', ':':
			if c != kannelTime[i] {
				return false
			}
		default:
			if c < '0' || c > '9' {
				return false
			}
		}
	}
	return true
}

// parseKannelLine returns ok=false for a line that is not a message.
func parseKannelLine(line string, pos Position, loc *time.Location) (Record, bool, *ParseError) {
	fail := func(reason, format string, args ...any) (Record, bool, *ParseError) {
		return Record{}, false, &ParseError{Pos: pos, Reason: reason, Err: fmt.Errorf(format, args...)}
	}
	var kind Kind
	var rest string
	if len(line) > len(kannelTime) && line[len(kannelTime)] == ' ' {
		rest = line[len(kannelTime)+1:]
	}
	switch {
	case strings.HasPrefix(rest, "Receive SMS "):
		kind, rest = MO, rest[len("Receive SMS "):]
	case strings.HasPrefix(rest, "Sent SMS "):
		kind, rest = MT, rest[len("Sent SMS "):]
	default:
		if strings.Contains(line, "Receive SMS [") || strings.Contains(line, "Sent SMS [") {
			return fail(ReasonBadTimestamp, "a message line without a leading %q timestamp", kannelTime)
		}
		return Record{}, false, nil
	}
	at, err := time.ParseInLocation(kannelTime, line[:len(kannelTime)], loc)
	if err != nil {
		return fail(ReasonBadTimestamp, "timestamp: want %q", kannelTime)
	}
	r := Record{Pos: pos, At: at, Kind: kind}

	from, rest, ok := kannelField(rest, "from")
	if !ok {
		return fail(ReasonBadLine, "no [from:] field")
	}
	to, rest, ok := kannelField(rest, "to")
	if !ok {
		return fail(ReasonBadLine, "no [to:] field")
	}
	r.From, r.To = normalizeAddr(from), normalizeAddr(to)
	if r.From == "" || r.To == "" {
		return fail(ReasonBadLine, "empty from or to")
	}
	flags, rest, ok := kannelField(rest, "flags")
	if !ok {
		return fail(ReasonBadLine, "no [flags:] field")
	}
	coding := 0
	if f := strings.Split(flags, ":"); len(f) >= 2 {
		c, err := strconv.Atoi(f[1])
		if err != nil || c < -1 || c > 2 {
			return fail(ReasonBadLine, "flags: coding must be -1, 0, 1 or 2")
		}
		if c > 0 {
			coding = c
		}
	} else {
		return fail(ReasonBadLine, "flags: want mclass:coding:mwi:compress:dlr_mask")
	}

	i := strings.Index(rest, "[msg:")
	if i < 0 {
		return fail(ReasonBadLine, "no [msg:] field")
	}
	rest = rest[i+len("[msg:"):]
	colon := strings.IndexByte(rest, ':')
	if colon < 0 {
		return fail(ReasonBadLine, "msg: want [msg:length:text]")
	}
	octets, err := strconv.Atoi(rest[:colon])
	if err != nil || octets < 0 || octets > MaxLine {
		return fail(ReasonBadLine, "msg: bad length")
	}
	rest = rest[colon+1:]
	want := octets
	if coding > 0 {
		want = 2 * octets // logged as hex
	}
	var msg string
	if len(rest) >= want && strings.HasPrefix(rest[want:], "]") {
		msg, rest = rest[:want], rest[want+1:]
	} else if j := strings.LastIndex(rest, "] [udh:"); j >= 0 {
		// The length does not match what was logged (a charset conversion
		// changed it): the text runs to the udh field.
		msg, rest = rest[:j], rest[j+1:]
	} else if strings.HasSuffix(rest, "]") {
		msg, rest = rest[:len(rest)-1], ""
	} else {
		return fail(ReasonBadLine, "msg: unterminated")
	}

	switch coding {
	case 0:
		r.Coding = 0
		r.Text = msg
	case 1:
		b, err := hex.DecodeString(msg)
		if err != nil {
			return fail(ReasonBadLine, "msg: 8-bit data must be logged as hex")
		}
		r.Coding = 0x04
		r.Payload = b
	case 2:
		b, err := hex.DecodeString(msg)
		if err != nil {
			return fail(ReasonBadLine, "msg: UCS2 must be logged as hex")
		}
		r.Coding = 0x08
		r.Text = decodeUCS2(b)
	}

	if udh, _, ok := kannelField(rest, "udh"); ok {
		c := strings.IndexByte(udh, ':')
		if c < 0 {
			return fail(ReasonBadLine, "udh: want [udh:length:hex]")
		}
		n, err := strconv.Atoi(udh[:c])
		if err != nil || n < 0 {
			return fail(ReasonBadLine, "udh: bad length")
		}
		if n > 0 {
			b, err := hex.DecodeString(udh[c+1:])
			if err != nil || len(b) != n {
				return fail(ReasonBadLine, "udh: want %d octets in hex", n)
			}
			r.UDH = b
		}
	}
	return r, true, nil
}

// kannelField finds " [name:value]" in s and returns value and what
// follows the closing bracket.
func kannelField(s, name string) (value, rest string, ok bool) {
	key := "[" + name + ":"
	i := strings.Index(s, key)
	if i < 0 {
		return "", s, false
	}
	s = s[i+len(key):]
	j := strings.IndexByte(s, ']')
	if j < 0 {
		return "", s, false
	}
	return s[:j], s[j+1:], true
}
