package loadtest

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/smpp/smsc"
	"github.com/carrierbill/carrierbill/sms"
)

// rejectPrefix starts every refusal text of the bench's configuration:
// each reason's MT is "BENCH-REJECT <reason>", so the subscribers count
// refusals by their stable code without knowing the engine's texts.
const rejectPrefix = "BENCH-REJECT "

// rejectTexts overrides the MT text of every reason the engine has a text
// for, and of the expiry notice.
func rejectTexts() map[string]string {
	out := map[string]string{"order_expired": rejectPrefix + "order_expired"}
	def := sms.DefaultTexts()
	for _, r := range billing.Reasons {
		if _, ok := def[string(r)]; ok {
			out[string(r)] = rejectPrefix + string(r)
		}
	}
	return out
}

var sixDigits = regexp.MustCompile(`(?:^|[^0-9])([0-9]{6})(?:[^0-9]|$)`)

// codeOf returns the only run of exactly six digits of a prompt.
func codeOf(text string) (string, bool) {
	m := sixDigits.FindAllStringSubmatch(text, -1)
	if len(m) != 1 {
		return "", false
	}
	return m[0][1], true
}

func canonical(n string) string { return strings.TrimPrefix(n, "+") }

// router hands each MT to the subscriber it is addressed to.
type router struct {
	mu       sync.RWMutex
	inbox    map[string]chan smsc.MT
	mts      atomic.Int64
	unrouted atomic.Int64
}

func newRouter() *router { return &router{inbox: map[string]chan smsc.MT{}} }

func (r *router) register(number string) chan smsc.MT {
	ch := make(chan smsc.MT, 8)
	r.mu.Lock()
	r.inbox[canonical(number)] = ch
	r.mu.Unlock()
	return ch
}

// deliver is the simulator's OnMT: it never blocks.
func (r *router) deliver(mt smsc.MT) {
	r.mts.Add(1)
	r.mu.RLock()
	ch := r.inbox[canonical(mt.To)]
	r.mu.RUnlock()
	if ch == nil {
		r.unrouted.Add(1)
		return
	}
	select {
	case ch <- mt:
	default:
		r.unrouted.Add(1)
	}
}

// counters are the run's tallies.
type counters struct {
	started   atomic.Int64 // payments begun
	confirmed atomic.Int64 // receipts received
	mos       atomic.Int64 // MOs acknowledged ESME_ROK
	tempFails atomic.Int64 // MOs answered with an error status (resent)
	moErrors  atomic.Int64 // MOs never acknowledged (link, timeout)
	timeouts  atomic.Int64 // an expected MT that never came
	odd       atomic.Int64 // an MT that was neither the prompt, the receipt nor a refusal

	mu      sync.Mutex
	rejects map[string]int64
}

func (c *counters) reject(reason string) {
	c.mu.Lock()
	if c.rejects == nil {
		c.rejects = map[string]int64{}
	}
	c.rejects[reason]++
	c.mu.Unlock()
}

func (c *counters) rejections() map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int64, len(c.rejects))
	for k, v := range c.rejects {
		out[k] = v
	}
	return out
}

// driver plays the subscribers against one simulator.
type driver struct {
	sim       *smsc.Server
	router    *router
	to        string // the merchant's address
	keyword   string
	numbers   []string
	inFlight  int
	mtTimeout time.Duration

	pace     *pacer    // nil: closed loop
	count    int64     // stop after this many payments (0: by time)
	deadline time.Time // stop starting payments after this (zero: by count)

	c       counters
	moAck   latencies
	payment latencies
}

// run starts inFlight subscribers and returns when each finished its last
// payment (or ctx ended).
func (d *driver) run(ctx context.Context) {
	var wg sync.WaitGroup
	for w := range d.inFlight {
		var mine []string
		for i := w; i < len(d.numbers); i += d.inFlight {
			mine = append(mine, d.numbers[i])
		}
		if len(mine) == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.subscriber(ctx, mine)
		}()
	}
	wg.Wait()
}

func (d *driver) more(ctx context.Context) bool {
	if ctx.Err() != nil || !d.pace.wait(ctx) {
		return false
	}
	if d.count > 0 {
		return d.c.started.Add(1) <= d.count
	}
	if time.Now().Before(d.deadline) {
		d.c.started.Add(1)
		return true
	}
	return false
}

// subscriber pays again and again, one payment at a time, cycling through
// its numbers (no other subscriber uses them).
func (d *driver) subscriber(ctx context.Context, numbers []string) {
	inbox := make([]chan smsc.MT, len(numbers))
	for i, n := range numbers {
		inbox[i] = d.router.register(n)
	}
	var acks []time.Duration
	defer func() { d.moAck.merge(acks) }()
	for i := 0; d.more(ctx); i = (i + 1) % len(numbers) {
		num, ch := numbers[i], inbox[i]
		for len(ch) > 0 { // a late MT of an earlier payment
			<-ch
			d.c.odd.Add(1)
		}
		t0 := time.Now()
		if !d.send(ctx, num, d.keyword, &acks) {
			continue
		}
		prompt, ok := d.wait(ctx, ch)
		if !ok {
			continue
		}
		code, ok := codeOf(prompt.Text)
		if !ok {
			d.c.odd.Add(1)
			continue
		}
		if !d.send(ctx, num, code, &acks) {
			continue
		}
		if _, ok := d.wait(ctx, ch); !ok {
			continue
		}
		d.payment.add(time.Since(t0))
		d.c.confirmed.Add(1)
	}
}

// send injects one MO and waits for its deliver_sm_resp; an error status
// (the gateway could not store it) is resent, as an SMSC redelivers.
func (d *driver) send(ctx context.Context, from, text string, acks *[]time.Duration) bool {
	for attempt := 0; attempt < 20; attempt++ {
		sctx, cancel := context.WithTimeout(ctx, d.mtTimeout)
		t := time.Now()
		st, err := d.sim.InjectMO(sctx, smsc.MO{From: from, To: d.to, Text: text})
		el := time.Since(t)
		cancel()
		if err != nil {
			d.c.moErrors.Add(1)
			return false
		}
		if len(st) == 1 && st[0] == 0 {
			*acks = append(*acks, el)
			d.c.mos.Add(1)
			return true
		}
		d.c.tempFails.Add(1)
		select {
		case <-ctx.Done():
			return false
		case <-time.After(50 * time.Millisecond): // the SMSC's redelivery delay
		}
	}
	return false
}

// wait returns the next MT to the subscriber; a refusal is counted by its
// reason and reported as not ok.
func (d *driver) wait(ctx context.Context, ch chan smsc.MT) (smsc.MT, bool) {
	t := time.NewTimer(d.mtTimeout)
	defer t.Stop()
	select {
	case mt := <-ch:
		if r, ok := strings.CutPrefix(mt.Text, rejectPrefix); ok {
			d.c.reject(strings.TrimSpace(r))
			return mt, false
		}
		return mt, true
	case <-t.C:
		d.c.timeouts.Add(1)
		return smsc.MT{}, false
	case <-ctx.Done():
		return smsc.MT{}, false
	}
}

// numbersFor makes n distinct, made-up mobile numbers for run id run.
func numbersFor(run int64, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("+86139%02d%06d", run%100, i)
	}
	return out
}

// pacer spaces the starts of payments 1/rate apart, whoever starts them.
type pacer struct {
	every time.Duration
	mu    sync.Mutex
	next  time.Time
}

func newPacer(rate float64) *pacer {
	if rate <= 0 {
		return nil
	}
	return &pacer{every: time.Duration(float64(time.Second) / rate)}
}

// wait returns at the next start slot (false if ctx ended first). A nil
// pacer never waits.
func (p *pacer) wait(ctx context.Context) bool {
	if p == nil {
		return true
	}
	p.mu.Lock()
	now := time.Now()
	if p.next.Before(now) {
		p.next = now
	}
	slot := p.next
	p.next = p.next.Add(p.every)
	p.mu.Unlock()
	d := time.Until(slot)
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
