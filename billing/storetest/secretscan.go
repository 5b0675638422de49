package storetest

import (
	"bytes"
	"context"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/carrierbill/carrierbill/bank"
	"github.com/carrierbill/carrierbill/bank/banksim"
	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/clock"
	"github.com/carrierbill/carrierbill/sms"
	"github.com/carrierbill/carrierbill/wallet"
)

// SecretScanEnv is what SendInitialPassword needs from a fresh store: the
// engine's store, the card
// store on the same database, and the owner registry.
type SecretScanEnv struct {
	Store    billing.Store
	Cards    billing.CardStore
	SetOwner func(ctx context.Context, secrets *wallet.Secrets, msisdn, name, idNumber string) error
}

// PasswordMarker is the text around the initial password in the MT that
// SendInitialPassword sends: scanning a file shared with other tests (the
// PostgreSQL WAL) for it cannot hit another test's digits.
const PasswordMarker = "PWD<"

// SendInitialPassword is issue 18.3's life of an initial wallet password:
// a first card is bound (the wallet is created with a random password and
// its MT written in the binding's transaction), the Dispatcher sends the MT
// (the subscriber receives the password), and the engine's sweep scrubs the
// sent secret. It returns the password as the subscriber received it;
// after it, no byte of the database's files may hold it.
func SendInitialPassword(t *testing.T, env SecretScanEnv) string {
	t.Helper()
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 11, 20, 2, 0, 0, 0, time.UTC))
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
	bk := banksim.New(clk)
	if _, err := bk.AddCard(cardPAN, cardOwner, cardOwnID, billing.Yuan(100)); err != nil {
		t.Fatal(err)
	}
	if err := env.SetOwner(ctx, secrets, phoneA, cardOwner, cardOwnID); err != nil {
		t.Fatal(err)
	}
	texts, err := sms.NewTexts(sms.TextConfig{ServiceCode: "10658008", Overrides: map[string]string{
		"card_bound_password": "您已绑定银行卡{masked}。初始钱包密码" + PasswordMarker + "{password}>，请尽快修改。",
	}})
	if err != nil {
		t.Fatal(err)
	}
	cards, err := billing.NewCards(billing.CardOptions{
		Store: env.Cards, Bank: bank.ForBilling(bk), Secrets: secrets, Hasher: hasher, Sealer: sealer,
		Clock: clk, ServiceAddr: "10658008", Notifier: texts,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cards.Bind(ctx, phoneA, cardPAN, cardOwner, cardOwnID); err != nil {
		t.Fatal(err)
	}
	rec := &textRecorder{}
	d := &billing.Dispatcher{Store: env.Store, Sender: rec, Clock: clk, Unseal: sealer.Open}
	if n, err := d.RunOnce(ctx); err != nil || n != 1 {
		t.Fatalf("sending the binding MT: %d sent, %v", n, err)
	}
	m := regexp.MustCompile(regexp.QuoteMeta(PasswordMarker) + `([0-9]{6})>`).FindStringSubmatch(rec.last())
	if m == nil {
		t.Fatalf("the subscriber did not receive the password: %q", rec.last())
	}
	if n, err := env.Store.ScrubSentSecrets(ctx); err != nil || n != 1 {
		t.Fatalf("ScrubSentSecrets: %d, %v", n, err)
	}
	return m[1]
}

// HoldsPassword reports whether data holds the password pw: as a run of
// exactly its six digits (not inside a longer number such as a phone
// number), or after PasswordMarker.
func HoldsPassword(data []byte, pw string) bool {
	if bytes.Contains(data, []byte(PasswordMarker+pw)) {
		return true
	}
	p := []byte(pw)
	for i := 0; ; {
		j := bytes.Index(data[i:], p)
		if j < 0 {
			return false
		}
		at := i + j
		before := at == 0 || !isDigit(data[at-1])
		after := at+len(p) == len(data) || !isDigit(data[at+len(p)])
		if before && after {
			return true
		}
		i = at + 1
	}
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

// textRecorder is a billing.Sender that keeps what it sent.
type textRecorder struct {
	mu    sync.Mutex
	texts []string
}

func (r *textRecorder) Send(_ context.Context, m billing.OutboundSMS) ([]billing.SentPart, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.texts = append(r.texts, m.Text)
	return []billing.SentPart{{Bind: "test", MessageID: "1"}}, nil
}

func (r *textRecorder) last() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.texts) == 0 {
		return ""
	}
	return r.texts[len(r.texts)-1]
}
