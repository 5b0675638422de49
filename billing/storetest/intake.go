package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/carrierbill/carrierbill/billing"
)

// RunIntake runs the cases of MO intake in batches (billing.MOBatchStore,
// billing.Intake) against the stores open returns, which must implement
// billing.MOBatchStore.
func RunIntake(t *testing.T, open Open) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s batchStore)
	}{
		{"BatchStoresEveryMOInOrder", testBatchInOrder},
		{"BadMOFailsTheWholeBatch", testBatchAllOrNothing},
		{"CancelledBatchStoresNothing", testBatchCancelled},
		{"BatchWithTwoMOsOfOneNumber", testBatchSameNumber},
		{"IntakeOneBadMOFailsAlone", testIntakeBadMO},
		{"IntakeManyCallersOneCommitEach", testIntakeConcurrent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := open(t)
			bs, ok := st.(billing.MOBatchStore)
			if !ok {
				t.Fatalf("%T does not implement billing.MOBatchStore", st)
			}
			tt.fn(t, batchStore{Store: st, batch: bs})
		})
	}
}

type batchStore struct {
	billing.Store
	batch billing.MOBatchStore
}

var intakeNow = time.Date(2026, 3, 10, 4, 0, 0, 0, time.UTC)

func mo(from, body string) billing.InboundMO {
	return billing.InboundMO{Bind: "b", MSISDN: from, ServiceAddr: "106580088001", Body: body, ReceivedAt: intakeNow}
}

// badMO cannot be stored: its text holds a NUL byte and is not UTF-8.
func badMO(from string) billing.InboundMO { return mo(from, "VIP\x00\xff") }

// stored claims every claimable MO (the head of each number) and returns
// their bodies by number.
func stored(t *testing.T, s batchStore) map[string]string {
	t.Helper()
	got, err := s.ClaimMOs(context.Background(), intakeNow, intakeNow.Add(time.Minute), 1000)
	if err != nil {
		t.Fatalf("ClaimMOs: %v", err)
	}
	out := map[string]string{}
	for _, m := range got {
		if _, dup := out[m.MSISDN]; dup {
			t.Fatalf("two MOs of %s claimed at once", m.MSISDN)
		}
		out[m.MSISDN] = m.Body
	}
	return out
}

func number(i int) string { return fmt.Sprintf("861390000%04d", i) }

func testBatchInOrder(t *testing.T, s batchStore) {
	var mos []billing.InboundMO
	for i := range 5 {
		mos = append(mos, mo(number(i), fmt.Sprint("body", i)))
	}
	ids, err := s.batch.InsertMOs(context.Background(), mos)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 5 {
		t.Fatalf("%d ids for 5 MOs", len(ids))
	}
	for i := 1; i < len(ids); i++ {
		if ids[i] <= ids[i-1] {
			t.Fatalf("ids %v are not in the order of the MOs", ids)
		}
	}
	got := stored(t, s)
	for i := range 5 {
		if got[number(i)] != fmt.Sprint("body", i) {
			t.Fatalf("stored %v", got)
		}
	}
}

// A batch that fails in the middle (its third MO cannot be stored) is a
// crash mid-batch as the database sees it: nothing of it is stored.
func testBatchAllOrNothing(t *testing.T, s batchStore) {
	mos := []billing.InboundMO{mo(number(1), "VIP"), mo(number(2), "VIP"), badMO(number(3)), mo(number(4), "VIP"), mo(number(5), "VIP")}
	if ids, err := s.batch.InsertMOs(context.Background(), mos); err == nil {
		t.Fatalf("a batch holding a bad MO was stored: ids %v", ids)
	}
	if got := stored(t, s); len(got) != 0 {
		t.Fatalf("a failed batch left %d MOs stored: %v", len(got), got)
	}
}

func testBatchCancelled(t *testing.T, s batchStore) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.batch.InsertMOs(ctx, []billing.InboundMO{mo(number(1), "VIP"), mo(number(2), "VIP")}); err == nil {
		t.Fatal("a batch on a cancelled context was stored")
	}
	if got := stored(t, s); len(got) != 0 {
		t.Fatalf("a cancelled batch left MOs stored: %v", got)
	}
}

// Two MOs of one number in one batch keep their order: the second is
// claimable only after the first is processed.
func testBatchSameNumber(t *testing.T, s batchStore) {
	ids, err := s.batch.InsertMOs(context.Background(), []billing.InboundMO{mo(number(1), "VIP"), mo(number(2), "10"), mo(number(1), "123456")})
	if err != nil {
		t.Fatal(err)
	}
	if got := stored(t, s); len(got) != 2 || got[number(1)] != "VIP" || got[number(2)] != "10" {
		t.Fatalf("first claim: %v, want the purchase of each number", got)
	}
	ctx := context.Background()
	if err := s.InTx(ctx, func(tx billing.Tx) error { return tx.MarkMOProcessed(ctx, ids[0], intakeNow) }); err != nil {
		t.Fatal(err)
	}
	later := intakeNow.Add(2 * time.Minute) // past the first claim's lease
	next, err := s.ClaimMOs(ctx, later, later.Add(time.Minute), 10)
	if err != nil {
		t.Fatal(err)
	}
	var bodies []string
	for _, m := range next {
		if m.MSISDN == number(1) {
			bodies = append(bodies, m.Body)
		}
	}
	if len(bodies) != 1 || bodies[0] != "123456" {
		t.Fatalf("after the purchase was processed, %s has %v claimable, want the code", number(1), bodies)
	}
}

// One bad MO among many callers fails alone: the others are stored once
// each (the failed batch left nothing behind) and get their ids.
func testIntakeBadMO(t *testing.T, s batchStore) {
	in := billing.NewIntake(s.batch, billing.IntakeOptions{MaxBatch: 64, Flushers: 1})
	defer in.Close()
	const n = 24
	type res struct {
		id  int64
		err error
	}
	out := make([]res, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := mo(number(i), fmt.Sprint("body", i))
			if i == 7 {
				m = badMO(number(i))
			}
			id, err := in.Insert(context.Background(), m)
			out[i] = res{id, err}
		}()
	}
	wg.Wait()
	ids := map[int64]bool{}
	for i, r := range out {
		switch {
		case i == 7 && r.err == nil:
			t.Errorf("the bad MO was acknowledged (id %d)", r.id)
		case i != 7 && r.err != nil:
			t.Errorf("MO %d failed with the bad one: %v", i, r.err)
		case i != 7:
			if ids[r.id] {
				t.Errorf("id %d given twice", r.id)
			}
			ids[r.id] = true
		}
	}
	got := stored(t, s)
	if len(got) != n-1 {
		t.Fatalf("%d MOs stored, want %d: %v", len(got), n-1, got)
	}
	for i := range n {
		if i != 7 && got[number(i)] != fmt.Sprint("body", i) {
			t.Fatalf("MO %d not stored as sent: %v", i, got)
		}
	}
}

func testIntakeConcurrent(t *testing.T, s batchStore) {
	in := billing.NewIntake(s.batch, billing.IntakeOptions{})
	const n = 200
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := in.Insert(context.Background(), mo(number(i), "VIP")); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	in.Close()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := stored(t, s); len(got) != n {
		t.Fatalf("%d of %d MOs stored", len(got), n)
	}
	if _, err := in.Insert(context.Background(), mo(number(n), "VIP")); !errors.Is(err, billing.ErrIntakeClosed) {
		t.Fatalf("Insert after Close: %v, want ErrIntakeClosed", err)
	}
}
