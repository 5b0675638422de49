package loadtest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/carrierbill/carrierbill/smpp"
	"github.com/carrierbill/carrierbill/smpp/smsc"
)

// SMPPResult is the SMPP layer's ceiling: the simulator delivering MOs to
// an ESME (smpp.Client) whose consumer acknowledges and drops them.
type SMPPResult struct {
	Skipped string      `json:"skipped,omitempty"`
	Binds   int         `json:"binds,omitempty"`
	Senders int         `json:"senders,omitempty"`
	Seconds float64     `json:"seconds,omitempty"`
	MOs     int64       `json:"mos,omitempty"`
	MOsPerS float64     `json:"mos_per_s,omitempty"`
	Ack     Percentiles `json:"mo_ack"`
}

type dropConsumer struct{}

func (dropConsumer) ConsumeMO(context.Context, smpp.MO) error                   { return nil }
func (dropConsumer) ConsumeReceipt(context.Context, smpp.DeliveryReceipt) error { return nil }

// runSMPPCeiling sends purchase-sized MOs from senders goroutines over
// binds binds for d.
func runSMPPCeiling(ctx context.Context, binds, window, senders int, d time.Duration) (SMPPResult, error) {
	res := SMPPResult{Binds: binds, Senders: senders}
	sim := smsc.New(smsc.Config{SystemID: "bench", Password: "bench", NoRecord: true})
	if err := sim.Listen("127.0.0.1:0"); err != nil {
		return res, err
	}
	defer sim.Close()
	var bcs []smpp.BindConfig
	for i := range binds {
		bcs = append(bcs, smpp.BindConfig{Name: fmt.Sprintf("ceiling%d", i+1), Addr: sim.Addr(), SystemID: "bench", Password: "bench", Window: window})
	}
	client, err := smpp.NewClient(bcs, dropConsumer{}, smpp.Options{})
	if err != nil {
		return res, err
	}
	defer client.Close()
	if err := client.Start(ctx); err != nil {
		return res, err
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err = sim.WaitBound(wctx, binds)
	cancel()
	if err != nil {
		return res, fmt.Errorf("SMPP ceiling: %w", err)
	}
	var (
		lat      latencies
		n, fails atomic.Int64
		wg       sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(d)
	numbers := numbersFor(99, senders)
	for i := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var acks []time.Duration
			defer func() { lat.merge(acks) }()
			for j := 0; time.Now().Before(deadline) && ctx.Err() == nil; j++ {
				text := "VIP"
				if j%2 == 1 {
					text = "123456"
				}
				sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				t := time.Now()
				st, err := sim.InjectMO(sctx, smsc.MO{From: numbers[i], To: "106580088001", Text: text})
				el := time.Since(t)
				cancel()
				if err != nil || len(st) != 1 || st[0] != 0 {
					fails.Add(1)
					continue
				}
				acks = append(acks, el)
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	res.Seconds = el.Seconds()
	res.MOs = n.Load()
	res.MOsPerS = float64(res.MOs) / el.Seconds()
	res.Ack = lat.percentiles()
	if f := fails.Load(); f > 0 {
		return res, fmt.Errorf("SMPP ceiling: %d MOs failed", f)
	}
	return res, nil
}
