package trace

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/gopacket/gopacket/reassembly"
)

// Captures: packets are read one at a time with gopacket's pcapgo (pure
// Go), decoded lazily down to TCP, and fed to gopacket's reassembly, which
// orders segments, trims retransmissions and reports gaps. Each direction of
// each TCP connection is then cut into SMPP PDUs by command_length.
//
// A direction is taken as SMPP when its first PDU header looks like one (a
// sane command_length, a command_id SMPP 3.4 defines, status 0 on a
// request). A capture that starts mid-stream (no SYN seen) is scanned for
// the first such header; so is a stream after lost data. Memory is bounded:
// per direction at most one PDU is buffered, and the assembler's queue of
// out-of-order segments is capped and flushed by capture time.

const (
	flushAfter    = time.Minute      // give up waiting for a missing segment after this much capture time
	closeAfter    = 15 * time.Minute // forget connections idle this long
	flushEvery    = 1024             // packets between flushes
	maxSyncScan   = maxPDU           // octets scanned for a first header before a stream is declared not SMPP
	pagesPerConn  = 1024             // out-of-order pages (1900 octets) buffered per connection
	pagesTotal    = 16384
	ignoredNonTCP = "non_tcp_packet"
)

type packetSource interface {
	ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
}

type captureSource struct {
	name string
	opts Options
	loc  *time.Location
	pkts packetSource
	link func(gopacket.CaptureInfo) layers.LinkType
	asm  *reassembly.Assembler

	st     *Stats
	queue  []item
	head   int
	packet int       // number of the last packet read
	last   time.Time // its timestamp
	done   bool
}

func newCapture(br *bufio.Reader, name string, format Format, opts Options) (*captureSource, error) {
	c := &captureSource{name: name, opts: opts, loc: opts.location()}
	switch format {
	case PCAP:
		r, err := pcapgo.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("reading the pcap file header: %w", err)
		}
		lt := r.LinkType()
		c.pkts = r
		c.link = func(gopacket.CaptureInfo) layers.LinkType { return lt }
	case PCAPNG:
		r, err := pcapgo.NewNgReader(br, pcapgo.NgReaderOptions{WantMixedLinkType: true})
		if err != nil {
			return nil, fmt.Errorf("reading the pcapng section header: %w", err)
		}
		c.pkts = r
		c.link = func(ci gopacket.CaptureInfo) layers.LinkType {
			if len(ci.AncillaryData) > 0 {
				if lt, ok := ci.AncillaryData[0].(layers.LinkType); ok {
					return lt
				}
			}
			return r.LinkType()
		}
	default:
		return nil, fmt.Errorf("%v is not a capture format", format)
	}
	c.asm = reassembly.NewAssembler(reassembly.NewStreamPool(&streamFactory{c: c}))
	c.asm.MaxBufferedPagesPerConnection = pagesPerConn
	c.asm.MaxBufferedPagesTotal = pagesTotal
	return c, nil
}

func (c *captureSource) next(st *Stats) (item, error) {
	c.st = st
	for {
		if c.head < len(c.queue) {
			it := c.queue[c.head]
			c.queue[c.head] = item{}
			c.head++
			if c.head == len(c.queue) {
				c.queue, c.head = c.queue[:0], 0
			}
			return it, nil
		}
		if c.done {
			return item{}, io.EOF
		}
		c.readPacket()
	}
}

func (c *captureSource) readPacket() {
	data, ci, err := c.pkts.ReadPacketData()
	if err != nil {
		c.done = true
		if !errors.Is(err, io.EOF) {
			reason := ReasonBadCapture
			if errors.Is(err, io.ErrUnexpectedEOF) {
				reason = ReasonTruncatedCapture
				err = errors.New("the capture file ends inside this packet")
			}
			c.emitErr(Position{File: c.name, Packet: c.packet + 1}, reason, err)
		}
		c.asm.FlushAll()
		return
	}
	c.packet++
	c.last = ci.Timestamp
	pkt := gopacket.NewPacket(data, c.link(ci), gopacket.DecodeOptions{Lazy: true, NoCopy: true})
	tcp, _ := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
	nl := pkt.NetworkLayer()
	if tcp == nil || nl == nil {
		if pkt.ErrorLayer() != nil {
			c.st.ignore("undecodable_packet")
		} else {
			c.st.ignore(ignoredNonTCP)
		}
		return
	}
	if p := c.opts.Port; p != 0 && uint16(tcp.SrcPort) != p && uint16(tcp.DstPort) != p {
		c.st.ignore("other_port_packet")
		return
	}
	ci.AncillaryData = []any{c.packet}
	c.asm.AssembleWithContext(nl.NetworkFlow(), tcp, &packetContext{ci: ci})
	if c.packet%flushEvery == 0 {
		c.asm.FlushWithOptions(reassembly.FlushOptions{T: c.last.Add(-flushAfter), TC: c.last.Add(-closeAfter)})
	}
}

func (c *captureSource) emitErr(pos Position, reason string, err error) {
	c.queue = append(c.queue, item{err: &ParseError{Pos: pos, Reason: reason, Err: err}})
}

// packetContext carries the packet number to the stream callbacks, in
// CaptureInfo.AncillaryData (the only per-offset information a
// ScatterGather gives back).
type packetContext struct{ ci gopacket.CaptureInfo }

func (p *packetContext) GetCaptureInfo() gopacket.CaptureInfo { return p.ci }

type streamFactory struct{ c *captureSource }

func (f *streamFactory) New(netFlow, tcpFlow gopacket.Flow, _ *layers.TCP, _ reassembly.AssemblerContext) reassembly.Stream {
	src := net.JoinHostPort(netFlow.Src().String(), tcpFlow.Src().String())
	dst := net.JoinHostPort(netFlow.Dst().String(), tcpFlow.Dst().String())
	return &tcpStream{c: f.c, halves: [2]*half{
		{name: src + "->" + dst},
		{name: dst + "->" + src},
	}}
}

type halfState int

const (
	stateUnknown halfState = iota
	stateSMPP
	stateNotSMPP
)

// half is one direction of a TCP connection.
type half struct {
	name    string
	state   halfState
	sawSYN  bool   // the capture has the start of this direction
	resync  bool   // lost data: scan for the next PDU header
	buf     []byte // pending octets; buf[start:] not yet framed
	start   int
	off     int64 // stream offset of buf[start]
	scanned int   // octets scanned without finding a first header
	ended   bool
}

func (h *half) pending() []byte { return h.buf[h.start:] }

func (h *half) consume(n int) {
	h.start += n
	h.off += int64(n)
}

type tcpStream struct {
	c      *captureSource
	halves [2]*half
}

func (s *tcpStream) half(dir reassembly.TCPFlowDirection) *half {
	if dir == reassembly.TCPDirClientToServer {
		return s.halves[0]
	}
	return s.halves[1]
}

func (s *tcpStream) Accept(tcp *layers.TCP, _ gopacket.CaptureInfo, dir reassembly.TCPFlowDirection, _ reassembly.Sequence, start *bool, _ reassembly.AssemblerContext) bool {
	h := s.half(dir)
	if tcp.SYN && h.off == 0 && len(h.pending()) == 0 {
		h.sawSYN = true
	}
	// Streams whose handshake is not in the capture start where it does.
	*start = true
	return true
}

func (s *tcpStream) ReassembledSG(sg reassembly.ScatterGather, _ reassembly.AssemblerContext) {
	dir, _, end, skip := sg.Info()
	h := s.half(dir)
	n, _ := sg.Lengths()
	data := sg.Fetch(n)
	if skip > 0 {
		s.c.gap(h, skip, sg)
	}
	s.c.feed(h, data, sg)
	if end {
		s.c.finish(h)
	}
}

func (s *tcpStream) ReassemblyComplete(_ reassembly.AssemblerContext) bool {
	for _, h := range s.halves {
		s.c.finish(h)
	}
	return true
}

// gap handles octets the capture does not have.
func (c *captureSource) gap(h *half, skip int, sg reassembly.ScatterGather) {
	dropped := len(h.pending())
	switch h.state {
	case stateSMPP:
		pos := Position{File: c.name, Packet: c.packetAt(sg, 0), Stream: h.name, Offset: h.off}
		c.emitErr(pos, ReasonStreamGap, fmt.Errorf("%d octets of the TCP stream are missing from the capture", skip))
		h.buf, h.start = h.buf[:0], 0
		h.resync = true
	case stateUnknown:
		h.buf, h.start = h.buf[:0], 0
		h.sawSYN = false // the start is lost: scan for a header
	default:
		dropped = 0 // nothing was buffered
	}
	h.off += int64(dropped + skip)
}

// feed frames the new octets of a direction into PDUs.
func (c *captureSource) feed(h *half, data []byte, sg reassembly.ScatterGather) {
	if h.state == stateNotSMPP || h.ended {
		h.off += int64(len(data))
		return
	}
	sgStart := h.off + int64(len(h.pending())) // stream offset of data[0]
	h.buf = append(h.buf, data...)
	for {
		if (h.state == stateUnknown || h.resync) && !c.sync(h) {
			break
		}
		p := h.pending()
		if len(p) < 16 {
			break
		}
		hd := parseHeader(p)
		if !hd.sane() {
			pos := Position{File: c.name, Packet: c.packetAtOffset(sg, sgStart, h.off), Stream: h.name, Offset: h.off}
			c.emitErr(pos, ReasonBadPDU, fmt.Errorf("command_length %d out of range [16, %d]: resynchronizing", hd.Len, maxPDU))
			h.consume(1)
			h.resync = true
			continue
		}
		if len(p) < int(hd.Len) {
			break
		}
		ci := c.captureAt(sg, sgStart, h.off+int64(hd.Len)-1)
		pos := Position{File: c.name, Packet: packetNumber(ci, c.packet), Stream: h.name, Offset: h.off}
		rec, ignored, err := decodePDU(p[:hd.Len])
		switch {
		case err != nil:
			c.emitErr(pos, ReasonBadPDU, err)
		case ignored != "":
			c.st.ignore(ignored)
		default:
			rec.Pos = pos
			at := ci.Timestamp
			if at.IsZero() {
				at = c.last
			}
			rec.At = at.In(c.loc)
			c.queue = append(c.queue, item{rec: rec})
		}
		h.consume(int(hd.Len))
	}
	// Keep only what is not framed yet, at the front of the buffer.
	n := copy(h.buf, h.pending())
	h.buf, h.start = h.buf[:n], 0
}

// sync looks for a PDU header: at the very start of a direction whose SYN
// was captured, anywhere in it otherwise or after lost data. It returns
// true when framing can go on.
func (c *captureSource) sync(h *half) bool {
	p := h.pending()
	if h.state == stateUnknown && h.sawSYN {
		if len(p) < 16 {
			return false
		}
		if parseHeader(p).looksLikeSMPP() {
			h.state = stateSMPP
			return true
		}
		c.notSMPP(h)
		return false
	}
	for i := 0; i+16 <= len(p); i++ {
		if parseHeader(p[i:]).looksLikeSMPP() {
			h.consume(i)
			h.state, h.resync, h.scanned = stateSMPP, false, 0
			return true
		}
	}
	if drop := len(p) - 15; drop > 0 {
		h.consume(drop)
		h.scanned += drop
	}
	if h.state == stateUnknown && h.scanned > maxSyncScan {
		c.notSMPP(h)
	}
	return false
}

func (c *captureSource) notSMPP(h *half) {
	h.state = stateNotSMPP
	h.off += int64(len(h.pending()))
	h.buf, h.start = nil, 0
	if c.opts.Port != 0 {
		c.emitErr(Position{File: c.name, Packet: c.packet, Stream: h.name, Offset: h.off},
			ReasonBadPDU, fmt.Errorf("the stream on port %d does not carry SMPP", c.opts.Port))
		return
	}
	c.st.ignore("non_smpp_stream")
}

// finish reports a direction that ends inside a PDU.
func (c *captureSource) finish(h *half) {
	if h.ended {
		return
	}
	h.ended = true
	if p := h.pending(); h.state == stateSMPP && len(p) > 0 {
		msg := fmt.Sprintf("the stream ends %d octets into a PDU", len(p))
		if len(p) >= 16 {
			msg = fmt.Sprintf("the stream ends %d octets into a PDU of %d", len(p), parseHeader(p).Len)
		}
		c.emitErr(Position{File: c.name, Packet: c.packet, Stream: h.name, Offset: h.off}, ReasonIncompletePDU, errors.New(msg))
	}
	h.buf, h.start = nil, 0
}

// captureAt returns the capture info of the packet that carried the octet
// at stream offset abs, within a ScatterGather that starts at sgStart.
func (c *captureSource) captureAt(sg reassembly.ScatterGather, sgStart, abs int64) gopacket.CaptureInfo {
	i := abs - sgStart
	if i < 0 {
		return gopacket.CaptureInfo{}
	}
	return sg.CaptureInfo(int(i))
}

func (c *captureSource) packetAtOffset(sg reassembly.ScatterGather, sgStart, abs int64) int {
	return packetNumber(c.captureAt(sg, sgStart, abs), c.packet)
}

func (c *captureSource) packetAt(sg reassembly.ScatterGather, i int) int {
	return packetNumber(sg.CaptureInfo(i), c.packet)
}

func packetNumber(ci gopacket.CaptureInfo, fallback int) int {
	if len(ci.AncillaryData) > 0 {
		if n, ok := ci.AncillaryData[0].(int); ok {
			return n
		}
	}
	return fallback
}
