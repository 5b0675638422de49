package trace

import (
	"reflect"
	"testing"
	"time"
)

// The samples in testdata were made by Kannel 1.4.5 and an npm smpp SMSC;
// see testdata/README.md.

type wantMO struct {
	from, to, text string
	coding         byte
}

// The MOs of the sample exchange, as the subscriber sent them (the two
// parts of the last one reassembled).
var sampleMOs = []wantMO{
	{"8613800138001", "106580088001", "10", 0},
	{"8613800138001", "106580088001", "482913", 0},
	{"8613800138002", "106580088001", "１０元", 8},
	{"8613800138002", "106580088002", "VIP", 0},
	{"8613800138003", "106580088001", "30.01", 0},
	{"8613800138003", "106580088001", "CX", 0},
	{"8613800138004", "106580088001", "查询", 8},
	{"8613800138005", "106580088001", " 5.5 ", 0},
	{"8613800138006", "106580088001", "12", 0},
}

func TestKannelSample(t *testing.T) {
	t.Parallel()
	recs := openFile(t, "testdata/kannel-access.log", Options{})
	var mos []wantMO
	for _, r := range recs {
		if r.Kind == MO {
			mos = append(mos, wantMO{r.From, r.To, r.Text, r.Coding})
		}
	}
	if !reflect.DeepEqual(mos, sampleMOs) {
		t.Errorf("MOs:\n got %q\nwant %q", mos, sampleMOs)
	}
	mts := texts(recs, MT)
	if len(mts) != 9 {
		t.Fatalf("got %d MTs, want 9", len(mts))
	}
	if mts[0] != "??????482913????" || mts[1] != "????" {
		t.Errorf("MT texts must keep Kannel's ?? as is: %q", mts[:2])
	}
	first := recs[0]
	if first.Pos.Line != 2 || first.Pos.File != "testdata/kannel-access.log" {
		t.Errorf("first record at %v, want line 2", first.Pos)
	}
	// No zone in the log: Options.Location, by default Asia/Shanghai.
	if want := time.Date(2026, 11, 21, 22, 48, 16, 0, time.FixedZone("", 8*3600)); !first.At.Equal(want) {
		t.Errorf("first At = %v, want %v", first.At, want)
	}
	if _, off := first.At.Zone(); off != 8*3600 {
		t.Errorf("first At offset = %d, want +08:00", off)
	}
	// MT addressed to the number Kannel logged with '+': normalized too.
	if recs[1].To != "8613800138001" || recs[1].From != "106580088001" {
		t.Errorf("MT addresses %s -> %s", recs[1].From, recs[1].To)
	}
}

func TestKannelSampleStats(t *testing.T) {
	t.Parallel()
	r, err := Open("testdata/kannel-access.log", Auto, Options{Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for {
		if _, err := r.Next(); err != nil {
			break
		}
	}
	st := r.Stats()
	if st.Records != 18 || st.MO != 9 || st.MT != 9 || st.Ignored["other_line"] != 2 || st.SkippedTotal() != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestPCAPSample(t *testing.T) {
	t.Parallel()
	recs := openFile(t, "testdata/smpp-kannel.pcap", Options{})
	var mos []Record
	for _, r := range recs {
		if r.Kind == MO {
			mos = append(mos, r)
		}
	}
	if len(mos) != 10 {
		t.Fatalf("got %d MOs, want 10 (8 single + 2 parts)", len(mos))
	}
	wantTexts := []string{"10", "482913", "１０元", "VIP", "30.01", "CX", "查询", " 5.5 ", "1", "2"}
	if got := texts(recs, MO); !reflect.DeepEqual(got, wantTexts) {
		t.Errorf("MO texts %q, want %q", got, wantTexts)
	}
	for i, r := range mos[:8] {
		w := sampleMOs[i]
		if r.From != w.from || r.To != w.to {
			t.Errorf("MO %d: %s -> %s, want %s -> %s", i, r.From, r.To, w.from, w.to)
		}
		wantDC := byte(1) // the npm SMSC sent IA5
		if w.coding == 8 {
			wantDC = 8
		}
		if r.Coding != wantDC {
			t.Errorf("MO %d: data_coding %d, want %d", i, r.Coding, wantDC)
		}
		if _, ok := r.Part(); ok || r.UDH != nil {
			t.Errorf("MO %d is not a part", i)
		}
	}
	for i, r := range mos[8:] {
		p, ok := r.Part()
		want := Part{Ref: 0x1234, Total: 2, Seq: uint8(i + 1), Bits: 16}
		if !ok || p != want {
			t.Errorf("part %d: %+v %v, want %+v", i+1, p, ok, want)
		}
		if want := []byte{0x06, 0x08, 0x04, 0x12, 0x34, 0x02, byte(i + 1)}; !reflect.DeepEqual(r.UDH, want) {
			t.Errorf("part %d UDH % x, want % x", i+1, r.UDH, want)
		}
		if want := append(append([]byte(nil), r.UDH...), r.Text...); !reflect.DeepEqual(r.Payload, want) {
			t.Errorf("part %d payload % x, want UDH+text % x", i+1, r.Payload, want)
		}
		if r.From != "8613800138006" {
			t.Errorf("part %d from %s", i+1, r.From)
		}
	}
	// Positions and times: the first MO is packet 8, 17 octets into the
	// SMSC's direction (after the bind_transceiver_resp).
	m := mos[0]
	if m.Pos.Packet != 8 || m.Pos.Offset != 17 || m.Pos.Stream != "127.0.0.1:22775->127.0.0.1:50958" || m.SeqNum != 1 {
		t.Errorf("first MO at %+v seq %d", m.Pos, m.SeqNum)
	}
	if want := time.Date(2026, 11, 21, 22, 48, 16, 402445000, time.UTC); !m.At.Equal(want) {
		t.Errorf("first MO at %v, want %v", m.At, want)
	}
	if _, off := m.At.Zone(); off != 8*3600 {
		t.Errorf("capture times are shown in Options.Location; offset %d", off)
	}
	mts := texts(recs, MT)
	if len(mts) != 9 || mts[0] != "??????482913????" {
		t.Errorf("MTs %q", mts)
	}
	for _, r := range recs {
		if r.Kind == MT && (r.From == "" || r.To == "" || r.SeqNum == 0) {
			t.Errorf("MT %+v", r)
		}
	}
}

func TestPCAPSampleStats(t *testing.T) {
	t.Parallel()
	_, errs, st := readAll(t, mustRead(t, "testdata/smpp-kannel.pcap"), "sample", Auto, Options{Port: 22775})
	if len(errs) != 0 {
		t.Errorf("errors: %v", errs)
	}
	want := map[string]int{"pdu_bindtransceiver": 1, "pdu_bindtransceiverresp": 1, "pdu_deliversmresp": 10, "pdu_submitsmresp": 9}
	if st.MO != 10 || st.MT != 9 || !reflect.DeepEqual(st.Ignored, want) {
		t.Errorf("stats %+v", st)
	}
}

// The log and the capture of the same exchange agree: same MOs (the
// capture's parts joined), at the same second once the log is read in the
// zone of the host that wrote it (UTC).
func TestSamplesAgree(t *testing.T) {
	t.Parallel()
	logged := openFile(t, "testdata/kannel-access.log", Options{Location: time.UTC})
	captured := openFile(t, "testdata/smpp-kannel.pcap", Options{})
	type mo struct {
		from, to, text string
		at             time.Time
	}
	var fromLog, fromCap []mo
	for _, r := range logged {
		if r.Kind == MO {
			fromLog = append(fromLog, mo{r.From, r.To, r.Text, r.At.UTC()})
		}
	}
	parts := map[uint16][]string{}
	for _, r := range captured {
		if r.Kind != MO {
			continue
		}
		if p, ok := r.Part(); ok {
			parts[p.Ref] = append(parts[p.Ref], r.Text)
			if int(p.Seq) < int(p.Total) {
				continue
			}
			r.Text = ""
			for _, s := range parts[p.Ref] {
				r.Text += s
			}
		}
		fromCap = append(fromCap, mo{r.From, r.To, r.Text, r.At.UTC().Truncate(time.Second)})
	}
	if !reflect.DeepEqual(fromLog, fromCap) {
		t.Errorf("log and capture disagree:\n log %v\n cap %v", fromLog, fromCap)
	}
}
