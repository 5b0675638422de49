package replay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/carrierbill/carrierbill/clock"
	"github.com/carrierbill/carrierbill/redact"
	"github.com/carrierbill/carrierbill/trace"
)

// LiveOptions configure a live replay against a running gateway.
type LiveOptions struct {
	// SMSC is the SMSC simulator's HTTP control endpoint
	// (smsc.Server.Handler): a base URL or host:port.
	SMSC string
	// Speed replays the recorded pace Speed times faster (0 or 1: as
	// recorded). Rate, when set, sends Rate MOs per second instead.
	Speed float64
	Rate  float64
	// Wait is how long to wait at the end for the MTs still expected
	// (default 10 s), and for a prompt before a {{code}} reply.
	Wait time.Duration
	// Poll is how often the simulator's MTs are fetched (default 20 ms);
	// it bounds the resolution of the latencies.
	Poll time.Duration
	// Progress, when set, receives a progress bar (rate and ETA), redrawn
	// in place: pass the terminal.
	Progress io.Writer
	// Redact masks phone numbers and codes in the output.
	Redact   bool
	Location *time.Location // zone of the output's timestamps (default Asia/Shanghai)
	Clock    clock.Clock    // default clock.Real
	Client   *http.Client   // default: 10 s timeout
	Logger   *slog.Logger
}

// LiveReport is what a live replay measured.
type LiveReport struct {
	Sent      int // MOs accepted by the simulator (every part acked ROK)
	Failed    int // MOs not injected, or acked with an error status
	Received  int // MTs received for the trace's numbers
	Answered  int // MOs that got at least one MT
	Latencies []time.Duration
	Duration  time.Duration // first MO sent → last MT received or the wait ended
	// Comparison with the MTs recorded in the trace, per phone number and
	// in order, codes masked (they differ from run to run).
	Recorded   int
	Matching   int
	Mismatched int // recorded MTs whose counterpart differs or is missing
}

// Percentile returns the q-quantile (0..1) of the latencies, 0 without any.
func (r LiveReport) Percentile(q float64) time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), r.Latencies...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(q*float64(len(s))+0.5) - 1
	i = max(0, min(i, len(s)-1))
	return s[i]
}

// WriteTo writes the report as text.
func (r LiveReport) WriteTo(w io.Writer) (int64, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "sent: %d MOs (failed %d) in %s\n", r.Sent, r.Failed, r.Duration.Round(time.Millisecond))
	fmt.Fprintf(&b, "received: %d MTs; %d MOs answered\n", r.Received, r.Answered)
	if len(r.Latencies) > 0 {
		fmt.Fprintf(&b, "latency MO sent → first MT: p50 %s  p90 %s  p99 %s  max %s\n",
			r.Percentile(0.5).Round(time.Millisecond), r.Percentile(0.9).Round(time.Millisecond),
			r.Percentile(0.99).Round(time.Millisecond), r.Percentile(1).Round(time.Millisecond))
	}
	if r.Recorded > 0 {
		fmt.Fprintf(&b, "recorded MTs: %d, matching %d, different or missing %d\n", r.Recorded, r.Matching, r.Mismatched)
	}
	n, err := io.WriteString(w, b.String())
	return int64(n), err
}

type liveMO struct {
	at         time.Time
	from, to   string
	text       string
	hasCodeRef bool
}

// simMT is an MT as the simulator's GET /mts lists it.
type simMT struct {
	From, To string
	Text     string
}

// Live sends the MOs of r to the gateway behind the SMSC simulator at
// o.SMSC, paced as o says, writes one "mt" event per MT received to out,
// and returns the measurements. The trace is read whole first (to know the
// total for the progress bar and the ETA).
func Live(ctx context.Context, r trace.Reader, out io.Writer, o LiveOptions) (LiveReport, error) {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if o.Wait <= 0 {
		o.Wait = 10 * time.Second
	}
	if o.Poll <= 0 {
		o.Poll = 20 * time.Millisecond
	}
	if o.Location == nil {
		loc, err := time.LoadLocation("Asia/Shanghai")
		if err != nil {
			return LiveReport{}, fmt.Errorf("loading Asia/Shanghai: %w", err)
		}
		o.Location = loc
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	base := strings.TrimRight(o.SMSC, "/")
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}

	// Read the trace: MOs (reassembled) and recorded MTs.
	var mos []liveMO
	recorded := map[string][]string{}
	var rep LiveReport
	j := newJoiner(o.Logger)
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return rep, fmt.Errorf("reading the trace: %w", err)
		}
		if rec.Kind == trace.MT {
			recorded[rec.To] = append(recorded[rec.To], rec.Text)
			rep.Recorded++
			continue
		}
		text, ok := j.join(rec, rec.At)
		if !ok {
			continue
		}
		mos = append(mos, liveMO{at: rec.At, from: rec.From, to: rec.To, text: text, hasCodeRef: strings.Contains(text, CodePlaceholder)})
	}

	l := &live{o: o, base: base, out: out, state: map[string]*phoneState{}, changed: make(chan struct{}, 1)}
	pctx, stopPoll := context.WithCancel(ctx)
	pollDone := make(chan error, 1)
	go func() { pollDone <- l.poll(pctx) }()
	defer func() {
		stopPoll()
		<-pollDone
	}()

	start := o.Clock.Now()
	var t0 time.Time
	if len(mos) > 0 {
		t0 = mos[0].at
	}
	speed := o.Speed
	if speed <= 0 {
		speed = 1
	}
	lastDraw := time.Time{}
	for i, m := range mos {
		var due time.Duration
		switch {
		case o.Rate > 0:
			due = time.Duration(float64(i) / o.Rate * float64(time.Second))
		default:
			due = time.Duration(float64(m.at.Sub(t0)) / speed)
		}
		if err := l.sleepUntil(ctx, start.Add(due)); err != nil {
			return l.report(rep, start), err
		}
		text := m.text
		if m.hasCodeRef {
			code, err := l.codeFor(ctx, m.from)
			if err != nil {
				return l.report(rep, start), err
			}
			if code != "" {
				text = strings.ReplaceAll(text, CodePlaceholder, code)
			}
		}
		if err := l.send(ctx, m.from, m.to, text); err != nil {
			o.Logger.Warn("replay: injecting an MO failed", "msisdn", redact.Phone(m.from), "err", err)
			rep.Failed++
		} else {
			rep.Sent++
		}
		if o.Progress != nil && (o.Clock.Now().Sub(lastDraw) > 200*time.Millisecond || i == len(mos)-1) {
			lastDraw = o.Clock.Now()
			drawProgress(o.Progress, i+1, len(mos), o.Clock.Now().Sub(start))
		}
	}
	if o.Progress != nil && len(mos) > 0 {
		fmt.Fprintln(o.Progress)
	}
	// Wait for the answers still expected.
	deadline := o.Clock.Now().Add(o.Wait)
	for !l.allAnswered() && o.Clock.Now().Before(deadline) {
		if err := l.waitChange(ctx, deadline); err != nil {
			return l.report(rep, start), err
		}
	}
	rep = l.report(rep, start)
	// Compare with the recorded MTs.
	l.mu.Lock()
	for phone, want := range recorded {
		var got []string
		if st := l.state[phone]; st != nil {
			got = st.texts
		}
		for i, w := range want {
			if i < len(got) && maskCodes(got[i]) == maskCodes(w) {
				rep.Matching++
			} else {
				rep.Mismatched++
			}
		}
	}
	l.mu.Unlock()
	return rep, nil
}

type phoneState struct {
	sent     []time.Time // MOs sent and not yet answered, oldest first
	mos      int
	answered int // MOs answered (first MT after each)
	texts    []string
	code     string // the last code seen in an MT
}

type live struct {
	o       LiveOptions
	base    string
	out     io.Writer
	mu      sync.Mutex
	state   map[string]*phoneState
	seen    int // MTs of GET /mts already handled
	lat     []time.Duration
	recv    int
	last    time.Time
	changed chan struct{}
}

func (l *live) phone(p string) *phoneState {
	st := l.state[p]
	if st == nil {
		st = &phoneState{}
		l.state[p] = st
	}
	return st
}

// send posts one MO. Its send time is recorded before the POST (the MT may
// come back before the POST returns) and withdrawn when the MO was not
// injected, so no answer is waited for.
func (l *live) send(ctx context.Context, from, to, text string) error {
	phone := strings.TrimPrefix(from, "+")
	l.mu.Lock()
	st := l.phone(phone)
	st.sent = append(st.sent, l.o.Clock.Now())
	st.mos++
	l.mu.Unlock()
	err := l.post(ctx, from, to, text)
	if err != nil {
		l.mu.Lock()
		if n := len(st.sent); n > 0 {
			st.sent = st.sent[:n-1]
		}
		st.mos--
		l.mu.Unlock()
	}
	return err
}

func (l *live) post(ctx context.Context, from, to, text string) error {
	body, _ := json.Marshal(map[string]string{"from": from, "to": to, "text": text})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.base+"/mo", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := l.o.Client.Do(req)
	if err != nil {
		return fmt.Errorf("posting an MO to the simulator: %w", err)
	}
	defer resp.Body.Close()
	var res struct {
		Statuses []uint32 `json:"statuses"`
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("simulator answered %s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		return fmt.Errorf("reading the simulator's answer: %w", err)
	}
	for _, s := range res.Statuses {
		if s != 0 {
			return fmt.Errorf("the gateway acked a part with status %#x", s)
		}
	}
	return nil
}

// poll fetches the simulator's MTs until ctx ends.
func (l *live) poll(ctx context.Context) error {
	t := time.NewTicker(l.o.Poll)
	defer t.Stop()
	for {
		if err := l.fetch(ctx); err != nil && ctx.Err() == nil {
			l.o.Logger.Warn("replay: reading the simulator's MTs failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (l *live) fetch(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.base+"/mts", nil)
	if err != nil {
		return err
	}
	resp, err := l.o.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var mts []simMT
	if err := json.NewDecoder(resp.Body).Decode(&mts); err != nil {
		return fmt.Errorf("decoding GET /mts: %w", err)
	}
	now := l.o.Clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(mts) <= l.seen {
		return nil
	}
	for _, mt := range mts[l.seen:] {
		st := l.state[mt.To]
		if st == nil {
			continue // not one of the trace's numbers
		}
		l.recv++
		l.last = now
		st.texts = append(st.texts, mt.Text)
		if c := codeIn(mt.Text); c != "" {
			st.code = c
		}
		if len(st.sent) > 0 {
			l.lat = append(l.lat, now.Sub(st.sent[0]))
			st.sent = st.sent[1:]
			st.answered++
		}
		e := Event{At: now.In(l.o.Location).Format(time.RFC3339Nano), Kind: "mt", MSISDN: mt.To, From: mt.From, Text: mt.Text}
		if l.o.Redact {
			e.MSISDN, e.Text = redact.Phone(e.MSISDN), MaskText(e.Text)
		}
		b, _ := json.Marshal(e)
		if _, err := l.out.Write(append(b, '\n')); err != nil {
			return fmt.Errorf("writing the output: %w", err)
		}
	}
	l.seen = len(mts)
	select {
	case l.changed <- struct{}{}:
	default:
	}
	return nil
}

// codeFor waits until every MO sent from phone was answered (or Wait passes)
// and returns the last code the phone was sent.
func (l *live) codeFor(ctx context.Context, phone string) (string, error) {
	phone = strings.TrimPrefix(phone, "+")
	deadline := l.o.Clock.Now().Add(l.o.Wait)
	for {
		l.mu.Lock()
		st := l.phone(phone)
		done, code := len(st.sent) == 0, st.code
		l.mu.Unlock()
		if done || !l.o.Clock.Now().Before(deadline) {
			return code, nil
		}
		if err := l.waitChange(ctx, deadline); err != nil {
			return "", err
		}
	}
}

func (l *live) allAnswered() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, st := range l.state {
		if len(st.sent) > 0 {
			return false
		}
	}
	return true
}

// waitChange waits for new MTs, the deadline or the end of ctx.
func (l *live) waitChange(ctx context.Context, deadline time.Time) error {
	t := time.NewTimer(max(deadline.Sub(l.o.Clock.Now()), 0))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-l.changed:
	case <-t.C:
	}
	return nil
}

func (l *live) sleepUntil(ctx context.Context, at time.Time) error {
	d := at.Sub(l.o.Clock.Now())
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (l *live) report(rep LiveReport, start time.Time) LiveReport {
	l.mu.Lock()
	defer l.mu.Unlock()
	rep.Received = l.recv
	rep.Latencies = append([]time.Duration(nil), l.lat...)
	for _, st := range l.state {
		rep.Answered += st.answered
	}
	end := l.last
	if end.Before(start) {
		end = start
	}
	rep.Duration = end.Sub(start)
	return rep
}

func drawProgress(w io.Writer, done, total int, elapsed time.Duration) {
	const width = 30
	filled := width
	if total > 0 {
		filled = done * width / total
	}
	rate := 0.0
	if elapsed > 0 {
		rate = float64(done) / elapsed.Seconds()
	}
	eta := "?"
	if rate > 0 {
		eta = time.Duration(float64(total-done) / rate * float64(time.Second)).Round(time.Second).String()
	}
	fmt.Fprintf(w, "\r[%s%s] %d/%d  %.1f msg/s  ETA %s ", strings.Repeat("=", filled), strings.Repeat(" ", width-filled), done, total, rate, eta)
}

var codeRun = regexp.MustCompile(`(^|[^0-9])([0-9]{6})([^0-9]|$)`)

// codeIn returns the confirmation code of a prompt: its only run of exactly
// six digits; "" when there is none or more than one.
func codeIn(text string) string {
	all := codeRun.FindAllStringSubmatch(text, -1)
	if len(all) != 1 {
		return ""
	}
	return all[0][2]
}

// maskCodes hides six-digit runs, for comparing texts across runs.
func maskCodes(s string) string { return MaskText(s) }
