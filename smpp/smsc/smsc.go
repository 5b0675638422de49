// Package smsc is an SMSC simulator: the peer of carrierbill's end-to-end
// tests, demos and load runs, and what `carrierbill smsc` serves. It accepts
// binds with the configured credentials, answers submit_sm with message ids,
// reassembles long MTs per destination, sends delivery receipts (message ids
// in hex or decimal, a receipt before its submit_sm_resp on demand) and injects
// MOs (from Go, over HTTP, or from a JSON-lines file), split the way a real
// SMSC splits them. Fault knobs make it throttle, NACK, hold responses,
// reuse the sequence numbers of pending submit_sm, ignore enquire_link,
// unbind, drop links and write raw bytes. It records every PDU it sees.
//
// It is a test peer, not an SMSC: it must never be used to carry real
// traffic, and it keeps everything in memory.
package smsc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/fiorix/go-smpp/smpp/pdu"
	"github.com/fiorix/go-smpp/smpp/pdu/pdufield"
	"github.com/fiorix/go-smpp/smpp/pdu/pdutlv"

	"github.com/carrierbill/carrierbill/smpp"
)

// Config configures a Server.
type Config struct {
	SystemID string // accepted system_id; empty accepts any
	Password string // accepted password (checked when SystemID is set)
	Logger   *slog.Logger
	// AutoReceipt sends a DELIVRD receipt for every MT part that asked for
	// one (registered_delivery), right after its submit_sm_resp.
	AutoReceipt bool
	// OnMT, when set, is called with every complete MT, outside the
	// server's lock (load runs route MTs to their subscribers with it). It
	// must not block.
	OnMT func(MT)
	// NoRecord keeps neither the PDU records nor the MTs in memory (Records
	// and MTs stay empty, WaitMT never matches): for long load runs, which
	// watch MTs through OnMT.
	NoRecord bool
}

// Record is one PDU the simulator saw or sent.
type Record struct {
	Conn int  // connection number, from 1
	In   bool // true: from the ESME
	ID   pdu.ID
	Stat pdu.Status
	Seq  uint32
	Body []byte
}

// MT is a message an ESME submitted, reassembled when it came in parts.
type MT struct {
	SystemID           string
	From, To           string
	Text               string
	DataCoding         byte
	Parts              int
	MessageIDs         []string // one per part, in part order
	RegisteredDelivery bool
}

// Server is the simulator. Its methods are safe for concurrent use.
type Server struct {
	cfg Config
	log *slog.Logger

	mu        sync.Mutex
	ln        net.Listener
	conns     map[int]*session
	nconn     int
	records   []Record
	mts       []MT
	ussd      []USSDScreen // ussd.go
	mtChanged chan struct{}
	reasm     *smpp.Reassembler
	partIDs   map[smpp.PartKey][]string
	nextID    uint64
	binds     int
	maxFlight int
	closed    bool

	throttle     int
	nackN        int
	nackStatus   pdu.Status
	respDelay    time.Duration
	hold         bool
	held         []heldSubmit
	bindStatus   pdu.Status
	ignoreEnq    bool
	ignoreSubmit bool
	faults       deliverFaults // faults.go

	idFormat      IDFormat // of submit_sm_resp message ids
	receiptFormat IDFormat // of the ids in receipts; "" as in the resp
	receiptFirst  bool

	wg sync.WaitGroup
}

type heldSubmit struct {
	s  *session
	fr smpp.Frame
}

// New returns a Server; call Listen or Serve.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Server{cfg: cfg, log: cfg.Logger, conns: map[int]*session{}, mtChanged: make(chan struct{}),
		reasm: smpp.NewReassembler(time.Hour, 0), partIDs: map[smpp.PartKey][]string{}}
}

// Listen listens on addr ("127.0.0.1:0" for a free port) and serves in the
// background. Addr tells where.
func (s *Server) Listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("smsc: listening on %s: %w", addr, err)
	}
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.Serve(ln)
	}()
	return nil
}

// Serve accepts connections on ln until Close.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return errors.New("smsc: closed")
	}
	s.ln = ln
	s.mu.Unlock()
	for {
		nc, err := ln.Accept()
		if err != nil {
			return err
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			nc.Close()
			return nil
		}
		s.nconn++
		ss := &session{srv: s, id: s.nconn, nc: nc, pending: map[uint32]chan smpp.Frame{}, inflight: map[uint32]bool{}}
		s.conns[ss.id] = ss
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			ss.serve()
		}()
	}
}

// Addr is the listening address.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Close stops listening, drops every connection and waits for them.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	ln := s.ln
	conns := s.sessions()
	s.mu.Unlock()
	if ln != nil {
		ln.Close()
	}
	for _, c := range conns {
		c.nc.Close()
	}
	s.wg.Wait()
	return nil
}

func (s *Server) sessions() []*session {
	out := make([]*session, 0, len(s.conns))
	for _, c := range s.conns {
		out = append(out, c)
	}
	return out
}

// --- fault knobs ---

// Throttle answers the next n submit_sm with ESME_RTHROTTLED (0x58).
func (s *Server) Throttle(n int) { s.mu.Lock(); s.throttle = n; s.mu.Unlock() }

// Nack answers the next n submit_sm with status st.
func (s *Server) Nack(n int, st pdu.Status) {
	s.mu.Lock()
	s.nackN, s.nackStatus = n, st
	s.mu.Unlock()
}

// SetRespDelay delays every submit_sm_resp by d (0: answer at once).
func (s *Server) SetRespDelay(d time.Duration) { s.mu.Lock(); s.respDelay = d; s.mu.Unlock() }

// Hold keeps submit_sm unanswered until Release.
func (s *Server) Hold() { s.mu.Lock(); s.hold = true; s.mu.Unlock() }

// HeldSeqs returns the sequence numbers of the held submit_sm of the
// connections bound as systemID ("" for any).
func (s *Server) HeldSeqs(systemID string) []uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []uint32
	for _, h := range s.held {
		if systemID == "" || h.s.systemID == systemID {
			out = append(out, h.fr.Seq)
		}
	}
	return out
}

// Release answers every held submit_sm and stops holding.
func (s *Server) Release() {
	s.mu.Lock()
	held := s.held
	s.held, s.hold = nil, false
	s.mu.Unlock()
	for _, h := range held {
		h.s.answerSubmit(h.fr)
	}
}

// IDFormat is how the simulator writes a message id: the same number in
// hex or in decimal, as SMSCs differ (and some answer submit_sm in one and
// write receipts in the other).
type IDFormat string

// Message id formats.
const (
	IDHex     IDFormat = "hex"     // "%010X", the default: "000000002A"
	IDDecimal IDFormat = "decimal" // "%d": "42"
)

func (f IDFormat) format(n uint64) string {
	if f == IDDecimal {
		return fmt.Sprintf("%d", n)
	}
	return fmt.Sprintf("%010X", n)
}

// SetMessageIDs sets how submit_sm_resp writes message ids and how
// AutoReceipt receipts write them ("" for receipts: as in the resp); both
// carry the same number.
func (s *Server) SetMessageIDs(resp, receipts IDFormat) {
	s.mu.Lock()
	s.idFormat, s.receiptFormat = resp, receipts
	s.mu.Unlock()
}

// ReceiptBeforeResp makes AutoReceipt send each receipt before the
// submit_sm_resp it reports on, and hold that resp until the ESME answered
// the receipt: the ESME must keep a receipt it cannot match yet.
func (s *Server) ReceiptBeforeResp(on bool) { s.mu.Lock(); s.receiptFirst = on; s.mu.Unlock() }

// RejectBinds answers binds with st (0 accepts them again).
func (s *Server) RejectBinds(st pdu.Status) { s.mu.Lock(); s.bindStatus = st; s.mu.Unlock() }

// IgnoreEnquireLink makes the simulator leave enquire_link unanswered.
func (s *Server) IgnoreEnquireLink(on bool) { s.mu.Lock(); s.ignoreEnq = on; s.mu.Unlock() }

// DropLinks closes every connection without unbinding.
func (s *Server) DropLinks() {
	s.mu.Lock()
	conns := s.sessions()
	s.mu.Unlock()
	for _, c := range conns {
		c.nc.Close()
	}
}

// Unbind sends unbind on every bound connection.
func (s *Server) Unbind() {
	for _, c := range s.bound("") {
		c.write(smpp.Frame{ID: pdu.UnbindID, Seq: c.nextSeq()})
	}
}

// WriteRaw writes b as is to every connection bound as systemID ("" any).
func (s *Server) WriteRaw(systemID string, b []byte) error {
	cs := s.bound(systemID)
	if len(cs) == 0 {
		return errors.New("smsc: no bound connection")
	}
	for _, c := range cs {
		c.wmu.Lock()
		_, err := c.nc.Write(b)
		c.wmu.Unlock()
		if err != nil {
			return err
		}
	}
	return nil
}

// --- observations ---

// Records returns every PDU seen and sent so far.
func (s *Server) Records() []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Record(nil), s.records...)
}

// MTs returns the MTs received so far (complete messages only).
func (s *Server) MTs() []MT {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]MT(nil), s.mts...)
}

// WaitMT waits until an MT matching pred was received and returns it.
func (s *Server) WaitMT(ctx context.Context, pred func(MT) bool) (MT, error) {
	for {
		s.mu.Lock()
		for _, m := range s.mts {
			if pred(m) {
				s.mu.Unlock()
				return m, nil
			}
		}
		ch := s.mtChanged
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return MT{}, fmt.Errorf("smsc: waiting for an MT: %w", ctx.Err())
		}
	}
}

// WaitMTs waits until at least n MTs were received.
func (s *Server) WaitMTs(ctx context.Context, n int) ([]MT, error) {
	for {
		s.mu.Lock()
		if len(s.mts) >= n {
			out := append([]MT(nil), s.mts...)
			s.mu.Unlock()
			return out, nil
		}
		ch := s.mtChanged
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, fmt.Errorf("smsc: waiting for %d MTs: %w", n, ctx.Err())
		}
	}
}

// WaitBound waits until n connections are bound (over the server's life).
func (s *Server) WaitBound(ctx context.Context, n int) error {
	for {
		s.mu.Lock()
		b, ch := s.binds, s.mtChanged
		s.mu.Unlock()
		if b >= n {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("smsc: waiting for %d binds (have %d): %w", n, b, ctx.Err())
		}
	}
}

// Binds returns how many binds succeeded over the server's life.
func (s *Server) Binds() int { s.mu.Lock(); defer s.mu.Unlock(); return s.binds }

// MaxInFlight returns the most submit_sm a single connection had
// unanswered at once.
func (s *Server) MaxInFlight() int { s.mu.Lock(); defer s.mu.Unlock(); return s.maxFlight }

func (s *Server) changed() { // s.mu held
	close(s.mtChanged)
	s.mtChanged = make(chan struct{})
}

func (s *Server) record(r Record) {
	if s.cfg.NoRecord {
		return
	}
	s.mu.Lock()
	s.records = append(s.records, r)
	s.mu.Unlock()
}

// bound returns the connections bound as systemID that may receive
// (receiver or transceiver).
func (s *Server) bound(systemID string) []*session {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*session
	for _, c := range s.conns {
		if c.canReceive && (systemID == "" || c.systemID == systemID) {
			out = append(out, c)
		}
	}
	return out
}

// --- one connection ---

type session struct {
	srv *Server
	id  int
	nc  net.Conn

	wmu sync.Mutex
	seq uint32 // guarded by wmu

	systemID   string // set once bound
	canReceive bool   // guarded by srv.mu

	pmu      sync.Mutex
	pending  map[uint32]chan smpp.Frame
	inflight map[uint32]bool // guarded by srv.mu
}

func (c *session) nextSeq() uint32 {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.seq++
	if c.seq > 0x7FFFFFFF {
		c.seq = 1
	}
	return c.seq
}

func (c *session) write(f smpp.Frame) error {
	c.wmu.Lock()
	_, err := c.nc.Write(smpp.AppendFrame(nil, f))
	c.wmu.Unlock()
	c.srv.record(Record{Conn: c.id, ID: f.ID, Stat: f.Status, Seq: f.Seq, Body: f.Body})
	return err
}

func (c *session) serve() {
	s := c.srv
	defer func() {
		c.nc.Close()
		s.mu.Lock()
		delete(s.conns, c.id)
		s.mu.Unlock()
		c.pmu.Lock()
		for seq, ch := range c.pending {
			close(ch)
			delete(c.pending, seq)
		}
		c.pmu.Unlock()
	}()
	bound := false
	for {
		f, err := smpp.ReadFrame(c.nc, smpp.DefaultMaxPDU)
		if err != nil {
			return
		}
		s.record(Record{Conn: c.id, In: true, ID: f.ID, Stat: f.Status, Seq: f.Seq, Body: f.Body})
		if f.IsResp() {
			c.pmu.Lock()
			ch := c.pending[f.Seq]
			delete(c.pending, f.Seq)
			c.pmu.Unlock()
			if ch != nil {
				ch <- f
			}
			continue
		}
		switch f.ID {
		case pdu.BindTransceiverID, pdu.BindTransmitterID, pdu.BindReceiverID:
			if bound {
				c.write(smpp.Frame{ID: f.ID | 0x80000000, Status: 0x05, Seq: f.Seq, Body: []byte{0}})
				continue
			}
			bound = c.bind(f)
			if !bound {
				return
			}
		case pdu.EnquireLinkID:
			s.mu.Lock()
			ign := s.ignoreEnq
			s.mu.Unlock()
			if !ign {
				c.write(smpp.Frame{ID: pdu.EnquireLinkRespID, Seq: f.Seq})
			}
		case pdu.UnbindID:
			c.write(smpp.Frame{ID: pdu.UnbindRespID, Seq: f.Seq})
			return
		case pdu.SubmitSMID:
			if !bound {
				c.write(smpp.Frame{ID: pdu.SubmitSMRespID, Status: smpp.StatusInvBindStat, Seq: f.Seq, Body: []byte{0}})
				continue
			}
			c.submit(f)
		default:
			c.write(smpp.Frame{ID: pdu.GenericNACKID, Status: smpp.StatusInvCmdID, Seq: f.Seq})
		}
	}
}

func (c *session) bind(f smpp.Frame) bool {
	s := c.srv
	st := smpp.StatusOK
	p, err := smpp.DecodeBody(f)
	var sysID string
	if err != nil {
		st = smpp.StatusSysErr
	} else {
		sysID = p.Fields()[pdufield.SystemID].String()
		pw := p.Fields()[pdufield.Password].String()
		s.mu.Lock()
		switch {
		case s.bindStatus != 0:
			st = s.bindStatus
		case s.cfg.SystemID != "" && sysID != s.cfg.SystemID:
			st = smpp.StatusInvSysID
		case s.cfg.SystemID != "" && pw != s.cfg.Password:
			st = smpp.StatusInvPaswd
		}
		s.mu.Unlock()
	}
	resp := smpp.Frame{ID: f.ID | 0x80000000, Status: st, Seq: f.Seq, Body: append([]byte("smscsim"), 0)}
	if st != smpp.StatusOK {
		resp.Body = nil
	}
	c.write(resp)
	if st != smpp.StatusOK {
		return false
	}
	s.mu.Lock()
	c.systemID = sysID
	c.canReceive = f.ID != pdu.BindTransmitterID
	s.binds++
	s.changed()
	s.mu.Unlock()
	return true
}

func (c *session) submit(f smpp.Frame) {
	s := c.srv
	s.mu.Lock()
	c.inflight[f.Seq] = true
	s.maxFlight = max(s.maxFlight, len(c.inflight))
	if s.hold {
		s.held = append(s.held, heldSubmit{c, f})
		s.mu.Unlock()
		return
	}
	d := s.respDelay
	s.mu.Unlock()
	if d > 0 {
		s.wg.Add(1)
		time.AfterFunc(d, func() {
			defer s.wg.Done()
			c.answerSubmit(f)
		})
		return
	}
	c.answerSubmit(f)
}

func (c *session) answerSubmit(f smpp.Frame) {
	s := c.srv
	sm, err := smpp.DecodeSM(pdu.SubmitSMID, f.Body)
	s.mu.Lock()
	delete(c.inflight, f.Seq)
	st := smpp.StatusOK
	switch {
	case err != nil:
		st = smpp.StatusInvMsgLen
	case s.throttle > 0:
		s.throttle--
		st = smpp.StatusThrottled
	case s.nackN > 0:
		s.nackN--
		st = s.nackStatus
	}
	var id, rid string
	var done *MT
	if st == smpp.StatusOK {
		s.nextID++
		id = s.idFormat.format(s.nextID)
		rid = id
		if s.receiptFormat != "" {
			rid = s.receiptFormat.format(s.nextID)
		}
		done = s.addMT(c.systemID, sm, id)
	}
	auto := s.cfg.AutoReceipt && st == smpp.StatusOK && sm.RegisteredDelivery&0x03 != 0
	first := auto && s.receiptFirst
	s.mu.Unlock()
	if done != nil && s.cfg.OnMT != nil {
		s.cfg.OnMT(*done)
	}
	resp := smpp.Frame{ID: pdu.SubmitSMRespID, Status: st, Seq: f.Seq, Body: append([]byte(id), 0)}
	if st != smpp.StatusOK {
		resp.Body = nil
	}
	if !first {
		c.write(resp)
	}
	if auto {
		// Off the read loop, which reads the receipt's response.
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, err := s.SendReceipt(ctx, c.systemID, rid, sm.Dst, sm.Src, "DELIVRD"); err != nil {
				s.log.Warn("smsc: sending a receipt failed", "message_id", rid, "err", err)
			}
			if first {
				c.write(resp)
			}
		}()
	}
}

// addMT records a submitted part (s.mu held) and returns the MT it
// completes, nil while parts are missing.
func (s *Server) addMT(sysID string, sm *smpp.SM, id string) *MT {
	if s.addUSSD(sysID, sm) {
		return nil
	}
	data := sm.UserData()
	m := MT{SystemID: sysID, From: sm.Src, To: sm.Dst, DataCoding: sm.DataCoding, Parts: 1,
		MessageIDs: []string{id}, RegisteredDelivery: sm.RegisteredDelivery&0x03 != 0}
	if sm.ESMClass&0x40 != 0 {
		h, ud, err := smpp.ParseUDH(data)
		if err == nil && h.Concat != nil && h.Concat.Total > 1 {
			k := smpp.PartKey{Bind: sysID, From: sm.Src, To: sm.Dst, Ref: h.Concat.Ref, Total: h.Concat.Total}
			ids := s.partIDs[k]
			if ids == nil {
				ids = make([]string, h.Concat.Total)
			}
			ids[h.Concat.Seq-1] = id
			s.partIDs[k] = ids
			msg, coding, done := s.reasm.Add(k, *h.Concat, sm.DataCoding, ud, time.Now())
			if !done {
				return nil
			}
			s.reasm.Forget(k)
			delete(s.partIDs, k)
			data, m.DataCoding, m.Parts, m.MessageIDs = msg, coding, h.Concat.Total, ids
		} else if err == nil {
			data = ud
		}
	}
	m.Text, _ = smpp.DecodeText(m.DataCoding, data)
	if !s.cfg.NoRecord {
		s.mts = append(s.mts, m)
	}
	s.changed()
	return &m
}

// --- sending to the ESME ---

// Deliver sends one deliver_sm built from sm to a connection bound as
// systemID ("" any) and waits for its response. seq 0 picks the next
// sequence number; a non-zero seq is used as is (to reuse one on purpose).
// It waits for such a connection to be bound.
func (s *Server) Deliver(ctx context.Context, systemID string, sm *smpp.SM, seq uint32) (pdu.Status, error) {
	var c *session
	for c == nil {
		s.mu.Lock()
		ch := s.mtChanged
		s.mu.Unlock()
		if cs := s.bound(systemID); len(cs) > 0 {
			c = cs[0]
			break
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return 0, fmt.Errorf("smsc: no receiving connection bound as %q: %w", systemID, ctx.Err())
		}
	}
	if seq == 0 {
		seq = s.deliverSeq(c) // faults.go: a reused number, or the next
	}
	f, err := sm.EncodeDeliverSM(seq)
	if err != nil {
		return 0, err
	}
	st, err := c.call(ctx, f)
	if err == nil && s.ackLost() { // faults.go: the ack "never came", redeliver
		return s.redeliver(ctx, c, sm)
	}
	return st, err
}

func (c *session) call(ctx context.Context, f smpp.Frame) (pdu.Status, error) {
	ch := make(chan smpp.Frame, 1)
	c.pmu.Lock()
	c.pending[f.Seq] = ch
	c.pmu.Unlock()
	if err := c.write(f); err != nil {
		return 0, fmt.Errorf("smsc: writing %s: %w", f.ID, err)
	}
	select {
	case r, ok := <-ch:
		if !ok {
			return 0, errors.New("smsc: connection closed before the response")
		}
		return r.Status, nil
	case <-ctx.Done():
		c.pmu.Lock()
		delete(c.pending, f.Seq)
		c.pmu.Unlock()
		return 0, fmt.Errorf("smsc: waiting for the response to %s: %w", f.ID, ctx.Err())
	}
}

// SendReceipt sends a delivery receipt for messageID (esm_class 0x04, the
// receipted_message_id and message_state TLVs and the receipt text).
func (s *Server) SendReceipt(ctx context.Context, systemID, messageID, from, to, state string) (pdu.Status, error) {
	states := map[string]byte{"ENROUTE": 1, "DELIVRD": 2, "EXPIRED": 3, "DELETED": 4, "UNDELIV": 5, "ACCEPTD": 6, "UNKNOWN": 7, "REJECTD": 8}
	text := fmt.Sprintf("id:%s sub:001 dlvrd:001 submit date:2501010000 done date:2501010000 stat:%s err:000 text:", messageID, state)
	sm := &smpp.SM{Src: from, Dst: to, ESMClass: 0x04, ShortMessage: []byte(text), TLVs: pdutlv.Map{}}
	sm.TLVs.Set(pdutlv.TagReceiptedMessageID, pdutlv.CString(messageID))
	if b, ok := states[state]; ok {
		sm.TLVs.Set(pdutlv.TagMessageStateOption, b)
	}
	return s.Deliver(ctx, systemID, sm, 0)
}
