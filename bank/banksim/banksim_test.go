package banksim_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/carrierbill/carrierbill/bank"
	"github.com/carrierbill/carrierbill/bank/banksim"
	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/clock"
)

const (
	pan    = "6222021234567891234"
	holder = "张三"
	idNum  = "11010119900307123x"
)

func newBank(t *testing.T, balance billing.Money) (*banksim.Bank, string) {
	t.Helper()
	b := banksim.New(clock.NewFake(time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)))
	tok, err := b.AddCard(pan, holder, idNum, balance)
	if err != nil {
		t.Fatal(err)
	}
	return b, tok
}

func TestBind(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b, tok := newBank(t, billing.Yuan(100))
	tests := []struct {
		name            string
		pan, holder, id string
		want            error
	}{
		{"ok, ID case folded", pan, holder, "11010119900307123X", nil},
		{"wrong holder", pan, "李四", idNum, bank.ErrHolderMismatch},
		{"wrong id", pan, holder, "110101199003071230", bank.ErrHolderMismatch},
		{"unknown card", "6222020000000000000", holder, idNum, bank.ErrUnknownCard},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := b.Bind(ctx, tt.pan, tt.holder, tt.id)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Bind: err %v, want %v", err, tt.want)
			}
			if tt.want != nil {
				return
			}
			if c.Token != tok || c.Last4 != "1234" || c.Masked != "622202*********1234" {
				t.Fatalf("Bind = %+v", c)
			}
		})
	}
}

func TestDebitOutcomes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name    string
		setup   func(b *banksim.Bank, tok string)
		amount  billing.Money
		want    error
		balance billing.Money // after
		status  bank.DebitStatus
		retry   error // a retry with the same key
	}{
		{"ok", nil, 1000, nil, 9000, bank.StatusDebited, nil},
		{"exact balance", nil, 10000, nil, 0, bank.StatusDebited, nil},
		{"insufficient", nil, 10001, bank.ErrInsufficientFunds, 10000, bank.StatusNotFound, bank.ErrInsufficientFunds},
		{"scripted decline", func(b *banksim.Bank, tok string) { b.FailNext(tok, bank.ErrDeclined) },
			1000, bank.ErrDeclined, 10000, bank.StatusNotFound, bank.ErrDeclined},
		{"timeout before debit: retry debits", func(b *banksim.Bank, tok string) { b.FailNext(tok, bank.ErrTimeout) },
			1000, bank.ErrTimeout, 10000, bank.StatusNotFound, bank.ErrKeyClosed},
		{"timeout after debit", func(b *banksim.Bank, tok string) { b.TimeoutAfterDebit(tok) },
			1000, bank.ErrTimeout, 9000, bank.StatusDebited, nil},
		{"closed", func(b *banksim.Bank, tok string) { _ = b.CloseCard(tok) },
			1000, bank.ErrCardClosed, 10000, bank.StatusNotFound, bank.ErrCardClosed},
		{"replaced", func(b *banksim.Bank, tok string) { _, _ = b.ReplaceCard(tok, "6222029999999999990") },
			1000, bank.ErrCardReplaced, 0, bank.StatusNotFound, bank.ErrCardReplaced},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, tok := newBank(t, billing.Yuan(100))
			if tt.setup != nil {
				tt.setup(b, tok)
			}
			err := b.Debit(ctx, "k1", tok, tt.amount)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Debit: %v, want %v", err, tt.want)
			}
			if got := bank.Definite(err); got != (tt.want != nil && tt.want != bank.ErrTimeout) {
				t.Errorf("Definite(%v) = %v", err, got)
			}
			st, err := b.Status(ctx, "k1")
			if err != nil || st != tt.status {
				t.Fatalf("Status = %v, %v; want %v", st, err, tt.status)
			}
			if err := b.Debit(ctx, "k1", tok, tt.amount); !errors.Is(err, tt.retry) {
				t.Fatalf("retried Debit: %v, want %v", err, tt.retry)
			}
			if tt.status == bank.StatusDebited {
				if n := b.Debits("k1"); n != 1 {
					t.Fatalf("debited %d times under k1, want exactly once", n)
				}
			} else if n := b.Debits("k1"); n != 0 {
				t.Fatalf("debited %d times under k1, want 0", n)
			}
			state, _, _ := b.CardState(tok)
			if state != banksim.StateOpen {
				return
			}
			if bal, err := b.Balance(ctx, tok); err != nil || bal != tt.balance {
				t.Fatalf("Balance = %v, %v; want %v", bal, err, tt.balance)
			}
		})
	}
}

func TestIdempotencyConflictsAndRefund(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b, tok := newBank(t, billing.Yuan(100))
	if err := b.Debit(ctx, "d1", tok, 500); err != nil {
		t.Fatal(err)
	}
	if err := b.Debit(ctx, "d1", tok, 600); !errors.Is(err, bank.ErrKeyConflict) {
		t.Fatalf("same key, other amount: %v", err)
	}
	if err := b.Refund(ctx, "d1", tok, 500); !errors.Is(err, bank.ErrKeyConflict) {
		t.Fatalf("refund under a debit key: %v", err)
	}
	for range 2 {
		if err := b.Refund(ctx, "r1", tok, 500); err != nil {
			t.Fatal(err)
		}
	}
	if st, _ := b.Status(ctx, "r1"); st != bank.StatusRefunded {
		t.Fatalf("Status(r1) = %v", st)
	}
	if bal, _ := b.Balance(ctx, tok); bal != billing.Yuan(100) {
		t.Fatalf("balance after debit+refund = %v", bal)
	}
	if n := len(b.Ledger()); n != 2 {
		t.Fatalf("ledger has %d entries, want 2", n)
	}
	// A refund still reaches a closed card's account.
	if err := b.CloseCard(tok); err != nil {
		t.Fatal(err)
	}
	if err := b.Refund(ctx, "r2", tok, 100); err != nil {
		t.Fatalf("refund to a closed card: %v", err)
	}
	if _, err := b.Balance(ctx, tok); !errors.Is(err, bank.ErrCardClosed) || !bank.MustRebind(err) {
		t.Fatalf("Balance of a closed card: %v", err)
	}
}

func TestStatusFailureScript(t *testing.T) {
	t.Parallel()
	b, _ := newBank(t, 0)
	b.FailStatusNext(bank.ErrTimeout)
	if _, err := b.Status(context.Background(), "x"); !errors.Is(err, bank.ErrTimeout) {
		t.Fatalf("scripted Status failure: %v", err)
	}
	if st, err := b.Status(context.Background(), "x"); err != nil || st != bank.StatusNotFound {
		t.Fatalf("Status after the script = %v, %v", st, err)
	}
}

func TestConcurrentDebitsSameKeyDebitOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b, tok := newBank(t, billing.Yuan(100))
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = b.Debit(ctx, fmt.Sprintf("key-%d", i%5), tok, 1000)
		}()
	}
	wg.Wait()
	for i := range 5 {
		if n := b.Debits(fmt.Sprintf("key-%d", i)); n != 1 {
			t.Fatalf("key-%d debited %d times", i, n)
		}
	}
	if bal, _ := b.Balance(ctx, tok); bal != billing.Yuan(50) {
		t.Fatalf("balance %v, want 50.00", bal)
	}
}

func TestDurable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "bank.json")
	clk := clock.NewFake(time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC))
	b, err := banksim.Open(path, clk)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := b.AddCard(pan, holder, idNum, billing.Yuan(20))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Debit(ctx, "d1", tok, 500); err != nil {
		t.Fatal(err)
	}
	b2, err := banksim.Open(path, clk)
	if err != nil {
		t.Fatal(err)
	}
	if bal, _ := b2.Balance(ctx, tok); bal != 1500 {
		t.Fatalf("balance after reopen = %v", bal)
	}
	if err := b2.Debit(ctx, "d1", tok, 500); err != nil || b2.Debits("d1") != 1 {
		t.Fatalf("retry after reopen: %v, %d debits", err, b2.Debits("d1"))
	}
	if _, err := b2.Bind(ctx, pan, holder, idNum); err != nil {
		t.Fatalf("bind after reopen: %v", err)
	}
}

func TestCharger(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b, tok := newBank(t, billing.Yuan(10))
	c := bank.NewCharger(b, func(ctx context.Context, key, msisdn string) (string, error) { return tok, nil })
	var d *billing.Declined
	if err := c.Debit(ctx, "c1", "13800000001", billing.Yuan(11)); !errors.As(err, &d) || d.Reason != billing.ReasonInsufficientBalance {
		t.Fatalf("insufficient: %v", err)
	}
	b.FailNext(tok, bank.ErrDeclined)
	if err := c.Debit(ctx, "c2", "13800000001", 100); !errors.As(err, &d) || d.Reason != billing.ReasonCardDeclined {
		t.Fatalf("declined: %v", err)
	}
	b.TimeoutAfterDebit(tok)
	err := c.Debit(ctx, "c3", "13800000001", 100)
	if err == nil || errors.As(err, &d) {
		t.Fatalf("timeout must be an unknown outcome, got %v", err)
	}
	if st, err := c.Status(ctx, "c3"); err != nil || st != billing.DebitDone {
		t.Fatalf("Status(c3) = %v, %v", st, err)
	}
	if st, err := c.Status(ctx, "c4"); err != nil || st != billing.DebitNone {
		t.Fatalf("Status(c4) = %v, %v", st, err)
	}
	if err := c.Debit(ctx, "c4", "13800000001", 100); !errors.As(err, &d) {
		t.Fatalf("debit under a closed key: %v", err)
	}
	if b.Debits("c3") != 1 || b.Debits("c4") != 0 {
		t.Fatal("wrong debit counts")
	}
	if err := c.Refund(ctx, "r1", "", "13800000001", 100); err != nil {
		t.Fatal(err)
	}
}

// TestFileSharedByTwoProcesses: two banks on one file (serve and `card
// issue`, say) see each other's changes, and concurrent debits from both
// neither lose money nor a card.
func TestFileSharedByTwoProcesses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "bank.json")
	serve, err := banksim.Open(path, clock.Real{})
	if err != nil {
		t.Fatal(err)
	}
	cli, err := banksim.Open(path, clock.Real{})
	if err != nil {
		t.Fatal(err)
	}
	// Issued by the CLI after serve opened the file: serve knows it.
	tok, err := cli.AddCard("6222021234567881234", "张三", "11010119900307123X", billing.Yuan(100))
	if err != nil {
		t.Fatal(err)
	}
	if c, err := serve.Bind(ctx, "6222021234567881234", "张三", "11010119900307123X"); err != nil || c.Token != tok {
		t.Fatalf("serve binding a card the CLI issued: %+v, %v", c, err)
	}
	var wg sync.WaitGroup
	for i := range 20 {
		b := serve
		if i%2 == 1 {
			b = cli
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := b.Debit(ctx, fmt.Sprintf("k%d", i), tok, 100); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	// A card issued by serve meanwhile survives the CLI's writes.
	if _, err := serve.AddCard("6222021234567880004", "张三", "11010119900307123X", 500); err != nil {
		t.Fatal(err)
	}
	if err := cli.Debit(ctx, "last", tok, 100); err != nil {
		t.Fatal(err)
	}
	for _, b := range []*banksim.Bank{serve, cli} {
		if bal, err := b.Balance(ctx, tok); err != nil || bal != billing.Yuan(100)-2100 {
			t.Fatalf("balance %v, %v; want 79.00", bal, err)
		}
		if n := len(b.Ledger()); n != 21 {
			t.Fatalf("%d ledger entries, want 21", n)
		}
	}
	if _, err := cli.Bind(ctx, "6222021234567880004", "张三", "11010119900307123X"); err != nil {
		t.Fatalf("the card serve issued is lost: %v", err)
	}
}
