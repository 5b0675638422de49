package smpp

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestDecodeText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		coding byte
		in     []byte
		want   string
		err    error
	}{
		{"gsm7 ascii", 0, []byte("Hello 10"), "Hello 10", nil},
		{"gsm7 specials", 0, []byte{0x00, 0x01, 0x02, 0x1B, 0x65, 0x1B, 0x3C}, "@£$€[", nil},
		{"gsm7 high byte", 0, []byte{0x41, 0x80}, "A\uFFFD", ErrInvalidGSM7},
		{"gsm7 trailing escape", 0, []byte{0x41, 0x1B}, "A ", nil},
		{"ia5", 1, []byte("CX"), "CX", nil},
		{"latin1", 3, []byte{0xE9, 0x74, 0xE9}, "été", nil},
		{"ucs2 chinese", 8, EncodeUCS2("确认 123456"), "确认 123456", nil},
		{"ucs2 emoji", 8, EncodeUCS2("ok 😀"), "ok 😀", nil},
		{"ucs2 odd", 8, []byte{0x4E, 0x2D, 0x00}, "中\uFFFD", ErrOddUCS2},
		{"unknown coding", 0x04, []byte{0x41}, "A", ErrUnknownCoding},
		{"gsm7 class coding", 0xF0, []byte("ab"), "ab", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := DecodeText(tt.coding, tt.in)
			if got != tt.want {
				t.Errorf("text = %q, want %q", got, tt.want)
			}
			if !errors.Is(err, tt.err) {
				t.Errorf("err = %v, want %v", err, tt.err)
			}
		})
	}
}

func TestSplitText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		text   string
		coding byte
		parts  int
	}{
		{"short gsm7", "10", CodingDefault, 1},
		{"160 gsm7", strings.Repeat("a", 160), CodingDefault, 1},
		{"161 gsm7", strings.Repeat("a", 161), CodingDefault, 2},
		{"306 gsm7", strings.Repeat("a", 306), CodingDefault, 2},
		{"307 gsm7", strings.Repeat("a", 307), CodingDefault, 3},
		{"escapes at the cut", strings.Repeat("a", 152) + strings.Repeat("€", 10), CodingDefault, 2},
		{"70 chinese", strings.Repeat("中", 70), CodingUCS2, 1},
		{"71 chinese", strings.Repeat("中", 71), CodingUCS2, 2},
		{"emoji at the cut", strings.Repeat("中", 66) + strings.Repeat("😀", 5), CodingUCS2, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			coding, parts, err := SplitText(tt.text, 7)
			if err != nil {
				t.Fatal(err)
			}
			if coding != tt.coding || len(parts) != tt.parts {
				t.Fatalf("coding %d parts %d, want %d %d", coding, len(parts), tt.coding, tt.parts)
			}
			// Reassemble exactly as the receiving side does.
			var joined []byte
			for i, p := range parts {
				if len(p) > 159 && len(parts) > 1 || len(p) > 160 {
					t.Errorf("part %d is %d bytes", i+1, len(p))
				}
				if len(parts) == 1 {
					joined = p
					continue
				}
				h, ud, err := ParseUDH(p)
				if err != nil {
					t.Fatalf("part %d: %v", i+1, err)
				}
				if h.Concat == nil || h.Concat.Ref != 7 || h.Concat.Seq != i+1 || h.Concat.Total != len(parts) {
					t.Fatalf("part %d: concat %+v", i+1, h.Concat)
				}
				// every part must decode on its own
				if s, err := DecodeText(coding, ud); err != nil || !utf8.ValidString(s) || strings.ContainsRune(s, utf8.RuneError) {
					t.Errorf("part %d does not decode alone: %q %v", i+1, s, err)
				}
				joined = append(joined, ud...)
			}
			got, err := DecodeText(coding, joined)
			if err != nil || got != tt.text {
				t.Errorf("round trip = %q, %v", got, err)
			}
		})
	}
}

var udhCases = []struct {
	name   string
	in     []byte
	concat *Concat
	rest   []byte
	err    error
}{
	{"8-bit ref", []byte{5, 0, 3, 9, 2, 1, 'h', 'i'}, &Concat{9, 2, 1}, []byte("hi"), nil},
	{"16-bit ref", []byte{6, 8, 4, 1, 2, 3, 3, 'x'}, &Concat{0x102, 3, 3}, []byte("x"), nil},
	{"other IE first", []byte{8, 0x24, 1, 1, 0, 3, 9, 2, 2, 'y'}, &Concat{9, 2, 2}, []byte("y"), nil},
	{"no concat", []byte{3, 0x24, 1, 1, 'z'}, nil, []byte("z"), nil},
	{"header longer than message", []byte{9, 0, 3, 1}, nil, nil, ErrUDHTooShort},
	{"IE overruns header", []byte{3, 0, 3, 1, 2, 1}, nil, nil, ErrUDHBadIE},
	{"part 3 of 2", []byte{5, 0, 3, 1, 2, 3}, nil, nil, ErrUDHBadConcat},
	{"part 0", []byte{5, 0, 3, 1, 2, 0}, nil, nil, ErrUDHBadConcat},
	{"bad concat size", []byte{4, 0, 2, 1, 2}, nil, nil, ErrUDHBadConcat},
	{"empty", nil, nil, nil, errEmptyUserData},
}

func TestParseUDH(t *testing.T) {
	t.Parallel()
	for _, tt := range udhCases {
		t.Run(tt.name, func(t *testing.T) {
			h, rest, err := ParseUDH(tt.in)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if err != nil {
				return
			}
			if (h.Concat == nil) != (tt.concat == nil) || h.Concat != nil && *h.Concat != *tt.concat {
				t.Errorf("concat = %+v, want %+v", h.Concat, tt.concat)
			}
			if !bytes.Equal(rest, tt.rest) {
				t.Errorf("rest = %q, want %q", rest, tt.rest)
			}
		})
	}
}

func TestReassembler(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	r := NewReassembler(time.Minute, 2)
	k := PartKey{Bind: "b", From: "1", To: "2", Ref: 5, Total: 3}
	if _, _, done := r.Add(k, Concat{5, 3, 2}, 8, []byte("b"), t0); done {
		t.Fatal("done early")
	}
	r.Add(k, Concat{5, 3, 2}, 8, []byte("B"), t0) // redelivered part replaces
	if _, _, done := r.Add(k, Concat{5, 3, 4}, 8, []byte("x"), t0); done {
		t.Fatal("part 4 of 3 accepted")
	}
	r.Add(k, Concat{5, 3, 1}, 8, []byte("A"), t0)
	msg, _, done := r.Add(k, Concat{5, 3, 3}, 8, []byte("C"), t0)
	if !done || string(msg) != "ABC" {
		t.Fatalf("got %q %v", msg, done)
	}
	// Until forgotten, a redelivered last part completes it again.
	if msg, _, done := r.Add(k, Concat{5, 3, 3}, 8, []byte("C"), t0); !done || string(msg) != "ABC" {
		t.Fatalf("redelivery: %q %v", msg, done)
	}
	r.Forget(k)
	// Expiry.
	r.Add(k, Concat{5, 3, 1}, 8, []byte("A"), t0)
	if n := r.Expire(t0.Add(time.Minute)); n != 1 || r.Pending() != 0 {
		t.Fatalf("expired %d, pending %d", n, r.Pending())
	}
	// Cap: the oldest goes.
	for i := range 3 {
		kk := k
		kk.Ref = uint16(i)
		r.Add(kk, Concat{uint16(i), 3, 1}, 0, []byte("a"), t0.Add(time.Duration(i)*time.Second))
	}
	if r.Pending() != 2 {
		t.Fatalf("pending %d, want 2", r.Pending())
	}
}

func TestParseReceiptText(t *testing.T) {
	t.Parallel()
	r := ParseReceiptText("id:0123abc sub:001 dlvrd:001 submit date:2501011200 done date:2501011201 stat:DELIVRD err:000 text:hello")
	if r.MessageID != "0123abc" || r.State != "DELIVRD" || r.Err != "000" {
		t.Fatalf("%+v", r)
	}
}

func FuzzDecodeText(f *testing.F) {
	for _, c := range []byte{0, 1, 3, 8, 4} {
		f.Add(c, []byte("hello"))
		f.Add(c, EncodeUCS2("中文"))
		f.Add(c, []byte{0x1B})
	}
	f.Fuzz(func(t *testing.T, coding byte, b []byte) {
		s, _ := DecodeText(coding, b)
		if !utf8.ValidString(s) {
			t.Fatalf("invalid UTF-8 from %x", b)
		}
	})
}

func FuzzParseUDH(f *testing.F) {
	for _, c := range udhCases {
		f.Add(c.in)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, rest, err := ParseUDH(b)
		if err == nil {
			if len(rest) > len(b) {
				t.Fatal("rest longer than input")
			}
			if h.Concat != nil && (h.Concat.Seq < 1 || h.Concat.Seq > h.Concat.Total) {
				t.Fatalf("bad concat accepted: %+v", h.Concat)
			}
		}
	})
}

func FuzzSplitText(f *testing.F) {
	f.Add("hello")
	f.Add(strings.Repeat("€a", 100))
	f.Add(strings.Repeat("中😀", 60))
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) || len(s) > 2000 {
			return
		}
		coding, parts, err := SplitText(s, 1)
		if err != nil {
			return
		}
		var joined []byte
		for _, p := range parts {
			if len(parts) > 1 {
				_, ud, err := ParseUDH(p)
				if err != nil {
					t.Fatal(err)
				}
				p = ud
			}
			joined = append(joined, p...)
		}
		got, _ := DecodeText(coding, joined)
		want := strings.ToValidUTF8(s, "\uFFFD")
		if coding == CodingUCS2 && got != want {
			t.Fatalf("round trip %q != %q", got, want)
		}
		if coding == CodingDefault && got != s {
			t.Fatalf("round trip %q != %q", got, s)
		}
	})
}
