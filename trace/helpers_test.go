package trace

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// --- SMPP PDUs, built by hand so the tests do not depend on the codec they
// exercise.

const (
	idDeliverSM     = 0x00000005
	idDeliverSMResp = 0x80000005
	idSubmitSM      = 0x00000004
	idSubmitSMResp  = 0x80000004
	idEnquireLink   = 0x00000015
	idBindTRX       = 0x00000009
)

func pduBytes(id, seq uint32, body []byte) []byte {
	b := make([]byte, 16, 16+len(body))
	binary.BigEndian.PutUint32(b[0:], uint32(16+len(body)))
	binary.BigEndian.PutUint32(b[4:], id)
	binary.BigEndian.PutUint32(b[12:], seq)
	return append(b, body...)
}

// sm describes a deliver_sm or submit_sm body.
type sm struct {
	src, dst string
	srcTON   byte
	esm, dc  byte
	msg      []byte // short_message, UDH included when esm has UDHI
	tlvs     []byte
}

func (s sm) body() []byte {
	var b bytes.Buffer
	b.WriteByte(0) // service_type ""
	b.WriteByte(s.srcTON)
	b.WriteByte(1)
	b.WriteString(s.src)
	b.WriteByte(0)
	b.WriteByte(0) // dest TON
	b.WriteByte(0) // dest NPI
	b.WriteString(s.dst)
	b.WriteByte(0)
	b.WriteByte(s.esm)
	b.WriteByte(0) // protocol_id
	b.WriteByte(0) // priority_flag
	b.WriteByte(0) // schedule_delivery_time ""
	b.WriteByte(0) // validity_period ""
	b.WriteByte(0) // registered_delivery
	b.WriteByte(0) // replace_if_present_flag
	b.WriteByte(s.dc)
	b.WriteByte(0) // sm_default_msg_id
	b.WriteByte(byte(len(s.msg)))
	b.Write(s.msg)
	b.Write(s.tlvs)
	return b.Bytes()
}

func tlv(tag uint16, v []byte) []byte {
	b := make([]byte, 4, 4+len(v))
	binary.BigEndian.PutUint16(b, tag)
	binary.BigEndian.PutUint16(b[2:], uint16(len(v)))
	return append(b, v...)
}

func deliverSM(seq uint32, s sm) []byte { return pduBytes(idDeliverSM, seq, s.body()) }
func submitSM(seq uint32, s sm) []byte  { return pduBytes(idSubmitSM, seq, s.body()) }

func moText(seq uint32, from, text string) []byte {
	return deliverSM(seq, sm{src: from, dst: "106580088001", srcTON: 1, dc: 0x03, msg: []byte(text)})
}

// --- captures

type pkt struct {
	dir      int // 0 client→server, 1 server→client
	syn, fin bool
	seq      uint32 // absolute sequence number
	payload  []byte
}

// tcpConn writes the packets of one TCP connection between an SMSC
// (server, port 2775) and an ESME (client).
type tcpConn struct {
	addrs [2]net.IP
	ports [2]uint16
	next  [2]uint32
	pkts  []pkt
}

func newConn(clientPort uint16) *tcpConn {
	return &tcpConn{
		addrs: [2]net.IP{net.IPv4(10, 0, 0, 2).To4(), net.IPv4(10, 0, 0, 1).To4()},
		ports: [2]uint16{clientPort, 2775},
		next:  [2]uint32{1000, 900000},
	}
}

func (c *tcpConn) handshake() *tcpConn {
	c.pkts = append(c.pkts, pkt{dir: 0, syn: true, seq: c.next[0]})
	c.next[0]++
	c.pkts = append(c.pkts, pkt{dir: 1, syn: true, seq: c.next[1]})
	c.next[1]++
	return c
}

// send appends one segment with the next bytes of direction dir.
func (c *tcpConn) send(dir int, payload ...[]byte) *tcpConn {
	p := bytes.Join(payload, nil)
	c.pkts = append(c.pkts, pkt{dir: dir, seq: c.next[dir], payload: p})
	c.next[dir] += uint32(len(p))
	return c
}

func (c *tcpConn) fin(dir int) *tcpConn {
	c.pkts = append(c.pkts, pkt{dir: dir, fin: true, seq: c.next[dir]})
	c.next[dir]++
	return c
}

var captureStart = time.Date(2026, 11, 21, 2, 0, 0, 0, time.UTC) // 10:00 in Shanghai

// frame serializes one packet as Ethernet/IPv4/TCP.
func (c *tcpConn) frame(t testing.TB, p pkt) []byte {
	t.Helper()
	src, dst := p.dir, 1-p.dir
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{0, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{0, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	var ip gopacket.SerializableLayer
	var nl gopacket.NetworkLayer
	if c.addrs[src].To4() != nil {
		l := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: c.addrs[src], DstIP: c.addrs[dst]}
		ip, nl = l, l
	} else {
		eth.EthernetType = layers.EthernetTypeIPv6
		l := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP, SrcIP: c.addrs[src], DstIP: c.addrs[dst]}
		ip, nl = l, l
	}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(c.ports[src]), DstPort: layers.TCPPort(c.ports[dst]), Seq: p.seq, SYN: p.syn, FIN: p.fin, ACK: !p.syn || p.dir == 1, Window: 65535}
	if err := tcp.SetNetworkLayerForChecksum(nl); err != nil {
		t.Fatal(err)
	}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, eth, ip, tcp, gopacket.Payload(p.payload)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// render writes one connection's packets in order; ng selects pcapng.
func render(t testing.TB, ng bool, c *tcpConn) []byte {
	t.Helper()
	order := make([][2]int, len(c.pkts))
	for i := range c.pkts {
		order[i] = [2]int{0, i}
	}
	return renderOrder(t, ng, []*tcpConn{c}, order)
}

func renderOrder(t testing.TB, ng bool, conns []*tcpConn, order [][2]int) []byte {
	t.Helper()
	return captureFlushed(t, ng, conns, order)
}

// captureFlushed is capture with the pcapng writer flushed before the
// bytes are taken.
func captureFlushed(t testing.TB, ng bool, conns []*tcpConn, order [][2]int) []byte {
	t.Helper()
	var out bytes.Buffer
	if ng {
		w, err := pcapgo.NewNgWriter(&out, layers.LinkTypeEthernet)
		if err != nil {
			t.Fatal(err)
		}
		writeAll(t, w.WritePacket, conns, order)
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		return out.Bytes()
	}
	w := pcapgo.NewWriter(&out)
	if err := w.WriteFileHeader(65536, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	writeAll(t, w.WritePacket, conns, order)
	return out.Bytes()
}

func writeAll(t testing.TB, write func(gopacket.CaptureInfo, []byte) error, conns []*tcpConn, order [][2]int) {
	t.Helper()
	for i, o := range order {
		c := conns[o[0]]
		data := c.frame(t, c.pkts[o[1]])
		ci := gopacket.CaptureInfo{Timestamp: captureStart.Add(time.Duration(i) * 10 * time.Millisecond), CaptureLength: len(data), Length: len(data)}
		if err := write(ci, data); err != nil {
			t.Fatal(err)
		}
	}
}

// --- reading

// readAll reads a trace to its end and returns its records, the broken
// input lenient mode skipped, and the stats.
func readAll(t testing.TB, data []byte, name string, format Format, opts Options) ([]Record, []*ParseError, Stats) {
	t.Helper()
	var errs []*ParseError
	opts.OnError = func(e *ParseError) { errs = append(errs, e) }
	r, err := NewReader(bytes.NewReader(data), name, format, opts)
	if err != nil {
		t.Fatalf("opening %s: %v", name, err)
	}
	defer r.Close()
	var recs []Record
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("reading %s: %v", name, err)
		}
		recs = append(recs, rec)
	}
	return recs, errs, r.Stats()
}

func openFile(t testing.TB, path string, opts Options) []Record {
	t.Helper()
	r, err := Open(path, Auto, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var recs []Record
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			return recs
		}
		if err != nil {
			t.Fatalf("reading %s: %v", path, err)
		}
		recs = append(recs, rec)
	}
}

func texts(recs []Record, k Kind) []string {
	var out []string
	for _, r := range recs {
		if r.Kind == k {
			out = append(out, r.Text)
		}
	}
	return out
}

func joinLines(lines ...string) []byte { return []byte(strings.Join(lines, "\n") + "\n") }

func newPeeker(data []byte) *bufio.Reader { return bufio.NewReaderSize(bytes.NewReader(data), 64<<10) }

// ipv6 returns ::n.
func ipv6(n byte) net.IP {
	ip := make(net.IP, net.IPv6len)
	ip[15] = n
	return ip
}
