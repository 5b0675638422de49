package trace

import (
	"errors"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var cst = time.FixedZone("", 8*3600)

func TestJSONL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		line string
		want Record // Pos is checked separately
	}{
		{"mo", `{"at":"2026-11-21T10:00:00+08:00","from":"8613800000001","to":"106580088001","text":"10"}`,
			Record{At: time.Date(2026, 11, 21, 10, 0, 0, 0, cst), Kind: MO, From: "8613800000001", To: "106580088001", Text: "10"}},
		{"plus stripped, Z, fraction", `{"at":"2026-11-21T02:00:00.25Z","from":"+8613800000001","to":"106580088001","text":"１０元"}`,
			Record{At: time.Date(2026, 11, 21, 2, 0, 0, 250e6, time.UTC), Kind: MO, From: "8613800000001", To: "106580088001", Text: "１０元"}},
		{"mt", `{"kind":"mt","at":"2026-11-21T10:00:01+08:00","from":"106580088001","to":"8613800000001","text":"code 123456"}`,
			Record{At: time.Date(2026, 11, 21, 10, 0, 1, 0, cst), Kind: MT, From: "106580088001", To: "8613800000001", Text: "code 123456"}},
		{"part with udh and coding", `{"at":"2026-11-21T10:00:00+08:00","from":"8613800000001","to":"106580088001","text":"查","coding":8,"udh":"06080412340201"}`,
			Record{At: time.Date(2026, 11, 21, 10, 0, 0, 0, cst), Kind: MO, From: "8613800000001", To: "106580088001", Text: "查", Coding: 8, UDH: []byte{6, 8, 4, 0x12, 0x34, 2, 1}}},
		{"sar", `{"at":"2026-11-21T10:00:00+08:00","from":"1","to":"2","text":"a","sar":{"ref":7,"total":2,"seq":2}}`,
			Record{At: time.Date(2026, 11, 21, 10, 0, 0, 0, cst), Kind: MO, From: "1", To: "2", Text: "a", SAR: &SAR{Ref: 7, Total: 2, Seq: 2}}},
		{"unknown fields ignored, empty text", `{"at":"2026-11-21T10:00:00+08:00","from":"1","to":"2","id":"x-1"}`,
			Record{At: time.Date(2026, 11, 21, 10, 0, 0, 0, cst), Kind: MO, From: "1", To: "2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			recs, errs, _ := readAll(t, []byte("\n# a comment\n"+tt.line+"\n"), "t.jsonl", Auto, Options{})
			if len(errs) != 0 || len(recs) != 1 {
				t.Fatalf("records %d, errors %v", len(recs), errs)
			}
			got := recs[0]
			if got.Pos != (Position{File: "t.jsonl", Line: 3}) {
				t.Errorf("pos %v", got.Pos)
			}
			got.Pos = Position{}
			if !got.At.Equal(tt.want.At) {
				t.Errorf("at %v, want %v", got.At, tt.want.At)
			}
			if _, o1 := got.At.Zone(); true {
				if _, o2 := tt.want.At.Zone(); o1 != o2 {
					t.Errorf("offset %d, want %d (the trace's own)", o1, o2)
				}
			}
			got.At, tt.want.At = time.Time{}, time.Time{}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestJSONLBroken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, line, reason string
	}{
		{"not json", `{"at":`, ReasonBadJSON},
		{"not an object", `[1,2]`, ReasonBadJSON},
		{"no at", `{"from":"1","to":"2","text":"x"}`, ReasonBadTimestamp},
		{"no offset", `{"at":"2026-11-21T10:00:00","from":"1","to":"2"}`, ReasonBadTimestamp},
		{"unix time", `{"at":"1763690400","from":"1","to":"2"}`, ReasonBadTimestamp},
		{"no from", `{"at":"2026-11-21T10:00:00+08:00","to":"2"}`, ReasonBadField},
		{"empty to", `{"at":"2026-11-21T10:00:00+08:00","from":"1","to":"+"}`, ReasonBadField},
		{"text not a string", `{"at":"2026-11-21T10:00:00+08:00","from":"1","to":"2","text":10}`, ReasonBadField},
		{"bad kind", `{"kind":"dlr","at":"2026-11-21T10:00:00+08:00","from":"1","to":"2"}`, ReasonBadField},
		{"coding out of range", `{"at":"2026-11-21T10:00:00+08:00","from":"1","to":"2","coding":256}`, ReasonBadField},
		{"udh not hex", `{"at":"2026-11-21T10:00:00+08:00","from":"1","to":"2","udh":"zz"}`, ReasonBadField},
		{"udh length wrong", `{"at":"2026-11-21T10:00:00+08:00","from":"1","to":"2","udh":"0500030102"}`, ReasonBadField},
		{"sar seq past total", `{"at":"2026-11-21T10:00:00+08:00","from":"1","to":"2","sar":{"ref":1,"total":2,"seq":3}}`, ReasonBadField},
	}
	good := `{"at":"2026-11-21T10:00:00+08:00","from":"8613800000001","to":"106580088001","text":"10"}`
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			data := joinLines(good, tt.line, good)
			recs, errs, st := readAll(t, data, "t.jsonl", JSONL, Options{})
			if len(recs) != 2 || len(errs) != 1 {
				t.Fatalf("records %d, errors %v", len(recs), errs)
			}
			e := errs[0]
			if e.Pos.Line != 2 || e.Reason != tt.reason {
				t.Errorf("error %v, want line 2 %s", e, tt.reason)
			}
			if st.Skipped[tt.reason] != 1 || recs[1].Pos.Line != 3 {
				t.Errorf("stats %+v, second record at %v", st, recs[1].Pos)
			}
			if strings.Contains(e.Error(), "8613800000001") {
				t.Errorf("error leaks input: %v", e)
			}
		})
	}
}

func TestLineTooLong(t *testing.T) {
	t.Parallel()
	good := `{"at":"2026-11-21T10:00:00+08:00","from":"1","to":"2","text":"ok"}`
	long := `{"at":"2026-11-21T10:00:00+08:00","from":"1","to":"2","text":"` + strings.Repeat("x", MaxLine) + `"}`
	recs, errs, _ := readAll(t, joinLines(good, long, good), "t.jsonl", JSONL, Options{})
	if len(recs) != 2 || len(errs) != 1 || errs[0].Reason != ReasonLineTooLong || errs[0].Pos.Line != 2 || recs[1].Pos.Line != 3 {
		t.Fatalf("records %d errors %v", len(recs), errs)
	}
}

func TestStrictAndLenient(t *testing.T) {
	t.Parallel()
	data := joinLines(
		`{"at":"2026-11-21T10:00:00+08:00","from":"1","to":"2","text":"a"}`,
		`{"at":"yesterday","from":"1","to":"2","text":"b"}`,
		`{"at":"2026-11-21T10:00:02+08:00","from":"1","to":"2","text":"c"}`,
		`not json`,
		`{"at":"2026-11-21T10:00:04+08:00","from":"1","to":"2","text":"e"}`,
	)
	t.Run("strict stops at the first", func(t *testing.T) {
		t.Parallel()
		r, err := NewReader(strings.NewReader(string(data)), "t.jsonl", Auto, Options{Strict: true})
		if err != nil {
			t.Fatal(err)
		}
		if rec, err := r.Next(); err != nil || rec.Text != "a" {
			t.Fatalf("first: %v %v", rec, err)
		}
		_, err = r.Next()
		var pe *ParseError
		if !errors.As(err, &pe) || pe.Pos.Line != 2 || pe.Reason != ReasonBadTimestamp {
			t.Fatalf("second: %v", err)
		}
		if got := err.Error(); !strings.HasPrefix(got, "t.jsonl:2: bad_timestamp: ") {
			t.Errorf("message %q", got)
		}
		if _, err2 := r.Next(); err2 != err {
			t.Errorf("the error is not sticky: %v", err2)
		}
		if st := r.Stats(); st.Records != 1 || st.SkippedTotal() != 0 {
			t.Errorf("stats %+v", st)
		}
	})
	t.Run("lenient skips and counts", func(t *testing.T) {
		t.Parallel()
		recs, errs, st := readAll(t, data, "t.jsonl", Auto, Options{})
		if got := texts(recs, MO); !reflect.DeepEqual(got, []string{"a", "c", "e"}) {
			t.Errorf("texts %q", got)
		}
		if len(errs) != 2 || errs[0].Pos.Line != 2 || errs[1].Pos.Line != 4 {
			t.Errorf("errors %v", errs)
		}
		want := map[string]int{ReasonBadTimestamp: 1, ReasonBadJSON: 1}
		if !reflect.DeepEqual(st.Skipped, want) || st.Records != 3 || st.MO != 3 {
			t.Errorf("stats %+v", st)
		}
	})
}

func TestKannelLines(t *testing.T) {
	t.Parallel()
	const pre = "2026-11-21 22:48:16 Receive SMS [SMSC:acc] [SVC:] [ACT:] [BINF:] [FID:] [META:?smpp?] "
	at := time.Date(2026, 11, 21, 22, 48, 16, 0, cst)
	tests := []struct {
		name, line string
		want       Record
	}{
		{"text", pre + "[from:+8613800138001] [to:106580088001] [flags:-1:0:-1:0:-1] [msg:2:10] [udh:0:]",
			Record{Kind: MO, From: "8613800138001", To: "106580088001", Text: "10"}},
		{"ucs2 hex", pre + "[from:8613800138002] [to:106580088001] [flags:-1:2:-1:0:-1] [msg:6:FF11FF105143] [udh:0:]",
			Record{Kind: MO, From: "8613800138002", To: "106580088001", Text: "１０元", Coding: 8}},
		{"8-bit hex", pre + "[from:1] [to:2] [flags:-1:1:-1:0:-1] [msg:2:00FF] [udh:0:]",
			Record{Kind: MO, From: "1", To: "2", Coding: 4, Payload: []byte{0, 0xff}}},
		{"text with brackets", pre + "[from:1] [to:2] [flags:-1:0:-1:0:-1] [msg:7:a] [b]c] [udh:0:]",
			Record{Kind: MO, From: "1", To: "2", Text: "a] [b]c"}},
		{"length differs from the logged text", pre + "[from:1] [to:2] [flags:-1:0:-1:0:-1] [msg:4:查询] [udh:0:]",
			Record{Kind: MO, From: "1", To: "2", Text: "查询"}},
		{"udh", pre + "[from:1] [to:2] [flags:-1:0:-1:0:-1] [msg:1:1] [udh:7:06080412340201]",
			Record{Kind: MO, From: "1", To: "2", Text: "1", UDH: []byte{6, 8, 4, 0x12, 0x34, 2, 1}}},
		{"sent", "2026-11-21 22:48:16 Sent SMS [SMSC:acc] [SVC:default] [ACT:] [BINF:] [FID:0] [META:?smpp_resp?] [from:106580088001] [to:+8613800138001] [flags:-1:0:-1:-1:-1] [msg:4:????] [udh:0:]",
			Record{Kind: MT, From: "106580088001", To: "8613800138001", Text: "????"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			recs, errs, _ := readAll(t, joinLines("2026-11-21 22:48:13 Log begins", tt.line), "access.log", Auto, Options{})
			if len(errs) != 0 || len(recs) != 1 {
				t.Fatalf("records %d, errors %v", len(recs), errs)
			}
			got := recs[0]
			if got.Pos.Line != 2 || !got.At.Equal(at) {
				t.Errorf("pos %v at %v", got.Pos, got.At)
			}
			got.Pos, got.At = Position{}, time.Time{}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestKannelBroken(t *testing.T) {
	t.Parallel()
	const pre = "2026-11-21 22:48:16 Receive SMS [SMSC:acc] "
	tests := []struct {
		name, line, reason string
	}{
		{"unknown timestamp", "21/11/2026 22:48:16 Receive SMS [SMSC:acc] [from:1] [to:2] [flags:-1:0:-1:0:-1] [msg:1:x] [udh:0:]", ReasonBadTimestamp},
		{"impossible date", "2026-13-45 22:48:16 Receive SMS [SMSC:acc] [from:1] [to:2] [flags:-1:0:-1:0:-1] [msg:1:x] [udh:0:]", ReasonBadTimestamp},
		{"no from", pre + "[to:2] [flags:-1:0:-1:0:-1] [msg:1:x] [udh:0:]", ReasonBadLine},
		{"no flags", pre + "[from:1] [to:2] [msg:1:x] [udh:0:]", ReasonBadLine},
		{"bad coding", pre + "[from:1] [to:2] [flags:-1:9:-1:0:-1] [msg:1:x] [udh:0:]", ReasonBadLine},
		{"ucs2 not hex", pre + "[from:1] [to:2] [flags:-1:2:-1:0:-1] [msg:2:查询] [udh:0:]", ReasonBadLine},
		{"no msg", pre + "[from:1] [to:2] [flags:-1:0:-1:0:-1]", ReasonBadLine},
		{"unterminated msg", pre + "[from:1] [to:2] [flags:-1:0:-1:0:-1] [msg:5:abc", ReasonBadLine},
		{"udh length", pre + "[from:1] [to:2] [flags:-1:0:-1:0:-1] [msg:1:x] [udh:3:0500]", ReasonBadLine},
	}
	good := "2026-11-21 22:48:17 Receive SMS [SMSC:acc] [from:8613800138001] [to:2] [flags:-1:0:-1:0:-1] [msg:2:CX] [udh:0:]"
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			recs, errs, st := readAll(t, joinLines(good, tt.line, good), "access.log", Kannel, Options{})
			if len(recs) != 2 || len(errs) != 1 {
				t.Fatalf("records %d, errors %v", len(recs), errs)
			}
			if errs[0].Pos.Line != 2 || errs[0].Reason != tt.reason {
				t.Errorf("error %v, want line 2 %s", errs[0], tt.reason)
			}
			if st.Skipped[tt.reason] != 1 {
				t.Errorf("stats %+v", st)
			}
			if strings.Contains(errs[0].Error(), "8613800138001") {
				t.Errorf("error leaks input: %v", errs[0])
			}
		})
	}
}

func TestKannelLocation(t *testing.T) {
	t.Parallel()
	line := "2026-11-21 23:59:59 Receive SMS [SMSC:a] [from:1] [to:2] [flags:-1:0:-1:0:-1] [msg:1:x] [udh:0:]"
	recs, _, _ := readAll(t, joinLines(line), "a.log", Kannel, Options{Location: time.UTC})
	if want := time.Date(2026, 11, 21, 23, 59, 59, 0, time.UTC); len(recs) != 1 || !recs[0].At.Equal(want) {
		t.Fatalf("got %v", recs)
	}
}

func TestDetect(t *testing.T) {
	t.Parallel()
	c := newConn(40000).handshake().send(1, moText(1, "8613800000001", "10"))
	tests := []struct {
		name string
		data []byte
		want Format
	}{
		{"jsonl", []byte(`{"at":"2026-11-21T10:00:00+08:00","from":"1","to":"2"}`), JSONL},
		{"jsonl with bom and blank lines", []byte("\xef\xbb\xbf\n\n{}"), JSONL},
		{"jsonl comment first", []byte("# golden trace\n{}"), JSONL},
		{"empty", nil, JSONL},
		{"kannel", mustRead(t, "testdata/kannel-access.log"), Kannel},
		{"pcap", mustRead(t, "testdata/smpp-kannel.pcap"), PCAP},
		{"pcap generated", render(t, false, c), PCAP},
		{"pcapng generated", render(t, true, c), PCAPNG},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			br := newPeeker(tt.data)
			got, err := detect(br)
			if err != nil || got != tt.want {
				t.Errorf("detect = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
	if _, err := NewReader(strings.NewReader("hello\n"), "x", Auto, Options{}); !errors.Is(err, ErrUnknownFormat) {
		t.Errorf("unknown format: %v", err)
	}
	r, err := NewReader(strings.NewReader(""), "x", Auto, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(); !errors.Is(err, io.EOF) {
		t.Errorf("empty trace: %v", err)
	}
}

func TestParseFormat(t *testing.T) {
	t.Parallel()
	for _, f := range []Format{Auto, JSONL, Kannel, PCAP, PCAPNG} {
		got, err := ParseFormat(f.String())
		if err != nil || got != f {
			t.Errorf("ParseFormat(%q) = %v, %v", f.String(), got, err)
		}
	}
	if _, err := ParseFormat("csv"); err == nil {
		t.Error("csv accepted")
	}
}

func TestOpenMissing(t *testing.T) {
	t.Parallel()
	if _, err := Open("testdata/does-not-exist", Auto, Options{}); err == nil {
		t.Fatal("no error")
	}
}

func TestPositionString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		p    Position
		want string
	}{
		{Position{File: "a.jsonl", Line: 3}, "a.jsonl:3"},
		{Position{Line: 3}, "-:3"},
		{Position{File: "c.pcap", Packet: 7}, "c.pcap: packet 7"},
		{Position{File: "c.pcap", Packet: 7, Stream: "10.0.0.1:2775->10.0.0.2:4000", Offset: 96}, "c.pcap: packet 7 10.0.0.1:2775->10.0.0.2:4000 @96"},
	}
	for _, tt := range tests {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("%+v: %q, want %q", tt.p, got, tt.want)
		}
	}
}

func TestPart(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		r    Record
		want Part
		ok   bool
	}{
		{"8-bit ref", Record{UDH: []byte{5, 0, 3, 0xab, 3, 2}}, Part{Ref: 0xab, Total: 3, Seq: 2, Bits: 8}, true},
		{"16-bit ref after another IE", Record{UDH: []byte{10, 0x24, 1, 0, 8, 4, 0x12, 0x34, 2, 1, 0}}, Part{Ref: 0x1234, Total: 2, Seq: 1, Bits: 16}, true},
		{"sar", Record{SAR: &SAR{Ref: 9, Total: 2, Seq: 1}}, Part{Ref: 9, Total: 2, Seq: 1, Bits: 16}, true},
		{"port addressing only", Record{UDH: []byte{6, 5, 4, 0x0b, 0x84, 0x23, 0xf0}}, Part{}, false},
		{"truncated", Record{UDH: []byte{5, 0, 3, 1}}, Part{}, false},
		{"none", Record{}, Part{}, false},
	}
	for _, tt := range tests {
		got, ok := tt.r.Part()
		if got != tt.want || ok != tt.ok {
			t.Errorf("%s: %+v %v, want %+v %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

func TestLineEndings(t *testing.T) {
	t.Parallel()
	data := "{\"at\":\"2026-11-21T10:00:00+08:00\",\"from\":\"1\",\"to\":\"2\",\"text\":\"a\"}\r\n\r\n{\"at\":\"2026-11-21T10:00:01+08:00\",\"from\":\"1\",\"to\":\"2\",\"text\":\"b\"}"
	recs, errs, st := readAll(t, []byte(data), "crlf.jsonl", Auto, Options{})
	if len(errs) != 0 || !reflect.DeepEqual(texts(recs, MO), []string{"a", "b"}) || recs[1].Pos.Line != 3 || st.Ignored["blank_line"] != 1 {
		t.Fatalf("records %v errors %v stats %+v", recs, errs, st)
	}
}
