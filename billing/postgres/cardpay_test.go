package postgres_test

import (
	"bytes"
	"context"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/carrierbill/carrierbill/bank"
	"github.com/carrierbill/carrierbill/bank/banksim"
	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/billing/postgres"
	"github.com/carrierbill/carrierbill/billing/storetest"
	"github.com/carrierbill/carrierbill/clock"
	"github.com/carrierbill/carrierbill/sms"
	"github.com/carrierbill/carrierbill/wallet"
)

// Card payments through the engine on PostgreSQL: the scenarios are the
// conformance suite's (storetest.RunCards); the benchmark is PostgreSQL's.

const payAddr = "106580088001"

var initialPassword = regexp.MustCompile(`密码([0-9]{6})`)

func TestCardConformance(t *testing.T) {
	storetest.RunCards(t, func(t *testing.T) storetest.CardEnv {
		pool := migrated(t)
		cs := postgres.NewCardStore(pool)
		count := func(ctx context.Context, q string, args ...any) (int, error) {
			var n int
			err := pool.QueryRow(ctx, q, args...).Scan(&n)
			return n, err
		}
		return storetest.CardEnv{
			Store: postgres.NewStore(pool),
			Cards: cs,
			Accounts: func(clk clock.Clock) billing.Charger {
				return postgres.NewAccounts(pool, clk, billing.AccountsOptions{AutoOpen: true})
			},
			CardCharger: func(a bank.Adapter) billing.Charger { return cs.Charger(a) },
			SetOwner:    cs.SetOwner,
			MOHolding: func(ctx context.Context, secrets ...string) (int, error) {
				return count(ctx, `SELECT count(*) FROM mo_inbox WHERE sealed IS NOT NULL OR EXISTS (SELECT 1 FROM unnest($1::text[]) s WHERE strpos(body, s) > 0)`, secrets)
			},
			OutboxHolding: func(ctx context.Context, secret string) (int, error) {
				return count(ctx, `SELECT count(*) FROM outbox WHERE strpos(body, $1) > 0`, secret)
			},
			LedgerEntries: func(ctx context.Context, account string) (int, error) {
				return count(ctx, `SELECT count(*) FROM ledger_entries WHERE account = $1`, account)
			},
		}
	})
}

// BenchmarkCardPurchaseConfirm measures one bank-card payment end to end on
// PostgreSQL (purchase MO, then code + wallet password MO: redaction and
// sealing, argon2id verification with the default parameters, two-phase
// charge against the simulated bank). Each iteration is a new phone number.
func BenchmarkCardPurchaseConfirm(b *testing.B) {
	ctx := context.Background()
	pool := migrated(b)
	clk := clock.NewFake(time.Date(2026, 11, 20, 2, 0, 0, 0, time.UTC))
	secrets, _ := wallet.NewSecrets(bytes.Repeat([]byte("k"), 32))
	hasher, err := wallet.NewHasher([]byte("pepper-pepper-pepper"), wallet.DefaultParams)
	if err != nil {
		b.Fatal(err)
	}
	sealer, _ := wallet.NewSealer(bytes.Repeat([]byte("s"), 32))
	bk := banksim.New(clk)
	cs := postgres.NewCardStore(pool)
	cards, err := billing.NewCards(billing.CardOptions{Store: cs, Bank: bank.ForBilling(bk), Secrets: secrets, Hasher: hasher, Sealer: sealer, Clock: clk, ServiceAddr: "10658008", Notifier: sms.Default()})
	if err != nil {
		b.Fatal(err)
	}
	cfg := billing.DefaultConfig()
	cfg.MinInterval = 0
	m := billing.DefaultMerchant("8001", "星辰游戏")
	m.OpenAmount = true
	cfg.Merchants = []billing.Merchant{m}
	_, ch, err := sms.NewEngine(billing.Options{
		Config: cfg, Store: postgres.NewStore(pool), Limiter: billing.NewMemoryLimiter(clk), Clock: clk,
		Charger:     postgres.NewAccounts(pool, clk, billing.AccountsOptions{AutoOpen: true}),
		CardCharger: cs.Charger(bk), CardBank: bk, Hasher: hasher,
	}, sms.TextConfig{ExpiryNotice: true}, sms.Options{Sealer: sealer})
	if err != nil {
		b.Fatal(err)
	}
	type sub struct{ phone, password string }
	subs := make([]sub, b.N)
	for i := range subs {
		phone := "86137" + strconv.Itoa(10000000+i)
		pan := luhnPAN("62220200" + strconv.Itoa(10000000+i))
		if _, err := bk.AddCard(pan, owner, ownID, billing.Yuan(1000)); err != nil {
			b.Fatal(err)
		}
		if err := cs.SetOwner(ctx, secrets, phone, owner, ownID); err != nil {
			b.Fatal(err)
		}
		if _, err := cards.Bind(ctx, phone, pan, owner, ownID); err != nil {
			b.Fatal(err)
		}
		var box []byte
		if err := pool.QueryRow(ctx, `SELECT sealed FROM outbox WHERE msisdn = $1 ORDER BY id DESC LIMIT 1`, phone).Scan(&box); err != nil {
			b.Fatal(err)
		}
		body, err := sealer.Open(phone, box) // the initial-password MT is sealed
		if err != nil {
			b.Fatal(err)
		}
		subs[i] = sub{phone, initialPassword.FindStringSubmatch(body)[1]}
	}
	mo := func(phone, text string) billing.Result {
		rs, err := ch.HandleMO(ctx, billing.InboundMO{Bind: "b", MSISDN: phone, ServiceAddr: payAddr, Body: text})
		if err != nil || len(rs) != 1 {
			b.Fatalf("%v %d", err, len(rs))
		}
		return rs[0]
	}
	b.ResetTimer()
	for _, s := range subs {
		mo(s.phone, "10 K")
		var code string
		if err := pool.QueryRow(ctx, `SELECT code FROM orders WHERE msisdn = $1 AND status = 'pending'`, s.phone).Scan(&code); err != nil {
			b.Fatal(err)
		}
		if r := mo(s.phone, code+" "+s.password); r.Outcome != billing.OutcomeCharged {
			b.Fatalf("%+v", r)
		}
	}
}

// luhnPAN appends the Luhn check digit to body.
func luhnPAN(body string) string {
	sum := 0
	for i := len(body) - 1; i >= 0; i-- {
		d := int(body[i] - '0')
		if (len(body)-1-i)%2 == 0 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return body + strconv.Itoa((10-sum%10)%10)
}
