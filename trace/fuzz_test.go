package trace

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"unicode/utf8"
)

// drain reads a whole trace and checks the reader's contract: it ends
// (io.EOF or, in strict mode, a sticky *ParseError), every error is a
// *ParseError with a reason, every record has a kind and valid UTF-8 text.
func drain(t *testing.T, data []byte, format Format, strict bool) {
	t.Helper()
	r, err := NewReader(bytes.NewReader(data), "fuzz", format, Options{Strict: strict})
	if err != nil {
		return // a header the format's reader refuses: reported by Open
	}
	defer r.Close()
	// A record needs at least a few input octets; anything more means the
	// reader loops.
	limit := len(data) + 16
	for i := 0; ; i++ {
		if i > limit {
			t.Fatalf("more than %d results from %d octets", limit, len(data))
		}
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Reason == "" || pe.Err == nil {
				t.Fatalf("error %v is not a *ParseError with a reason", err)
			}
			if !strict {
				t.Fatalf("lenient mode returned %v", err)
			}
			if _, err2 := r.Next(); err2 != err {
				t.Fatalf("error not sticky: %v then %v", err, err2)
			}
			return
		}
		if rec.Kind != MO && rec.Kind != MT {
			t.Fatalf("record without a kind: %+v", rec)
		}
		if format != Kannel && !utf8.ValidString(rec.Text) {
			t.Fatalf("invalid UTF-8 text %q", rec.Text)
		}
	}
}

func FuzzJSONL(f *testing.F) {
	for _, s := range []string{
		`{"at":"2026-11-21T10:00:00+08:00","from":"8613800000001","to":"106580088001","text":"10"}`,
		`{"kind":"mt","at":"2026-11-21T10:00:01+08:00","from":"106580088001","to":"8613800000001","text":"code 123456"}`,
		`{"at":"2026-11-21T10:00:00+08:00","from":"1","to":"2","text":"查","coding":8,"udh":"06080412340201"}`,
		`{"at":"2026-11-21T10:00:00+08:00","from":"1","to":"2","text":"a","sar":{"ref":7,"total":2,"seq":2}}`,
		"# comment\n\n{}\n[1]\n{\"at\":",
		`{"at":"yesterday","from":"1","to":"2"}`,
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s+"\n"+s), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, strict bool) {
		drain(t, data, JSONL, strict)
	})
}

func FuzzKannel(f *testing.F) {
	sample, err := readTestdata("testdata/kannel-access.log")
	if err != nil {
		f.Fatal(err)
	}
	for _, line := range strings.Split(string(sample), "\n") {
		f.Add([]byte(line), false)
	}
	f.Add(sample, true)
	f.Add([]byte("2026-11-21 22:48:16 Receive SMS [from:1] [to:2] [flags:-1:2:-1:0:-1] [msg:3:FF11F] [udh:7:06080412340201]"), false)
	f.Add([]byte("21/11/2026 22:48:16 Receive SMS [from:1]"), true)
	f.Fuzz(func(t *testing.T, data []byte, strict bool) {
		drain(t, data, Kannel, strict)
	})
}

// FuzzCapture feeds pcap and pcapng bytes (the format is detected) through
// packet decoding, TCP reassembly and the SMPP codec.
func FuzzCapture(f *testing.F) {
	sample, err := readTestdata("testdata/smpp-kannel.pcap")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sample, false)
	f.Add(sample[:len(sample)/2], true)
	mo1, mo2 := moText(1, alice, "10"), moText(2, bob, "CX")
	udh := deliverSM(3, sm{src: alice, dst: "1", dc: 8, esm: 0x40, msg: []byte{6, 8, 4, 1, 2, 2, 1, 0x67, 0xe5}})
	payload := deliverSM(4, sm{src: alice, dst: "1", esm: 0x40, tlvs: tlv(0x0424, []byte{5, 0, 3, 7, 2, 2, 'h', 'i'})})
	for _, ng := range []bool{false, true} {
		c := newConn(40000).handshake().send(1, mo1[:20]).send(1, mo1[20:], mo2).send(1, udh, payload).fin(1)
		f.Add(render(f, ng, c), false)
	}
	f.Fuzz(func(t *testing.T, data []byte, strict bool) {
		drain(t, data, Auto, strict)
	})
}

// FuzzPDU targets the SMPP decoding alone (the capture fuzzer spends most
// of its effort getting through pcap and TCP).
func FuzzPDU(f *testing.F) {
	f.Add(moText(1, alice, "10"))
	f.Add(deliverSM(3, sm{src: alice, dst: "1", dc: 8, esm: 0x40, msg: []byte{6, 8, 4, 1, 2, 2, 1, 0x67, 0xe5}}))
	f.Add(deliverSM(4, sm{src: alice, dst: "1", esm: 0x40, tlvs: tlv(0x0424, []byte{5, 0, 3, 7, 2, 2, 'h', 'i'})}))
	f.Add(deliverSM(5, sm{src: alice, dst: "1", msg: []byte("lo"), tlvs: append(tlv(0x020C, []byte{0, 42}), tlv(0x020E, []byte{3})...)}))
	f.Add(submitSM(6, sm{src: "1", dst: alice, dc: 0xf0, esm: 0x43, msg: []byte{5, 0, 3, 9, 2, 1, 'x'}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < 16 || len(b) > maxPDU {
			return
		}
		binary.BigEndian.PutUint32(b, uint32(len(b))) // framed by command_length, as the stream parser does
		rec, ignored, err := decodePDU(b)
		if err == nil && ignored == "" && !utf8.ValidString(rec.Text) {
			t.Fatalf("invalid UTF-8 text %q", rec.Text)
		}
	})
}

func readTestdata(path string) ([]byte, error) { return os.ReadFile(path) }
