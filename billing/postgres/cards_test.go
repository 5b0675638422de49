package postgres_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/carrierbill/carrierbill/bank"
	"github.com/carrierbill/carrierbill/bank/banksim"
	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/billing/postgres"
	"github.com/carrierbill/carrierbill/clock"
	"github.com/carrierbill/carrierbill/internal/dbtest"
	"github.com/carrierbill/carrierbill/sms"
	"github.com/carrierbill/carrierbill/wallet"
)

// Luhn-valid test card numbers.
const (
	panA   = "6222021234567881234"
	panB   = "6222028888888805678"
	panC   = "4111111111111111"
	owner  = "张三"
	ownID  = "11010119900307123X"
	phone1 = "8613800000001"
	phone2 = "8613800000002"
)

type cardEnv struct {
	pool   *pgxpool.Pool
	store  *postgres.CardStore
	cards  *billing.Cards
	bank   *banksim.Bank
	hasher *wallet.Hasher
	sealer *wallet.Sealer
	logs   *bytes.Buffer
	tokens map[string]string
}

func newCardEnv(t *testing.T) *cardEnv {
	t.Helper()
	ctx := context.Background()
	pool := dbtest.Pool(t)
	if _, err := postgres.Migrate(ctx, pool); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	clk := clock.NewFake(time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC))
	secrets, err := wallet.NewSecrets(bytes.Repeat([]byte("k"), 32))
	if err != nil {
		t.Fatal(err)
	}
	hasher, err := wallet.NewHasher([]byte("pepper-pepper-pepper"), wallet.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := wallet.NewSealer(bytes.Repeat([]byte("s"), 32))
	if err != nil {
		t.Fatal(err)
	}
	e := &cardEnv{pool: pool, store: postgres.NewCardStore(pool), bank: banksim.New(clk), hasher: hasher, sealer: sealer,
		logs: &bytes.Buffer{}, tokens: map[string]string{}}
	for _, p := range []string{panA, panB, panC} {
		tok, err := e.bank.AddCard(p, owner, ownID, billing.Yuan(100))
		if err != nil {
			t.Fatal(err)
		}
		e.tokens[p] = tok
	}
	for _, ph := range []string{phone1, phone2} {
		if err := e.store.SetOwner(ctx, secrets, ph, owner, ownID); err != nil {
			t.Fatal(err)
		}
	}
	e.cards, err = billing.NewCards(billing.CardOptions{
		Store: e.store, Bank: bank.ForBilling(e.bank), Secrets: secrets, Hasher: hasher, Sealer: e.sealer, Clock: clk,
		Logger: slog.New(slog.NewTextHandler(e.logs, nil)), ServiceAddr: "10658008",
		Notifier: sms.Default(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// outbox returns the card MTs to msisdn as the subscriber reads them: a
// sealed one (the initial password) opened, after checking that its stored
// body does not hold the password's digits.
func (e *cardEnv) outbox(t *testing.T, msisdn string) []string {
	t.Helper()
	rows, err := e.pool.Query(context.Background(), `SELECT body, sealed FROM outbox WHERE msisdn = $1 AND kind IN ('card', 'secret') ORDER BY id`, msisdn)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var b string
		var box []byte
		if err := rows.Scan(&b, &box); err != nil {
			t.Fatal(err)
		}
		if box != nil {
			text, err := e.sealer.Open(msisdn, box)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(b, "密码") && !strings.Contains(b, "密码******") {
				t.Fatalf("the stored body of a sealed MT is %q, want the password masked", b)
			}
			b = text
		}
		out = append(out, b)
	}
	return out
}

func defaults(cards []billing.Card) []string {
	var d []string
	for _, c := range cards {
		if c.Default {
			d = append(d, c.Last4)
		}
	}
	return d
}

func TestCardBindingRules(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name                string
		msisdn, pan, holder string
		id                  string
		want                error
	}{
		{"holder name is not the owner", phone1, panA, "李四", ownID, billing.ErrOwnerMismatch},
		{"ID is not the owner's", phone1, panA, owner, "110101199003071230", billing.ErrOwnerMismatch},
		{"no registered owner", "8613900000009", panA, owner, ownID, billing.ErrUnknownOwner},
		{"bad check digit", phone1, "6222021234567881235", owner, ownID, billing.ErrBadCardNumber},
		{"ID case and spaces do not matter", phone1, panA, owner, " 11010119900307123x", nil},
	}
	e := newCardEnv(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.cards.Bind(ctx, tt.msisdn, tt.pan, tt.holder, tt.id)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Bind: %v, want %v", err, tt.want)
			}
		})
	}
	// One card, one phone number.
	if _, err := e.cards.Bind(ctx, phone2, panA, owner, ownID); !errors.Is(err, billing.ErrCardBound) {
		t.Fatalf("binding a card bound elsewhere: %v", err)
	}
	if _, err := e.cards.Bind(ctx, phone1, "6222 0212 3456 7881 234", owner, ownID); !errors.Is(err, billing.ErrCardBoundHere) {
		t.Fatalf("binding the same card twice: %v", err)
	}
}

func TestCardsDefaultAndUnbind(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newCardEnv(t)
	a, err := e.cards.Bind(ctx, phone1, panA, owner, ownID)
	if err != nil {
		t.Fatal(err)
	}
	if !a.Default || a.Masked != "622202*********1234" || a.Token != e.tokens[panA] {
		t.Fatalf("first card %+v", a)
	}
	if _, err := e.cards.Bind(ctx, phone1, panB, owner, ownID); err != nil {
		t.Fatal(err)
	}
	cards, _ := e.cards.List(ctx, phone1)
	if len(cards) != 2 || strings.Join(defaults(cards), ",") != "1234" {
		t.Fatalf("after two binds: %d cards, defaults %v", len(cards), defaults(cards))
	}
	if err := e.cards.SetDefault(ctx, phone1, "5678"); err != nil {
		t.Fatal(err)
	}
	cards, _ = e.cards.List(ctx, phone1)
	if strings.Join(defaults(cards), ",") != "5678" {
		t.Fatalf("defaults after SetDefault: %v", defaults(cards))
	}
	if err := e.cards.SetDefault(ctx, phone1, "0000"); !errors.Is(err, billing.ErrNoSuchCard) {
		t.Fatalf("SetDefault of an unknown card: %v", err)
	}
	// Unbinding the default promotes none; the subscriber is told to choose.
	if err := e.cards.Unbind(ctx, phone1, "5678"); err != nil {
		t.Fatal(err)
	}
	cards, _ = e.cards.List(ctx, phone1)
	if len(cards) != 1 || len(defaults(cards)) != 0 {
		t.Fatalf("after unbinding the default: %d cards, defaults %v", len(cards), defaults(cards))
	}
	mts := e.outbox(t, phone1)
	if len(mts) != 3 || !strings.Contains(mts[2], "没有默认卡") {
		t.Fatalf("MTs %q", mts)
	}
	// The unbound card can now go to another number.
	if _, err := e.cards.Bind(ctx, phone2, panB, owner, ownID); err != nil {
		t.Fatalf("binding an unbound card elsewhere: %v", err)
	}
	// A card the bank closed must be bound again; the bank refuses it.
	if err := e.cards.MarkClosed(ctx, phone1, a.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.bank.CloseCard(e.tokens[panA]); err != nil {
		t.Fatal(err)
	}
	if _, err := e.cards.Bind(ctx, phone1, panA, owner, ownID); !errors.Is(err, bank.ErrCardClosed) {
		t.Fatalf("binding a closed card: %v", err)
	}
}

func TestCardBindInitialPasswordAndSecrets(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newCardEnv(t)
	if _, err := e.cards.Bind(ctx, phone1, panA, owner, ownID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.cards.Bind(ctx, phone1, panC, owner, ownID); err != nil {
		t.Fatal(err)
	}
	mts := e.outbox(t, phone1)
	if len(mts) != 2 {
		t.Fatalf("MTs %q", mts)
	}
	// The masked card number starts with six digits too: drop it first.
	six := regexp.MustCompile(`[0-9]{6}`)
	strip := regexp.MustCompile(`[0-9]{6}\*+[0-9]{4}`)
	pw := six.FindString(strip.ReplaceAllString(mts[0], ""))
	if wallet.CheckPolicy(pw) != nil {
		t.Fatalf("initial password MT %q", mts[0])
	}
	if six.MatchString(strip.ReplaceAllString(mts[1], "")) {
		t.Fatalf("a second card sent a password again: %q", mts[1])
	}
	var hash string
	if err := e.pool.QueryRow(ctx, `SELECT password_hash FROM wallets WHERE msisdn = $1`, phone1).Scan(&hash); err != nil {
		t.Fatal(err)
	}
	if ok, _, err := e.hasher.Verify(hash, pw); !ok || err != nil {
		t.Fatalf("the sent password does not verify: %v", err)
	}
	// Neither the PAN nor the ID number is anywhere in the database or the logs.
	var dump string
	if err := e.pool.QueryRow(ctx, `SELECT string_agg(t::text, ' ') FROM (
		SELECT c::text AS t FROM cards c UNION ALL SELECT s::text FROM subscribers s
		UNION ALL SELECT w::text FROM wallets w) x`).Scan(&dump); err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{panA, panC, ownID, strings.ToLower(ownID), pw} {
		if strings.Contains(dump, secret) {
			t.Errorf("the database holds %q in clear", secret)
		}
		if strings.Contains(e.logs.String(), secret) {
			t.Errorf("the logs hold %q in clear", secret)
		}
	}
	if strings.Contains(e.logs.String(), phone1) {
		t.Error("the logs hold a phone number in clear")
	}
}

func TestCardLockoutUnlock(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newCardEnv(t)
	if _, err := e.cards.Bind(ctx, phone1, panA, owner, ownID); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 20, 11, 0, 0, 0, time.UTC)
	err := e.store.InCardTx(ctx, func(tx billing.CardTx) error {
		w, err := tx.Wallet(ctx, phone1)
		if err != nil {
			return err
		}
		for range wallet.MaxWrongPasswords {
			w.Lock = w.Lock.Wrong(now)
		}
		return tx.SaveWallet(ctx, w)
	})
	if err != nil {
		t.Fatal(err)
	}
	var locked bool
	if err := e.pool.QueryRow(ctx, `SELECT locked_at IS NOT NULL FROM wallets WHERE msisdn = $1`, phone1).Scan(&locked); err != nil || !locked {
		t.Fatalf("wallet not locked: %v", err)
	}
	if err := e.cards.UnlockWallet(ctx, phone1); err != nil {
		t.Fatal(err)
	}
	if err := e.pool.QueryRow(ctx, `SELECT locked_at IS NOT NULL FROM wallets WHERE msisdn = $1`, phone1).Scan(&locked); err != nil || locked {
		t.Fatalf("wallet still locked: %v", err)
	}
	if err := e.cards.UnlockWallet(ctx, phone2); !errors.Is(err, billing.ErrWalletNotFound) {
		t.Fatalf("unlocking a missing wallet: %v", err)
	}
}
