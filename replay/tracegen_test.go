package replay

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"time"
)

// The attack traces of issue 15 and a normal day's traffic, generated
// (seeded, so every run gives the same bytes): a thousand numbers are a
// loop, not a hand-written file. The small ones are also kept in testdata/
// with their goldens (TestAttackGoldens); `go test ./replay -run
// TestWriteRiskTraces -args -risk-traces DIR` writes all of them to DIR
// for `carrierbill replay`.
//
// Numbers tell the actors apart in the output (canonical +86…):
//
//	86135…  trojan-infected phones        86137…  code guessers
//	86136…  numbers a flooding merchant   86138…  ordinary subscribers
//	        uses                          86139…  bystanders paying during an attack

// traceDay is the day the traces are recorded on (operator's zone).
var traceDay = time.Date(2026, 11, 23, 0, 0, 0, 0, time.FixedZone("CST", 8*3600))

// genMO is one MO of a generated trace.
type genMO struct {
	At   time.Time
	From string
	To   string
	Text string
}

// traceGen collects MOs and writes them as JSON lines in time order.
type traceGen struct {
	comment string
	rng     *rand.Rand
	mos     []genMO
}

func newTraceGen(seed uint64, comment string) *traceGen {
	return &traceGen{comment: comment, rng: rand.New(rand.NewPCG(seed, 15))}
}

// mo adds one MO from phone to merchant's service address.
func (g *traceGen) mo(at time.Time, phone, merchant, text string) {
	g.mos = append(g.mos, genMO{At: at, From: phone, To: "10658008" + merchant, Text: text})
}

// between is a random duration in [lo, hi].
func (g *traceGen) between(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(g.rng.Int64N(int64(hi-lo)+1))
}

// wrongCode is a random six-digit code (wrong but for one chance in a
// million, which the seed rules out).
func (g *traceGen) wrongCode() string { return fmt.Sprintf("%06d", g.rng.IntN(1_000_000)) }

// jsonl is the trace: the comment, then the MOs sorted by time (ties keep
// the order they were added in), at millisecond precision.
func (g *traceGen) jsonl() []byte {
	sort.SliceStable(g.mos, func(i, j int) bool { return g.mos[i].At.Before(g.mos[j].At) })
	var b bytes.Buffer
	for _, l := range bytes.Split([]byte(g.comment), []byte("\n")) {
		b.WriteString("# ")
		b.Write(l)
		b.WriteByte('\n')
	}
	for _, m := range g.mos {
		line, err := json.Marshal(struct {
			At   string `json:"at"`
			From string `json:"from"`
			To   string `json:"to"`
			Text string `json:"text"`
		}{m.At.Format("2006-01-02T15:04:05.000Z07:00"), m.From, m.To, m.Text})
		if err != nil {
			panic(err) // strings only
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// at is traceDay at h:m:s.
func at(h, m, s int) time.Time { return traceDay.Add(time.Duration(h*3600+m*60+s) * time.Second) }

// human is a subscriber who reads the prompt and answers in 5–90 s.
func (g *traceGen) human(start time.Time, phone, merchant, what string) {
	g.mo(start, phone, merchant, what)
	g.mo(start.Add(g.between(5*time.Second, 90*time.Second)), phone, merchant, CodePlaceholder)
}

// Attack scale: infected phones, guessers, flood numbers.
const (
	trojanPhones    = 5
	trojanPurchases = 4 // per phone, through the day
	trojanReplies   = 3 // replies to each prompt it sees, a fresh one included
	guessers        = 2
	guessMinutes    = 40
	floodNumbers    = 1000
)

// trojanTrace: phones infected by a Joker-family trojan buy the 15.00 VIP
// product of merchant 8001 four times a day and answer every prompt they
// see within a second (0.6–0.9 s after it), fresh-code prompts included.
// Three bystanders buy the same product at a human pace meanwhile.
func trojanTrace() []byte {
	g := newTraceGen(1, "Trojan (Joker family): 5 infected phones buy VIP from 8001 four times a day and answer\n"+
		"every prompt within a second, three times (the trojan answers a fresh code too).\n"+
		"Bystanders (86139…) buy the same product at a human pace. Generated: replay/tracegen_test.go.")
	for p := range trojanPhones {
		phone := fmt.Sprintf("861350000%04d", p+1)
		for k := range trojanPurchases {
			start := at(9+3*k, 7*p, 0)
			g.mo(start, phone, "8001", "VIP")
			t := start
			for range trojanReplies {
				t = t.Add(g.between(600*time.Millisecond, 900*time.Millisecond))
				g.mo(t, phone, "8001", CodePlaceholder)
			}
		}
	}
	for b := range 3 {
		g.human(at(9, 30+10*b, 0), fmt.Sprintf("861390000%04d", b+1), "8001", "VIP")
	}
	return g.jsonl()
}

// guesserTrace: two numbers open an order every two minutes from 10:00
// to 10:40 and answer each with three guessed codes two seconds apart. A
// bystander pays 8001 at a human pace in the middle of it.
func guesserTrace() []byte {
	g := newTraceGen(2, "Code guessers: 2 numbers open an order with 8001 every 2 minutes for 40 minutes and\n"+
		"answer each with 3 guessed codes. A bystander (86139…) pays normally. Generated: replay/tracegen_test.go.")
	for p := range guessers {
		phone := fmt.Sprintf("861370000%04d", p+1)
		for t := at(10, 0, 10*p); t.Before(at(10, guessMinutes, 0)); t = t.Add(2 * time.Minute) {
			g.mo(t, phone, "8001", "1")
			for k := 1; k <= 3; k++ {
				g.mo(t.Add(time.Duration(2*k)*time.Second), phone, "8001", g.wrongCode())
			}
		}
	}
	g.human(at(10, 15, 0), "8613900000001", "8001", "5")
	return g.jsonl()
}

// floodTrace: merchant 8003 floods purchases from 1,000 numbers in ten
// minutes (one every 0.6 s from 14:00): 60% of the codes come back within
// 1–2.5 s, 20% after 4–8 s (a bot pretending to read), 20% never. Five
// bystanders pay merchant 8001 at a human pace during the flood.
func floodTrace() []byte {
	g := newTraceGen(3, "Merchant flood: 8003 starts purchases of 10-30 yuan from 1,000 numbers in 10 minutes;\n"+
		"60% confirmed in 1-2.5 s, 20% in 4-8 s, 20% never. Bystanders (86139…) pay 8001 meanwhile.\n"+
		"Generated: replay/tracegen_test.go.")
	for i := range floodNumbers {
		phone := fmt.Sprintf("86136%08d", i)
		start := at(14, 0, 0).Add(time.Duration(i) * 600 * time.Millisecond)
		g.mo(start, phone, "8003", fmt.Sprintf("%d", 10+g.rng.IntN(21)))
		switch r := g.rng.IntN(10); {
		case r < 6:
			g.mo(start.Add(g.between(time.Second, 2500*time.Millisecond)), phone, "8003", CodePlaceholder)
		case r < 8:
			g.mo(start.Add(g.between(4*time.Second, 8*time.Second)), phone, "8003", CodePlaceholder)
		}
	}
	for b := range 5 {
		g.human(at(14, 1+2*b, 0), fmt.Sprintf("861390000%04d", b+1), "8001", "6")
	}
	return g.jsonl()
}

// Normal day's scale.
const (
	normalPayments = 2000
	normalNumbers  = 1500
)

// normalHours weighs the hours of the day (operator's zone) for the normal
// day: quiet at night, peaks at lunch and in the evening.
var normalHours = [24]int{2, 1, 1, 1, 1, 1, 2, 4, 5, 5, 6, 6, 7, 6, 5, 5, 5, 6, 7, 8, 9, 9, 7, 4}

// normalMerchants are the normal day's merchants, with their weights and
// what their customers send.
var normalMerchants = []struct {
	code   string
	weight int
	texts  []string
}{
	{"8001", 35, []string{"1", "2", "5", "6", "10", "12", "15", "VIP", "VIP", "30"}},
	{"8002", 20, []string{"SONG"}},
	{"8004", 20, []string{"1", "3", "5", "8", "8", "10"}},
	{"8005", 15, []string{"2", "4", "6", "20", "TXT"}},
	{"8006", 10, []string{"0.5", "1", "1.5", "9.9"}},
}

// normalTrace: a normal day. 2,000 payments over 24 hours from 1,500
// numbers and five merchants, spread by hour of day (about 3% between
// 01:00 and 06:00). People answer in 5–90 s; 5% first send a wrong code
// (a typo) and the right one 5–30 s later; 3% never answer. No number
// pays twice within ten minutes.
func normalTrace() []byte {
	g := newTraceGen(4, "A normal day: 2,000 payments over 24 h from 1,500 numbers and 5 merchants, humans\n"+
		"answering in 5-90 s, 5% with a wrong code first, 3% never answering, some at night.\n"+
		"Generated: replay/tracegen_test.go.")
	hourTotal := 0
	for _, w := range normalHours {
		hourTotal += w
	}
	merchantTotal := 0
	for _, m := range normalMerchants {
		merchantTotal += m.weight
	}
	numbers := make([]string, normalNumbers)
	for i := range numbers {
		numbers[i] = fmt.Sprintf("86138%08d", g.rng.IntN(100_000_000))
	}
	busy := map[string][]time.Time{}
	for range normalPayments {
		hour := pick(g.rng, normalHours[:], hourTotal)
		start := traceDay.Add(time.Duration(hour)*time.Hour + g.between(0, time.Hour-time.Second))
		phone := numbers[g.rng.IntN(len(numbers))]
		for clash(busy[phone], start) {
			phone = numbers[g.rng.IntN(len(numbers))]
		}
		busy[phone] = append(busy[phone], start)
		mi := 0
		for w := g.rng.IntN(merchantTotal); w >= normalMerchants[mi].weight; mi++ {
			w -= normalMerchants[mi].weight
		}
		m := normalMerchants[mi]
		g.mo(start, phone, m.code, m.texts[g.rng.IntN(len(m.texts))])
		answer := start.Add(g.between(5*time.Second, 90*time.Second))
		switch r := g.rng.IntN(100); {
		case r < 3: // never answers: the order expires
		case r < 8: // a typo first
			g.mo(answer, phone, m.code, g.wrongCode())
			g.mo(answer.Add(g.between(5*time.Second, 30*time.Second)), phone, m.code, CodePlaceholder)
		default:
			g.mo(answer, phone, m.code, CodePlaceholder)
		}
	}
	return g.jsonl()
}

// pick is an index of weights drawn with probability weight/total.
func pick(rng *rand.Rand, weights []int, total int) int {
	w := rng.IntN(total)
	for i, x := range weights {
		if w < x {
			return i
		}
		w -= x
	}
	return len(weights) - 1
}

// clash reports whether t is within ten minutes of one of ts.
func clash(ts []time.Time, t time.Time) bool {
	for _, x := range ts {
		if d := t.Sub(x); d < 10*time.Minute && d > -10*time.Minute {
			return true
		}
	}
	return false
}
