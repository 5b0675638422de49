package smpp_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fiorix/go-smpp/smpp/pdu"
	"go.uber.org/goleak"

	"github.com/carrierbill/carrierbill/smpp"
	"github.com/carrierbill/carrierbill/smpp/smsc"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// memConsumer stores in memory; failMO makes the next n ConsumeMO fail.
type memConsumer struct {
	mu     sync.Mutex
	mos    []smpp.MO
	dlrs   []smpp.DeliveryReceipt
	failMO int
}

func newConsumer() *memConsumer { return &memConsumer{} }

func (c *memConsumer) ConsumeMO(_ context.Context, mo smpp.MO) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failMO > 0 {
		c.failMO--
		return errors.New("database down")
	}
	c.mos = append(c.mos, mo)
	return nil
}

func (c *memConsumer) ConsumeReceipt(_ context.Context, r smpp.DeliveryReceipt) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dlrs = append(c.dlrs, r)
	return nil
}

func (c *memConsumer) MOs() []smpp.MO {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]smpp.MO(nil), c.mos...)
}

func (c *memConsumer) DLRs() []smpp.DeliveryReceipt {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]smpp.DeliveryReceipt(nil), c.dlrs...)
}

const (
	sysID = "cbill"
	pw    = "secret"
)

func newSim(t testing.TB, cfg smsc.Config) *smsc.Server {
	t.Helper()
	cfg.SystemID, cfg.Password = sysID, pw
	s := smsc.New(cfg)
	if err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func bindCfg(addr string) smpp.BindConfig {
	return smpp.BindConfig{
		Name: "b1", Addr: addr, SystemID: sysID, Password: pw,
		RespTimeout: 2 * time.Second, ReconnectMin: 5 * time.Millisecond, ReconnectMax: 40 * time.Millisecond,
		RetryDelay: 5 * time.Millisecond,
	}
}

func newClient(t testing.TB, cons smpp.Consumer, log *slog.Logger, bcs ...smpp.BindConfig) *smpp.Client {
	t.Helper()
	c, err := smpp.NewClient(bcs, cons, smpp.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func ctxT(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tk := time.NewTicker(2 * time.Millisecond)
	defer tk.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tk.C
	}
}

func hasRecord(s *smsc.Server, pred func(smsc.Record) bool) bool {
	for _, r := range s.Records() {
		if pred(r) {
			return true
		}
	}
	return false
}

func TestRoundTripUCS2AndGSM(t *testing.T) {
	t.Parallel()
	sim := newSim(t, smsc.Config{})
	cons := newConsumer()
	c := newClient(t, cons, nil, bindCfg(sim.Addr()))
	ctx := ctxT(t)
	for _, text := range []string{"您的验证码是 123456，请回复确认。", "Pay 10.50 now", strings.Repeat("长消息", 60), strings.Repeat("long {text} ", 40)} {
		res, err := c.Submit(ctx, smpp.MT{From: "106580088001", To: "13800000001", Text: text})
		if err != nil {
			t.Fatal(err)
		}
		mt, err := sim.WaitMT(ctx, func(m smsc.MT) bool { return m.Text == text })
		if err != nil {
			t.Fatal(err)
		}
		if len(res.MessageIDs) != mt.Parts || strings.Join(res.MessageIDs, ",") != strings.Join(mt.MessageIDs, ",") {
			t.Errorf("ids %v, simulator saw %v", res.MessageIDs, mt.MessageIDs)
		}
		if _, err := sim.InjectMO(ctx, smsc.MO{From: "13800000001", To: "106580088001", Text: text}); err != nil {
			t.Fatal(err)
		}
		mos := cons.MOs()
		if got := mos[len(mos)-1]; got.Text != text || got.Parts != mt.Parts || got.Bind != "b1" {
			t.Errorf("MO = %+v", got)
		}
	}
}

func TestConcatenatedMO(t *testing.T) {
	t.Parallel()
	sim := newSim(t, smsc.Config{})
	cons := newConsumer()
	newClient(t, cons, nil, bindCfg(sim.Addr()))
	ctx := ctxT(t)
	long := strings.Repeat("确认购买 ", 40)
	for _, tc := range []struct {
		name  string
		split smsc.Split
		parts int
	}{{"udh 8-bit", smsc.SplitUDH8, 3}, {"udh 16-bit", smsc.SplitUDH16, 3}, {"sar", smsc.SplitSAR, 3}, {"message_payload", smsc.SplitPayload, 1}} {
		sts, err := sim.InjectMO(ctx, smsc.MO{From: "13800000002", To: "106580088001", Text: long, Split: tc.split})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		for _, st := range sts {
			if st != 0 {
				t.Fatalf("%s: statuses %v", tc.name, sts)
			}
		}
		mos := cons.MOs()
		if got := mos[len(mos)-1]; got.Text != long || got.Parts != tc.parts {
			t.Errorf("%s: MO parts %d text ok %v", tc.name, got.Parts, got.Text == long)
		}
	}
	if n := len(cons.MOs()); n != 4 {
		t.Errorf("%d MOs, want 4", n)
	}
}

func TestConsumerErrorGets0x64AndRedeliveryIsProcessed(t *testing.T) {
	t.Parallel()
	sim := newSim(t, smsc.Config{})
	cons := newConsumer()
	cons.failMO = 1
	newClient(t, cons, nil, bindCfg(sim.Addr()))
	ctx := ctxT(t)
	mo := smsc.MO{From: "13800000003", To: "106580088001", Text: "10"}
	sts, err := sim.InjectMO(ctx, mo)
	if err != nil || len(sts) != 1 || sts[0] != 0x64 {
		t.Fatalf("first delivery: %v %v, want [0x64]", sts, err)
	}
	sts, err = sim.InjectMO(ctx, mo) // the SMSC redelivers
	if err != nil || sts[0] != 0 {
		t.Fatalf("redelivery: %v %v", sts, err)
	}
	if mos := cons.MOs(); len(mos) != 1 || mos[0].Text != "10" {
		t.Fatalf("stored %+v", mos)
	}
	// A long MO whose last part fails: only that part is redelivered.
	cons.mu.Lock()
	cons.failMO = 1
	cons.mu.Unlock()
	long := strings.Repeat("x", 200)
	sts, _ = sim.InjectMO(ctx, smsc.MO{From: "13800000003", To: "106580088001", Text: long})
	if len(sts) != 2 || sts[0] != 0 || sts[1] != 0x64 {
		t.Fatalf("statuses %v", sts)
	}
	_, parts, _ := smpp.SplitText(long, 200)
	st, err := sim.Deliver(ctx, "", &smpp.SM{Src: "13800000003", Dst: "106580088001", ESMClass: 0x40, ShortMessage: parts[1]}, 0)
	if err != nil || st != 0 {
		t.Fatalf("redelivered last part: %v %v", st, err)
	}
	_ = st
}

func TestThrottledMTDeliveredExactlyOnce(t *testing.T) {
	t.Parallel()
	sim := newSim(t, smsc.Config{})
	c := newClient(t, newConsumer(), nil, bindCfg(sim.Addr()))
	ctx := ctxT(t)
	sim.Throttle(3)
	res, err := c.Submit(ctx, smpp.MT{From: "1065", To: "13800000004", Text: "receipt"})
	if err != nil || len(res.MessageIDs) != 1 {
		t.Fatalf("%v %v", res, err)
	}
	submits := 0
	for _, r := range sim.Records() {
		if r.In && r.ID == pdu.SubmitSMID {
			submits++
		}
	}
	if mts := sim.MTs(); len(mts) != 1 || submits != 4 {
		t.Fatalf("%d MTs after %d submit_sm", len(mts), submits)
	}
	sim.Nack(1, smpp.StatusMsgQFull)
	if _, err := c.Submit(ctx, smpp.MT{From: "1065", To: "13800000004", Text: "again"}); err != nil {
		t.Fatal(err)
	}
	sim.Nack(1, 0x45)
	_, err = c.Submit(ctx, smpp.MT{From: "1065", To: "13800000004", Text: "nacked"})
	var se *smpp.StatusError
	if !errors.As(err, &se) || se.Status != 0x45 {
		t.Fatalf("err = %v, want StatusError 0x45", err)
	}
}

func TestWindowNeverExceeded(t *testing.T) {
	t.Parallel()
	sim := newSim(t, smsc.Config{})
	sim.SetRespDelay(time.Millisecond)
	bc := bindCfg(sim.Addr())
	bc.Window = 10
	// The window is tested, not the timeouts: a thousand submits under -race
	// on a loaded machine can take far longer than the usual bounds.
	bc.RespTimeout = time.Minute
	c := newClient(t, newConsumer(), nil, bc)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	var failed atomic.Int32
	var firstErr atomic.Value
	for i := range 1000 {
		wg.Go(func() {
			if _, err := c.Submit(ctx, smpp.MT{From: "1065", To: fmt.Sprintf("1380000%04d", i), Text: "hi"}); err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err.Error())
			}
		})
	}
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d submits failed, the first with %v", failed.Load(), firstErr.Load())
	}
	if n := len(sim.MTs()); n != 1000 {
		t.Fatalf("%d MTs", n)
	}
	if m := sim.MaxInFlight(); m > 10 || m < 2 {
		t.Fatalf("max in flight %d, window 10", m)
	}
}

func TestBindFailureThenRebind(t *testing.T) {
	t.Parallel()
	sim := newSim(t, smsc.Config{})
	sim.RejectBinds(0x0E)
	c := newClient(t, newConsumer(), nil, bindCfg(sim.Addr()))
	eventually(t, "two refused binds", func() bool {
		n := 0
		for _, r := range sim.Records() {
			if r.ID == pdu.BindTransceiverRespID && r.Stat == 0x0E {
				n++
			}
		}
		return n >= 2
	})
	sim.RejectBinds(0)
	if err := sim.WaitBound(ctxT(t), 1); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Submit(ctxT(t), smpp.MT{From: "1", To: "2", Text: "up"}); err != nil {
		t.Fatal(err)
	}
	st := c.Stats()[0]
	if st.Reconnects < 2 || st.Binds != 1 || st.State != "bound" {
		t.Fatalf("stats %+v", st)
	}
	// Wrong password: refused with the SMSC's status, counted.
	bc := bindCfg(sim.Addr())
	bc.Name, bc.Password = "bad", "nope"
	c2 := newClient(t, newConsumer(), nil, bc)
	eventually(t, "bind_resp 0x0E in stats", func() bool {
		for _, p := range c2.Stats()[0].In {
			if p.Command == "BindTransceiverResp" && p.Status == 0x0E {
				return true
			}
		}
		return false
	})
}

func TestEnquireLinkTimeoutDropsAndRebinds(t *testing.T) {
	t.Parallel()
	sim := newSim(t, smsc.Config{})
	bc := bindCfg(sim.Addr())
	bc.EnquireLink, bc.EnquireLinkTimeout = 20*time.Millisecond, 30*time.Millisecond
	c := newClient(t, newConsumer(), nil, bc)
	ctx := ctxT(t)
	if err := sim.WaitBound(ctx, 1); err != nil {
		t.Fatal(err)
	}
	eventually(t, "an answered enquire_link", func() bool {
		return hasRecord(sim, func(r smsc.Record) bool { return r.ID == pdu.EnquireLinkRespID })
	})
	sim.IgnoreEnquireLink(true)
	eventually(t, "a reconnect", func() bool { return c.Stats()[0].Reconnects >= 1 })
	sim.IgnoreEnquireLink(false)
	if err := sim.WaitBound(ctx, 2); err != nil {
		t.Fatal(err)
	}
}

func TestUnbindFromSMSC(t *testing.T) {
	t.Parallel()
	sim := newSim(t, smsc.Config{})
	c := newClient(t, newConsumer(), nil, bindCfg(sim.Addr()))
	ctx := ctxT(t)
	if err := sim.WaitBound(ctx, 1); err != nil {
		t.Fatal(err)
	}
	sim.Unbind()
	if err := sim.WaitBound(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if !hasRecord(sim, func(r smsc.Record) bool { return r.In && r.ID == pdu.UnbindRespID }) {
		t.Fatal("no unbind_resp")
	}
	if _, err := c.Submit(ctx, smpp.MT{From: "1", To: "2", Text: "after"}); err != nil {
		t.Fatal(err)
	}
}

func TestDeliverSMReusingPendingSubmitSeq(t *testing.T) {
	t.Parallel()
	sim := newSim(t, smsc.Config{})
	cons := newConsumer()
	c := newClient(t, cons, nil, bindCfg(sim.Addr()))
	ctx := ctxT(t)
	sim.Hold()
	type result struct {
		res smpp.SubmitResult
		err error
	}
	done := make(chan result, 1)
	go func() {
		r, err := c.Submit(ctx, smpp.MT{From: "1065", To: "13800000005", Text: "prompt"})
		done <- result{r, err}
	}()
	eventually(t, "a held submit_sm", func() bool { return len(sim.HeldSeqs("")) == 1 })
	sts, err := sim.InjectMO(ctx, smsc.MO{From: "13800000005", To: "1065", Text: "123456", ReuseSeq: true})
	if err != nil || sts[0] != 0 {
		t.Fatalf("MO with a reused seq: %v %v", sts, err)
	}
	if mos := cons.MOs(); len(mos) != 1 || mos[0].Text != "123456" {
		t.Fatalf("MO lost: %+v", mos)
	}
	sim.Release()
	r := <-done
	if r.err != nil || len(r.res.MessageIDs) != 1 || r.res.MessageIDs[0] == "" {
		t.Fatalf("submit: %+v %v", r.res, r.err)
	}
}

func TestReceipts(t *testing.T) {
	t.Parallel()
	sim := newSim(t, smsc.Config{AutoReceipt: true})
	cons := newConsumer()
	c := newClient(t, cons, nil, bindCfg(sim.Addr()))
	ctx := ctxT(t)
	res, err := c.Submit(ctx, smpp.MT{From: "1065", To: "13800000006", Text: "paid", RegisteredDelivery: true})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "a receipt", func() bool { return len(cons.DLRs()) == 1 })
	d := cons.DLRs()[0]
	if d.MessageID != res.MessageIDs[0] || d.State != "DELIVRD" || d.Err != "000" {
		t.Fatalf("receipt %+v for %v", d, res.MessageIDs)
	}
	if len(cons.MOs()) != 0 {
		t.Fatal("receipt taken as an MO")
	}
	// A receipt carried only in the text.
	st, err := sim.Deliver(ctx, "", &smpp.SM{Src: "13800000006", Dst: "1065", ESMClass: 0x04,
		ShortMessage: []byte("id:ABC sub:001 dlvrd:000 submit date:2501010000 done date:2501010000 stat:UNDELIV err:005 text:")}, 0)
	if err != nil || st != 0 {
		t.Fatal(st, err)
	}
	if d := cons.DLRs()[1]; d.MessageID != "ABC" || d.State != "UNDELIV" || d.Err != "005" {
		t.Fatalf("text receipt %+v", d)
	}
}

func TestTransmitterPlusReceiver(t *testing.T) {
	t.Parallel()
	sim := newSim(t, smsc.Config{})
	cons := newConsumer()
	bc := bindCfg(sim.Addr())
	bc.Mode = smpp.ModeTxRx
	c := newClient(t, cons, nil, bc)
	ctx := ctxT(t)
	if err := sim.WaitBound(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Submit(ctx, smpp.MT{From: "1", To: "2", Text: "tx"}); err != nil {
		t.Fatal(err)
	}
	if _, err := sim.InjectMO(ctx, smsc.MO{From: "2", To: "1", Text: "rx"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the MO ack in the receiver's stats", func() bool {
		st := c.Stats()
		return len(st) == 2 && st[0].Role == "transmitter" && st[1].Role == "receiver" && st[1].MOAcked == 1 && st[1].MOAckP99 > 0
	})
}

// dataSM builds a raw data_sm carrying text in message_payload plus an
// unknown TLV.
func dataSM(seq uint32, text string) []byte {
	var b bytes.Buffer
	b.WriteString("\x00")            // service_type
	b.Write([]byte{1, 1})            // source ton/npi
	b.WriteString("13800000007\x00") // source_addr
	b.Write([]byte{0, 0})            // dest ton/npi
	b.WriteString("1065\x00")        // destination_addr
	b.Write([]byte{0, 0, 0})         // esm_class, registered_delivery, data_coding
	b.Write([]byte{0x04, 0x24, 0, byte(len(text))})
	b.WriteString(text)
	b.Write([]byte{0x14, 0x01, 0, 2, 9, 9}) // unknown TLV
	return smpp.AppendFrame(nil, smpp.Frame{ID: pdu.DataSMID, Seq: seq, Body: b.Bytes()})
}

func deliverRaw(seq uint32, sm *smpp.SM) []byte {
	f, _ := sm.EncodeDeliverSM(seq)
	return smpp.AppendFrame(nil, f)
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	sim := newSim(t, smsc.Config{})
	cons := newConsumer()
	var logs bytes.Buffer
	var lmu sync.Mutex
	log := slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &lmu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := newClient(t, cons, log, bindCfg(sim.Addr()))
	ctx := ctxT(t)
	if err := sim.WaitBound(ctx, 1); err != nil {
		t.Fatal(err)
	}
	resp := func(seq uint32) smsc.Record {
		t.Helper()
		var got smsc.Record
		eventually(t, fmt.Sprintf("a response to seq %d", seq), func() bool {
			return hasRecord(sim, func(r smsc.Record) bool {
				if r.In && r.Seq == seq && r.ID&0x80000000 != 0 {
					got = r
					return true
				}
				return false
			})
		})
		return got
	}
	secret := "SECRETTEXT"
	lyingUDH := &smpp.SM{Src: "13800000009", Dst: "1065", ESMClass: 0x40, ShortMessage: []byte{9, 0, 3, 1, 2, 1, 'a'}}
	part3of2 := &smpp.SM{Src: "13800000009", Dst: "1065", ESMClass: 0x40, ShortMessage: []byte{5, 0, 3, 1, 2, 3, 'a'}}
	oddUCS2 := &smpp.SM{Src: "13800000009", Dst: "1065", DataCoding: 8, ShortMessage: append(smpp.EncodeUCS2(secret), 0x4E)}
	truncated := deliverRaw(1004, &smpp.SM{Src: "13800000009", Dst: "1065", ShortMessage: []byte(secret)})
	truncated = truncated[:len(truncated)-4]
	binary.BigEndian.PutUint32(truncated, uint32(len(truncated)))
	cases := []struct {
		name string
		raw  []byte
		seq  uint32
		id   pdu.ID
		st   pdu.Status
	}{
		{"unknown command", smpp.AppendFrame(nil, smpp.Frame{ID: 0x00000111, Seq: 1001}), 1001, pdu.GenericNACKID, 0x03},
		{"data_sm with unknown TLV", dataSM(1002, secret), 1002, pdu.DataSMRespID, 0},
		{"lying UDH", deliverRaw(1003, lyingUDH), 1003, pdu.DeliverSMRespID, 0x65},
		{"truncated deliver_sm", truncated, 1004, pdu.DeliverSMRespID, 0x01},
		{"part 3 of 2", deliverRaw(1005, part3of2), 1005, pdu.DeliverSMRespID, 0x65},
		{"odd UCS2", deliverRaw(1006, oddUCS2), 1006, pdu.DeliverSMRespID, 0},
		{"submit_sm from the SMSC", smpp.AppendFrame(nil, smpp.Frame{ID: pdu.SubmitSMID, Seq: 1007, Body: []byte{0}}), 1007, pdu.GenericNACKID, 0x03},
	}
	for _, tc := range cases {
		if err := sim.WriteRaw("", tc.raw); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if r := resp(tc.seq); r.ID != tc.id || r.Stat != tc.st {
			t.Errorf("%s: answered %s %#x, want %s %#x", tc.name, r.ID, r.Stat, tc.id, tc.st)
		}
	}
	if sim.Binds() != 1 {
		t.Fatalf("link was dropped by resynchronizable input: %d binds", sim.Binds())
	}
	mos := cons.MOs()
	if len(mos) != 2 || mos[0].Text != secret || mos[1].Text != secret+"\uFFFD" {
		t.Fatalf("MOs %+v", mos)
	}
	// An oversized command_length cannot be resynchronized: drop and rebind.
	if err := sim.WriteRaw("", []byte{0x7F, 0xFF, 0xFF, 0xFF, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 1}); err != nil {
		t.Fatal(err)
	}
	if err := sim.WaitBound(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Submit(ctx, smpp.MT{From: "1", To: "2", Text: "still alive"}); err != nil {
		t.Fatal(err)
	}
	lmu.Lock()
	out := logs.String()
	lmu.Unlock()
	if strings.Contains(out, secret) || strings.Contains(out, "13800000009") || strings.Contains(out, "13800000007") {
		t.Fatalf("logs carry text or phone numbers in clear:\n%s", out)
	}
	if !strings.Contains(out, "command_length") {
		t.Errorf("framing loss not logged:\n%s", out)
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	ok := smpp.BindConfig{Name: "a", Addr: "127.0.0.1:2775", SystemID: "x"}
	tests := []struct {
		name  string
		edit  func(*smpp.BindConfig)
		field string
	}{
		{"ok", func(*smpp.BindConfig) {}, ""},
		{"no name", func(c *smpp.BindConfig) { c.Name = "" }, "name"},
		{"bad addr", func(c *smpp.BindConfig) { c.Addr = "nope" }, "addr"},
		{"long password", func(c *smpp.BindConfig) { c.Password = "123456789" }, "password"},
		{"bad mode", func(c *smpp.BindConfig) { c.Mode = "x" }, "mode"},
		{"window", func(c *smpp.BindConfig) { c.Window = -1 }, "window"},
		{"backoff", func(c *smpp.BindConfig) { c.ReconnectMin, c.ReconnectMax = time.Minute, time.Second }, "reconnect_max"},
	}
	for _, tt := range tests {
		c := ok
		tt.edit(&c)
		err := c.Validate()
		if (err == nil) != (tt.field == "") || err != nil && !strings.Contains(err.Error(), tt.field) {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
	if d := ok.WithDefaults(); d.Window != 10 || d.Mode != smpp.ModeTransceiver {
		t.Errorf("defaults %+v", d)
	}
}
