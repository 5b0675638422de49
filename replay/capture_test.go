package replay

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/carrierbill/carrierbill/trace"
)

// The same traffic as a JSON-lines trace, a pcap and a pcapng capture
// (built here from SMPP PDUs, so nothing opaque is committed) must replay to
// the same output.

// capMO is one deliver_sm of the generated captures.
type capMO struct {
	at     time.Time
	from   string
	dc     byte
	udh    []byte // with its length octet; nil for none
	data   []byte // user data after the UDH
	jsonUD string // the part's text for the JSON-lines trace
}

func ucs2(s string) []byte {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		b = binary.BigEndian.AppendUint16(b, u)
	}
	return b
}

func captureTraffic() []capMO {
	t0 := time.Date(2026, 11, 21, 2, 0, 0, 0, time.UTC) // 10:00 in Shanghai
	return []capMO{
		{at: t0, from: "8613400000001", dc: 8, data: ucs2("ＶＩＰ"), jsonUD: "ＶＩＰ"},
		{at: t0.Add(5 * time.Second), from: "8613400000001", dc: 1, data: []byte("{{code}}"), jsonUD: "{{code}}"},
		{at: t0.Add(10 * time.Second), from: "8613400000002", dc: 0, udh: []byte{5, 0, 3, 0x42, 2, 1}, data: []byte("1"), jsonUD: "1"},
		{at: t0.Add(11 * time.Second), from: "8613400000002", dc: 0, udh: []byte{5, 0, 3, 0x42, 2, 2}, data: []byte("2"), jsonUD: "2"},
		{at: t0.Add(20 * time.Second), from: "8613400000002", dc: 8, udh: []byte{6, 8, 4, 0x12, 0x34, 2, 1}, data: ucs2("{{co"), jsonUD: "{{co"},
		{at: t0.Add(21 * time.Second), from: "8613400000002", dc: 8, udh: []byte{6, 8, 4, 0x12, 0x34, 2, 2}, data: ucs2("de}}"), jsonUD: "de}}"},
	}
}

func smBody(from, to string, esm, dc byte, msg []byte) []byte {
	var b bytes.Buffer
	b.WriteByte(0) // service_type
	b.Write([]byte{1, 1})
	b.WriteString(from)
	b.WriteByte(0)
	b.Write([]byte{0, 0})
	b.WriteString(to)
	b.WriteByte(0)
	b.Write([]byte{esm, 0, 0, 0, 0, 0, 0, dc, 0, byte(len(msg))})
	b.Write(msg)
	return b.Bytes()
}

func pdu(id, seq uint32, body []byte) []byte {
	b := make([]byte, 16, 16+len(body))
	binary.BigEndian.PutUint32(b[0:], uint32(16+len(body)))
	binary.BigEndian.PutUint32(b[4:], id)
	binary.BigEndian.PutUint32(b[12:], seq)
	return append(b, body...)
}

// writeCapture writes the traffic as one TCP connection (SMSC on port 2775)
// carrying a deliver_sm per MO, in pcap or pcapng.
func writeCapture(t *testing.T, mos []capMO, ng bool) []byte {
	t.Helper()
	var out bytes.Buffer
	var write func(ci gopacket.CaptureInfo, data []byte) error
	flush := func() error { return nil }
	if ng {
		w, err := pcapgo.NewNgWriter(&out, layers.LinkTypeEthernet)
		if err != nil {
			t.Fatal(err)
		}
		write, flush = w.WritePacket, w.Flush
	} else {
		w := pcapgo.NewWriter(&out)
		if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
			t.Fatal(err)
		}
		write = w.WritePacket
	}
	smsc, esme := net.IPv4(10, 0, 0, 1).To4(), net.IPv4(10, 0, 0, 2).To4()
	seq := [2]uint32{5000, 9000} // smsc→esme, esme→smsc
	packet := func(at time.Time, fromSMSC, syn bool, payload []byte) {
		src, dst, sp, dp, dir := smsc, esme, uint16(2775), uint16(40000), 0
		if !fromSMSC {
			src, dst, sp, dp, dir = esme, smsc, 40000, 2775, 1
		}
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{0, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{0, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: src, DstIP: dst}
		tcp := &layers.TCP{SrcPort: layers.TCPPort(sp), DstPort: layers.TCPPort(dp), Seq: seq[dir], SYN: syn, ACK: !syn, PSH: len(payload) > 0, Window: 65535}
		if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
			t.Fatal(err)
		}
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp, gopacket.Payload(payload)); err != nil {
			t.Fatal(err)
		}
		seq[dir] += uint32(len(payload))
		if syn {
			seq[dir]++
		}
		b := buf.Bytes()
		if err := write(gopacket.CaptureInfo{Timestamp: at, CaptureLength: len(b), Length: len(b)}, b); err != nil {
			t.Fatal(err)
		}
	}
	start := mos[0].at.Add(-time.Second)
	packet(start, false, true, nil)
	packet(start, true, true, nil)
	for i, m := range mos {
		esm := byte(0)
		msg := m.data
		if m.udh != nil {
			esm = 0x40
			msg = append(append([]byte(nil), m.udh...), m.data...)
		}
		packet(m.at, true, false, pdu(0x00000005, uint32(i+1), smBody(m.from, "106580088001", esm, m.dc, msg)))
		packet(m.at, false, false, pdu(0x80000005, uint32(i+1), []byte{0}))
	}
	if err := flush(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func jsonTrace(mos []capMO) []byte {
	var b bytes.Buffer
	for _, m := range mos {
		udh := ""
		if m.udh != nil {
			udh = fmt.Sprintf(`,"udh":"%x"`, m.udh)
		}
		fmt.Fprintf(&b, `{"at":%q,"from":%q,"to":"106580088001","text":%q%s}`+"\n", m.at.Format(time.RFC3339Nano), m.from, m.jsonUD, udh)
	}
	return b.Bytes()
}

func TestThreeFormatsReplayAlike(t *testing.T) {
	t.Parallel()
	mos := captureTraffic()
	inputs := []struct {
		name   string
		format trace.Format
		data   []byte
	}{
		{"jsonl", trace.JSONL, jsonTrace(mos)},
		{"pcap", trace.PCAP, writeCapture(t, mos, false)},
		{"pcapng", trace.PCAPNG, writeCapture(t, mos, true)},
	}
	var first string
	for _, in := range inputs {
		r, err := trace.NewReader(bytes.NewReader(in.data), in.name, trace.Auto, trace.Options{Strict: true})
		if err != nil {
			t.Fatalf("%s: %v", in.name, err)
		}
		var out bytes.Buffer
		sum, err := Run(context.Background(), r, &out, Options{Config: testConfig(t), Seed: 7})
		if err != nil {
			t.Fatalf("%s: %v", in.name, err)
		}
		if sum.Messages != 4 || sum.Charges != 2 || sum.Parts != 4 {
			t.Fatalf("%s: %d messages, %d parts, %d charges; want 4, 4, 2\n%s", in.name, sum.Messages, sum.Parts, sum.Charges, out.String())
		}
		if !strings.Contains(out.String(), `"amount_fen":1200`) || !strings.Contains(out.String(), `"amount_fen":1500`) {
			t.Fatalf("%s: want charges of 15.00 (ＶＩＰ in UCS2) and 12.00 (two GSM parts):\n%s", in.name, out.String())
		}
		if first == "" {
			first = out.String()
		} else if out.String() != first {
			t.Errorf("%s replays differently from jsonl:\n%s\n--- jsonl\n%s", in.name, out.String(), first)
		}
	}
}
