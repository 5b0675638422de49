package trace

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// jsonLine is one line of the JSON lines format (FORMAT.md).
type jsonLine struct {
	At     string   `json:"at"`
	Kind   string   `json:"kind"`
	From   string   `json:"from"`
	To     string   `json:"to"`
	Text   string   `json:"text"`
	Coding int      `json:"coding"`
	UDH    string   `json:"udh"`
	SAR    *jsonSAR `json:"sar"`
}

type jsonSAR struct {
	Ref   int `json:"ref"`
	Total int `json:"total"`
	Seq   int `json:"seq"`
}

type jsonlSource struct {
	lines lineReader
	name  string
}

func newJSONL(br *bufio.Reader, name string, _ Options) *jsonlSource {
	return &jsonlSource{lines: lineReader{br: br}, name: name}
}

func (s *jsonlSource) next(st *Stats) (item, error) {
	for {
		line, pos, skip, err := s.lines.nextAt(s.name)
		if err != nil {
			return item{}, err
		}
		if skip != nil {
			return item{err: skip}, nil
		}
		t := bytes.TrimSpace(line)
		if len(t) == 0 {
			st.ignore("blank_line")
			continue
		}
		if t[0] == '#' {
			st.ignore("comment")
			continue
		}
		rec, perr := parseJSONLine(t, pos)
		if perr != nil {
			return item{err: perr}, nil
		}
		return item{rec: rec}, nil
	}
}

func parseJSONLine(b []byte, pos Position) (Record, *ParseError) {
	fail := func(reason, format string, args ...any) (Record, *ParseError) {
		return Record{}, &ParseError{Pos: pos, Reason: reason, Err: fmt.Errorf(format, args...)}
	}
	var l jsonLine
	if err := json.Unmarshal(b, &l); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return fail(ReasonBadJSON, "invalid JSON at byte %d", se.Offset)
		case errors.As(err, &te):
			if te.Field == "" {
				return fail(ReasonBadJSON, "not a JSON object")
			}
			return fail(ReasonBadField, "field %q: want %s, have %s", te.Field, te.Type, te.Value)
		default:
			return fail(ReasonBadJSON, "invalid JSON")
		}
	}
	r := Record{Pos: pos, Kind: MO}
	switch l.Kind {
	case "", "mo", "MO":
		r.Kind = MO
	case "mt", "MT":
		r.Kind = MT
	default:
		return fail(ReasonBadField, "field \"kind\": want \"mo\" or \"mt\"")
	}
	if l.At == "" {
		return fail(ReasonBadTimestamp, "field \"at\" missing")
	}
	at, err := time.Parse(time.RFC3339Nano, l.At)
	if err != nil {
		return fail(ReasonBadTimestamp, "field \"at\": want RFC 3339 with an offset, like 2026-11-21T10:00:00+08:00")
	}
	r.At = at
	r.From, r.To = normalizeAddr(l.From), normalizeAddr(l.To)
	if r.From == "" {
		return fail(ReasonBadField, "field \"from\" missing or empty")
	}
	if r.To == "" {
		return fail(ReasonBadField, "field \"to\" missing or empty")
	}
	r.Text = l.Text
	if l.Coding < 0 || l.Coding > 255 {
		return fail(ReasonBadField, "field \"coding\": want 0..255")
	}
	r.Coding = byte(l.Coding)
	if l.UDH != "" {
		udh, err := hex.DecodeString(l.UDH)
		if err != nil {
			return fail(ReasonBadField, "field \"udh\": want hex")
		}
		if len(udh) < 1 || int(udh[0]) != len(udh)-1 {
			return fail(ReasonBadField, "field \"udh\": first octet must be the length of the rest")
		}
		r.UDH = udh
	}
	if l.SAR != nil {
		s := l.SAR
		if s.Ref < 0 || s.Ref > 0xffff || s.Total < 1 || s.Total > 255 || s.Seq < 1 || s.Seq > s.Total {
			return fail(ReasonBadField, "field \"sar\": want ref 0..65535 and 1 <= seq <= total <= 255")
		}
		r.SAR = &SAR{Ref: uint16(s.Ref), Total: uint8(s.Total), Seq: uint8(s.Seq)}
	}
	return r, nil
}
