package smpp_test

import (
	"bytes"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/fiorix/go-smpp/smpp/pdu/pdutlv"

	"github.com/carrierbill/carrierbill/smpp"
	"github.com/carrierbill/carrierbill/smpp/smsc"
)

// TestMultipartFloodMeasure replays the attack of issue 18.4 against a bind
// with the default limits and reports the heap it leaves: 21 unfinished
// messages of 254 parts of 60 KB (message_payload with SAR TLVs), then the
// same 21 × 254 parts at a legitimate 140 bytes, then the part timeout.
// It sends about 330 MB, so it runs only when asked:
//
//	CARRIERBILL_MEASURE=1 go test -run TestMultipartFloodMeasure -v ./smpp/
func TestMultipartFloodMeasure(t *testing.T) {
	if os.Getenv("CARRIERBILL_MEASURE") == "" {
		t.Skip("set CARRIERBILL_MEASURE=1 to run the 18.4 flood measurement")
	}
	sim := newSim(t, smsc.Config{NoRecord: true}) // its PDU records would be the heap
	cons := newConsumer()
	bc := bindCfg(sim.Addr())
	bc.PartTimeout = 2 * time.Second
	c := newClient(t, cons, nil, bc)
	ctx := ctxT(t)
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapInuse
	}
	flood := func(size int) map[uint32]int {
		statuses := map[uint32]int{}
		data := bytes.Repeat([]byte{'x'}, size)
		for msg := range 21 {
			for seq := 1; seq <= 254; seq++ {
				sm := sarSM("", uint16(msg), 255, seq)
				sm.ShortMessage = nil
				if size > 254 {
					sm.TLVs.Set(pdutlv.TagMessagePayload, data)
				} else {
					sm.ShortMessage = data
				}
				st, err := sim.Deliver(ctx, "", sm, 0)
				if err != nil {
					t.Fatal(err)
				}
				statuses[uint32(st)]++
			}
		}
		return statuses
	}
	before := heap()
	st := flood(60 << 10)
	after60k := heap()
	s := c.Stats()[0]
	t.Logf("60 KB parts: answers %v; bind holds %d messages, %d bytes; heap in use %d MB -> %d MB",
		st, s.PartialMessages, s.PartialBytes, before>>20, after60k>>20)
	st = flood(140)
	after140 := heap()
	s = c.Stats()[0]
	t.Logf("140-byte parts: answers %v; bind holds %d messages, %d bytes; heap in use %d MB",
		st, s.PartialMessages, s.PartialBytes, after140>>20)
	eventually(t, "the parts released after the part timeout", func() bool {
		s := c.Stats()[0]
		return s.PartialMessages == 0 && s.PartialBytes == 0
	})
	t.Logf("after the 2s part timeout: heap in use %d MB", heap()>>20)
	if s.PartialBytes > smpp.DefaultMaxTotalBytes {
		t.Fatalf("held %d bytes, over the default total cap", s.PartialBytes)
	}
}
