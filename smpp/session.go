package smpp

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fiorix/go-smpp/smpp/pdu"
	"github.com/fiorix/go-smpp/smpp/pdu/pdufield"

	"github.com/carrierbill/carrierbill/redact"
)

// Errors of a connection's life.
var (
	ErrLinkLost = errors.New("smpp link lost")
	ErrClosed   = errors.New("smpp client closed")
	errUnbound  = errors.New("unbound by the SMSC")
	errTimeout  = errors.New("no response in time")
)

// maxInbound bounds the MOs being consumed at once on one connection; beyond
// it deliver_sm is answered 0x64 at once (the SMSC's own window normally
// keeps far below).
const maxInbound = 1024

// conn is one bound TCP connection (one role of a bind).
type conn struct {
	l   *link
	nc  net.Conn
	log *slog.Logger

	wmu  sync.Mutex
	bw   *bufio.Writer
	wbuf []byte

	seq atomic.Uint32

	pmu     sync.Mutex
	pending map[uint32]chan Frame

	window  chan struct{}
	inbound chan struct{}

	dead     chan struct{}
	deadOnce sync.Once
	deadErr  error

	wg sync.WaitGroup // reader, enquirer and inbound handlers
}

// nextSeq returns the next sequence number in 1..0x7FFFFFFF.
func (c *conn) nextSeq() uint32 {
	for {
		old := c.seq.Load()
		n := old + 1
		if n > 0x7FFFFFFF {
			n = 1
		}
		if c.seq.CompareAndSwap(old, n) {
			return n
		}
	}
}

// dial connects and binds; the returned conn is running its loops.
func (l *link) dial(ctx context.Context) (*conn, error) {
	cfg := l.cfg
	d := net.Dialer{Timeout: cfg.RespTimeout}
	var nc net.Conn
	var err error
	if cfg.TLS != nil {
		td := tls.Dialer{NetDialer: &d, Config: cfg.TLS}
		nc, err = td.DialContext(ctx, "tcp", cfg.Addr)
	} else {
		nc, err = d.DialContext(ctx, "tcp", cfg.Addr)
	}
	if err != nil {
		return nil, fmt.Errorf("dialing %s: %w", cfg.Addr, err)
	}
	c := &conn{
		l: l, nc: nc, log: l.log,
		bw:      bufio.NewWriterSize(nc, 8192),
		pending: map[uint32]chan Frame{},
		window:  make(chan struct{}, cfg.Window),
		inbound: make(chan struct{}, maxInbound),
		dead:    make(chan struct{}),
	}
	if err := c.bind(); err != nil {
		nc.Close()
		return nil, err
	}
	c.wg.Add(2)
	go c.readLoop()
	go c.enquireLoop()
	return c, nil
}

func (c *conn) bind() error {
	cfg := c.l.cfg
	var p pdu.Body
	var want pdu.ID
	switch c.l.role {
	case pdu.BindTransmitterID:
		p, want = pdu.NewBindTransmitter(), pdu.BindTransmitterRespID
	case pdu.BindReceiverID:
		p, want = pdu.NewBindReceiver(), pdu.BindReceiverRespID
	default:
		p, want = pdu.NewBindTransceiver(), pdu.BindTransceiverRespID
	}
	f := p.Fields()
	f.Set(pdufield.SystemID, cfg.SystemID)
	f.Set(pdufield.Password, cfg.Password)
	f.Set(pdufield.SystemType, cfg.SystemType)
	f.Set(pdufield.InterfaceVersion, uint8(0x34))
	f.Set(pdufield.AddrTON, cfg.AddrTON)
	f.Set(pdufield.AddrNPI, cfg.AddrNPI)
	f.Set(pdufield.AddressRange, "")
	fr, err := EncodeBody(p, c.nextSeq())
	if err != nil {
		return err
	}
	if err := c.write(fr); err != nil {
		return fmt.Errorf("writing bind: %w", err)
	}
	c.nc.SetReadDeadline(time.Now().Add(cfg.RespTimeout))
	defer c.nc.SetReadDeadline(time.Time{})
	for range 8 { // tolerate an early enquire_link from the SMSC
		resp, err := ReadFrame(c.nc, c.l.maxPDU)
		if err != nil {
			return fmt.Errorf("reading bind response: %w", err)
		}
		c.l.stats.count(true, resp.ID, resp.Status)
		switch {
		// Only one request is outstanding on a fresh connection, so a bind
		// response with another sequence number (go-smpp's smpptest sends
		// one) is still ours.
		case resp.ID == want || resp.ID == pdu.GenericNACKID && resp.Seq == fr.Seq:
			if resp.Status != StatusOK {
				return &StatusError{Command: "bind", Status: resp.Status}
			}
			return nil
		case resp.ID == pdu.EnquireLinkID:
			c.write(Frame{ID: pdu.EnquireLinkRespID, Seq: resp.Seq})
		}
	}
	return errors.New("no bind response among the first PDUs")
}

// write sends one frame; writes are serialized and bounded by RespTimeout.
func (c *conn) write(f Frame) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wbuf = AppendFrame(c.wbuf[:0], f)
	c.nc.SetWriteDeadline(time.Now().Add(c.l.cfg.RespTimeout))
	if _, err := c.bw.Write(c.wbuf); err != nil {
		c.kill(fmt.Errorf("writing %s: %w", cmdName(f.ID), err))
		return err
	}
	if err := c.bw.Flush(); err != nil {
		c.kill(fmt.Errorf("writing %s: %w", cmdName(f.ID), err))
		return err
	}
	c.l.stats.count(false, f.ID, f.Status)
	return nil
}

// kill tears the connection down once; every waiter sees c.dead.
func (c *conn) kill(err error) {
	c.deadOnce.Do(func() {
		c.deadErr = err
		c.nc.Close()
		close(c.dead)
	})
}

// call sends a request and waits for the response routed by response bit +
// sequence number. sent reports whether the request reached the socket.
func (c *conn) call(f Frame, timeout time.Duration) (resp Frame, sent bool, err error) {
	f.Seq = c.nextSeq()
	ch := make(chan Frame, 1)
	c.pmu.Lock()
	c.pending[f.Seq] = ch
	c.pmu.Unlock()
	defer func() {
		c.pmu.Lock()
		delete(c.pending, f.Seq)
		c.pmu.Unlock()
	}()
	select {
	case <-c.dead:
		return Frame{}, false, ErrLinkLost
	default:
	}
	if err := c.write(f); err != nil {
		return Frame{}, false, fmt.Errorf("%w: %v", ErrLinkLost, err)
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case resp := <-ch:
		return resp, true, nil
	case <-t.C:
		return Frame{}, true, fmt.Errorf("%s seq %d: %w", cmdName(f.ID), f.Seq, errTimeout)
	case <-c.dead:
		return Frame{}, true, ErrLinkLost
	}
}

func (c *conn) readLoop() {
	defer c.wg.Done()
	br := bufio.NewReaderSize(c.nc, 16384)
	for {
		f, err := ReadFrame(br, c.l.maxPDU)
		if err != nil {
			if errors.Is(err, ErrFraming) {
				c.log.Warn("smpp: dropping the link, stream cannot be resynchronized", "err", err)
			}
			c.kill(fmt.Errorf("reading: %w", err))
			return
		}
		c.l.stats.count(true, f.ID, f.Status)
		if f.IsResp() {
			c.pmu.Lock()
			ch := c.pending[f.Seq]
			delete(c.pending, f.Seq)
			c.pmu.Unlock()
			if ch != nil {
				ch <- f
			} else {
				c.log.Warn("smpp: response matches no pending request", "command", cmdName(f.ID), "seq", f.Seq, "status", uint32(f.Status))
			}
			continue
		}
		switch f.ID {
		case pdu.EnquireLinkID:
			c.write(Frame{ID: pdu.EnquireLinkRespID, Seq: f.Seq})
		case pdu.DeliverSMID, pdu.DataSMID:
			select {
			case c.inbound <- struct{}{}:
				c.wg.Add(1)
				go c.handleInbound(f, time.Now())
			default:
				c.log.Warn("smpp: too many MOs in flight, answering 0x64", "seq", f.Seq)
				c.write(respFrame(f, StatusRxTApp))
			}
		case pdu.UnbindID:
			c.log.Info("smpp: SMSC unbound")
			c.write(Frame{ID: pdu.UnbindRespID, Seq: f.Seq})
			c.kill(errUnbound)
			return
		case pdu.AlertNotificationID:
			c.log.Info("smpp: alert_notification ignored")
		default:
			c.log.Warn("smpp: answering generic_nack to an unsupported request", "command", cmdName(f.ID), "seq", f.Seq)
			c.write(Frame{ID: pdu.GenericNACKID, Status: StatusInvCmdID, Seq: f.Seq})
		}
	}
}

// respFrame builds the response to deliver_sm or data_sm.
func respFrame(req Frame, st pdu.Status) Frame {
	return Frame{ID: req.ID | 0x80000000, Status: st, Seq: req.Seq, Body: []byte{0}} // empty message_id
}

func (c *conn) handleInbound(f Frame, start time.Time) {
	defer c.wg.Done()
	defer func() { <-c.inbound }()
	st := c.l.b.process(c.l.ctx, f, c.log)
	if err := c.write(respFrame(f, st)); err == nil {
		c.l.stats.ackLatency(time.Since(start))
		c.l.b.c.observer().MOAcked(c.l.b.cfg.Name, time.Since(start))
	}
}

func (c *conn) enquireLoop() {
	defer c.wg.Done()
	t := time.NewTicker(c.l.cfg.EnquireLink)
	defer t.Stop()
	for {
		select {
		case <-c.dead:
			return
		case <-t.C:
			resp, _, err := c.call(Frame{ID: pdu.EnquireLinkID}, c.l.cfg.EnquireLinkTimeout)
			if err != nil {
				if !errors.Is(err, ErrLinkLost) {
					c.log.Warn("smpp: enquire_link unanswered, dropping the link", "err", err)
					c.kill(fmt.Errorf("enquire_link: %w", err))
				}
				return
			}
			if resp.Status != StatusOK {
				c.log.Warn("smpp: enquire_link answered with an error", "status", uint32(resp.Status))
			}
		}
	}
}

// unbind asks the SMSC to end the session and closes the connection.
func (c *conn) unbind() {
	_, _, err := c.call(Frame{ID: pdu.UnbindID}, c.l.cfg.RespTimeout)
	if err != nil && !errors.Is(err, ErrLinkLost) {
		c.log.Warn("smpp: unbind unanswered", "err", err)
	}
	c.kill(ErrClosed)
}

// submit sends one submit_sm part and waits for its response. It holds a
// window slot from before the write until the response or the timeout.
func (c *conn) submit(ctx context.Context, sm *SM) (id string, sent bool, err error) {
	select {
	case c.window <- struct{}{}:
	case <-ctx.Done():
		return "", false, ctx.Err()
	case <-c.dead:
		return "", false, ErrLinkLost
	}
	defer func() { <-c.window }()
	if err := c.l.b.lim.wait(ctx); err != nil {
		return "", false, err
	}
	fr, err := sm.EncodeSubmitSM(0)
	if err != nil {
		return "", false, err
	}
	resp, sent, err := c.call(fr, c.l.cfg.RespTimeout)
	if err != nil {
		return "", sent, fmt.Errorf("submit_sm on %s: %w", c.l.b.cfg.Name, err)
	}
	if resp.Status != StatusOK {
		return "", true, &StatusError{Command: "submit_sm", Status: resp.Status}
	}
	r := &bodyReader{b: resp.Body}
	id = r.cstring(65)
	if r.err != nil {
		return "", true, fmt.Errorf("submit_sm_resp on %s: %w", c.l.b.cfg.Name, r.err)
	}
	return id, true, nil
}

// process turns a deliver_sm or data_sm into an MO or a receipt for the
// Consumer and returns the command_status to answer with.
func (b *bind) process(ctx context.Context, f Frame, log *slog.Logger) pdu.Status {
	sm, err := DecodeSM(f.ID, f.Body)
	if err != nil {
		log.Warn("smpp: malformed inbound message", "command", cmdName(f.ID), "seq", f.Seq, "len", len(f.Body), "err", err)
		return StatusInvMsgLen
	}
	now := b.c.clk.Now()
	if sm.IsReceipt() {
		return b.receipt(ctx, sm, now, log)
	}
	if _, ussd, _ := sm.USSDOp(); ussd && b.c.ussd != nil {
		return b.processUSSD(ctx, sm, now, log)
	}
	if err := sm.CheckPayload(); err != nil {
		log.Warn("smpp: MO with both short_message and message_payload rejected", "from", redact.Phone(sm.Src), "err", err)
		return StatusOptNotAllowed
	}
	data := sm.UserData()
	var concat *Concat
	if sm.ESMClass&0x40 != 0 {
		h, ud, err := ParseUDH(data)
		if err != nil {
			log.Warn("smpp: MO with a bad UDH rejected", "from", redact.Phone(sm.Src), "len", len(data), "err", err)
			return StatusRxPApp
		}
		data, concat = ud, h.Concat
	} else if c, present, err := sm.SAR(); err != nil {
		log.Warn("smpp: MO with bad SAR TLVs rejected", "from", redact.Phone(sm.Src), "len", len(data), "err", err)
		return StatusRxPApp
	} else if present {
		concat = &c
	}
	mo := MO{Bind: b.cfg.Name, From: sm.Src, SourceTON: sm.SrcTON, SourceNPI: sm.SrcNPI, To: sm.Dst, DataCoding: sm.DataCoding, Parts: 1, ReceivedAt: now}
	coding := sm.DataCoding
	var key PartKey
	if concat != nil && concat.Total > 1 {
		key = PartKey{Bind: b.cfg.Name, From: sm.Src, To: sm.Dst, Ref: concat.Ref, Total: concat.Total}
		b.rmu.Lock()
		msg, mc, done, err := b.reasm.Put(key, *concat, sm.DataCoding, data, now)
		held, bytes := b.reasm.Pending(), b.reasm.Bytes()
		b.rmu.Unlock()
		if err != nil {
			st := StatusMsgQFull
			if errors.Is(err, ErrPartTooLarge) {
				st = StatusRxPApp
			}
			log.Warn("smpp: MO part refused, reassembly limit reached", "from", redact.Phone(sm.Src),
				"part", concat.Seq, "total", concat.Total, "len", len(data), "held_messages", held, "held_bytes", bytes,
				"status", fmt.Sprintf("%#08x", uint32(st)), "err", err)
			return st
		}
		if !done {
			return StatusOK // held in memory; see the package doc
		}
		data, coding, mo.Parts, mo.DataCoding = msg, mc, concat.Total, mc
	}
	text, err := DecodeText(coding, data)
	if err != nil {
		log.Warn("smpp: MO text decoded with errors", "from", redact.Phone(sm.Src), "coding", coding, "len", len(data), "err", err)
	}
	mo.Text = text
	if err := b.store(ctx, func(ctx context.Context) error { return b.c.consumer.ConsumeMO(ctx, mo) }); err != nil {
		log.Warn("smpp: storing an MO failed, answering 0x64", "from", redact.Phone(sm.Src), "err", err)
		return StatusRxTApp // parts stay in the reassembler for the redelivery
	}
	if key.Total > 1 {
		b.rmu.Lock()
		b.reasm.Forget(key)
		b.rmu.Unlock()
	}
	return StatusOK
}

// receipt hands a delivery receipt to the Consumer.
func (b *bind) receipt(ctx context.Context, sm *SM, now time.Time, log *slog.Logger) pdu.Status {
	r := sm.ParseReceipt()
	dr := DeliveryReceipt{Bind: b.cfg.Name, MessageID: r.MessageID, From: sm.Src, To: sm.Dst, State: r.State, Err: r.Err, ReceivedAt: now}
	if err := b.store(ctx, func(ctx context.Context) error { return b.c.consumer.ConsumeReceipt(ctx, dr) }); err != nil {
		log.Warn("smpp: storing a receipt failed, answering 0x64", "message_id", r.MessageID, "err", err)
		return StatusRxTApp
	}
	return StatusOK
}

// errStoreTimeout: the Consumer did not return within StoreTimeout.
var errStoreTimeout = errors.New("the consumer did not store in time")

// store runs a Consumer call with the bind's StoreTimeout as its deadline
// and returns at the deadline even if the call has not: a database that
// stopped answering without closing the connection must not hold the ack
// (issue 18.6). A call still running then finishes in the background (the
// Client's Close waits for it); if it stores after all, the SMSC's
// redelivery is a duplicate, which the gateway tolerates by design.
func (b *bind) store(ctx context.Context, call func(context.Context) error) error {
	sctx, cancel := context.WithTimeout(ctx, b.cfg.StoreTimeout)
	done := make(chan error, 1)
	b.c.wg.Add(1)
	go func() {
		defer b.c.wg.Done()
		defer cancel()
		done <- call(sctx)
	}()
	select {
	case err := <-done:
		return err
	case <-sctx.Done():
		select {
		case err := <-done: // finished right at the deadline
			return err
		default:
		}
		return fmt.Errorf("%w (store_timeout %v): %w", errStoreTimeout, b.cfg.StoreTimeout, sctx.Err())
	}
}

// expireParts drops the incomplete messages of every bind older than its
// PartTimeout, so their memory goes even when no further part arrives.
func (c *Client) expireParts() {
	now := c.clk.Now()
	for _, b := range c.binds {
		b.rmu.Lock()
		if n := b.reasm.Expire(now); n > 0 {
			c.log.Info("smpp: incomplete multipart MOs expired", "bind", b.cfg.Name, "messages", n)
		}
		b.rmu.Unlock()
	}
}

// StatusRxPApp is ESME_RX_P_APPN: permanent, the SMSC must not redeliver.
const StatusRxPApp pdu.Status = 0x00000065

func cmdName(id pdu.ID) string {
	if s := id.String(); s != "" {
		return s
	}
	return fmt.Sprintf("%#08x", uint32(id))
}
