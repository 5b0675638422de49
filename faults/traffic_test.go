package faults

import (
	"context"
	"fmt"
	"math/rand"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/carrierbill/carrierbill/msisdn"
	"github.com/carrierbill/carrierbill/smpp/smsc"
	"github.com/carrierbill/carrierbill/sms"
)

// mtLog keeps every MT the simulator received, by canonical number.
type mtLog struct {
	mu      sync.Mutex
	byPhone map[string][]string
	n       int64
	changed chan struct{}
}

func newMTLog() *mtLog { return &mtLog{byPhone: map[string][]string{}, changed: make(chan struct{})} }

func canonical(phone string) string {
	if n, err := msisdn.DefaultPlan().Normalize(phone, 0, 0); err == nil {
		return n
	}
	return phone
}

func (l *mtLog) add(mt smsc.MT) {
	to := canonical(mt.To)
	l.mu.Lock()
	l.byPhone[to] = append(l.byPhone[to], mt.Text)
	l.n++
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
}

func (l *mtLog) count() int64 { l.mu.Lock(); defer l.mu.Unlock(); return l.n }

// texts returns the MTs phone received.
func (l *mtLog) texts(phone string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.byPhone[canonical(phone)]...)
}

// since returns how many MTs phone has received so far.
func (l *mtLog) since(phone string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.byPhone[canonical(phone)])
}

// waitCode waits until phone receives, after its from-th MT, one that
// carries a confirmation code (the only run of exactly six digits).
func (l *mtLog) waitCode(ctx context.Context, phone string, from int) (string, bool) {
	return l.waitMatch(ctx, phone, from, codeIn)
}

// waitMatch waits until phone receives, after its from-th MT, one that
// match takes, and returns what it took.
func (l *mtLog) waitMatch(ctx context.Context, phone string, from int, match func(string) (string, bool)) (string, bool) {
	key := canonical(phone)
	for {
		l.mu.Lock()
		mts, ch := l.byPhone[key], l.changed
		l.mu.Unlock()
		for i := from; i < len(mts); i++ {
			if c, ok := match(mts[i]); ok {
				return c, true
			}
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return "", false
		}
	}
}

var sixDigits = regexp.MustCompile(`(^|[^0-9])([0-9]{6})([^0-9]|$)`)

func codeIn(text string) (string, bool) {
	all := sixDigits.FindAllStringSubmatch(text, -1)
	if len(all) != 1 {
		return "", false
	}
	return all[0][2], true
}

// traffic plays subscribers: each worker buys for its own numbers in turn,
// confirms with the code of the prompt, and delivers every MO until the
// gateway acknowledges it with ESME_ROK, as an SMSC does.
type traffic struct {
	e    *env
	seed int64

	mu     sync.Mutex
	acks   map[[2]string]int // (number, text) → acknowledged deliveries
	codes  map[string]int    // number → confirmation codes sent
	done   chan struct{}
	wg     sync.WaitGroup
	nAcked atomic.Int64
	resent atomic.Int64
	// cardPhones: the first cardPhones subscribers pay by card (the bank
	// scenario), only they buy.
	cardPhones int
}

func newTraffic(e *env, seed int64) *traffic {
	return &traffic{e: e, seed: seed, acks: map[[2]string]int{}, codes: map[string]int{}, done: make(chan struct{})}
}

// phone is the i-th subscriber's number, national form (the gateway
// normalizes it).
func (tr *traffic) phone(i int) string { return fmt.Sprintf("1390%07d", i) }

func (tr *traffic) acked(phone, text string) {
	// A card confirmation carries the wallet password: the gateway stores
	// it redacted (DESIGN.md §4.9), and so is it looked up.
	text, _ = sms.RedactMO(text)
	tr.mu.Lock()
	tr.acks[[2]string{canonical(phone), text}]++
	tr.mu.Unlock()
	tr.nAcked.Add(1)
}

// start starts the workers; with dual, every confirmation goes to each of
// systemIDs at once (concurrent confirmations on two gateways), other MOs
// to whichever bind the simulator picks.
func (tr *traffic) start(systemIDs []string, dual bool) {
	for w := range tr.e.sz.workers {
		rng := rand.New(rand.NewSource(tr.seed + int64(w)))
		tr.wg.Add(1)
		go func() {
			defer tr.wg.Done()
			for i := w; ; i += tr.e.sz.workers {
				select {
				case <-tr.done:
					return
				default:
				}
				n := tr.e.sz.phones
				if tr.cardPhones > 0 {
					n = tr.cardPhones
				}
				phone := tr.phone(i % n)
				kw := "GOLD"
				if rng.Intn(10) < 3 {
					kw = "BIG"
				}
				var card cardHolder
				if tr.cardPhones > 0 {
					kw += " K"
					card = tr.e.cards[canonical(phone)]
				}
				from := tr.e.mts.since(phone)
				if !tr.deliver(phone, kw, "") {
					return
				}
				ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
				code, ok := tr.e.mts.waitCode(ctx, phone, from)
				cancel()
				if !ok {
					continue // refused (a limit), or the prompt is late: move on
				}
				tr.mu.Lock()
				tr.codes[canonical(phone)]++
				tr.mu.Unlock()
				if card.password != "" {
					code += " " + card.password
				}
				if !dual {
					if !tr.deliver(phone, code, "") {
						return
					}
					continue
				}
				var cw sync.WaitGroup
				for _, id := range systemIDs {
					cw.Add(1)
					go func() { defer cw.Done(); tr.deliver(phone, code, id) }()
				}
				cw.Wait()
			}
		}()
	}
}

// deliver sends one MO until it is acknowledged with ESME_ROK; false when
// the traffic stopped first (the MO was never acknowledged: no claim).
func (tr *traffic) deliver(phone, text, systemID string) bool {
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		st, err := tr.e.sim.InjectMO(ctx, smsc.MO{SystemID: systemID, From: phone, To: "106580088001", Text: text})
		cancel()
		if err == nil && len(st) == 1 && st[0] == 0 {
			tr.acked(phone, text)
			return true
		}
		tr.resent.Add(1)
		select {
		case <-tr.done:
			return false
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// stop stops the workers and waits for them.
func (tr *traffic) stop() {
	select {
	case <-tr.done:
	default:
		close(tr.done)
	}
	tr.wg.Wait()
}
