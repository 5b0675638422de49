// Package banksim is an in-process simulated bank that implements
// bank.Adapter, for tests, replay and the demo: card accounts with
// balances, closed and replaced cards, scripted declines and timeouts
// (including the nasty one: the money is taken but the caller hears a
// timeout), and a ledger of its own debits and refunds so a test can assert
// that a charge was debited exactly once.
//
// It is real, not a mock: idempotency keys, key closing by Status and the
// holder check behave as the bank.Adapter contract says, under concurrent
// use. With Open it is durable in a JSON file so the demo survives a
// restart, and several processes may share the file (serve, `card issue`,
// `card bind`): each operation takes the file's lock and rereads it when
// another process changed it. Like a bank it knows card numbers, but it keeps only their
// SHA-256 (to find a card at binding) and the masked form. It must never be
// wired into a production gateway, and never log a card or ID number.
package banksim

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/carrierbill/carrierbill/bank"
	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/clock"
	"github.com/carrierbill/carrierbill/redact"
)

// Card states.
const (
	StateOpen     = "open"
	StateClosed   = "closed"
	StateReplaced = "replaced"
)

// Entry is one movement of money in the simulated bank's ledger.
type Entry struct {
	Seq    int64         `json:"seq"`
	Key    string        `json:"key"`
	Token  string        `json:"token"`
	Kind   string        `json:"kind"` // "debit" or "refund"
	Amount billing.Money `json:"amount"`
	At     time.Time     `json:"at"`
}

type account struct {
	Token      string        `json:"token"`
	Holder     string        `json:"holder"`
	IDHash     string        `json:"id_hash"`
	Last4      string        `json:"last4"`
	Masked     string        `json:"masked"`
	Balance    billing.Money `json:"balance"`
	State      string        `json:"state"`
	ReplacedBy string        `json:"replaced_by,omitempty"`
}

// keyRecord is what the bank remembers of an idempotency key.
type keyRecord struct {
	Op     string        `json:"op"` // "debit", "refund", or "" for a key closed by Status
	Token  string        `json:"token,omitempty"`
	Amount billing.Money `json:"amount,omitempty"`
	Result string        `json:"result"` // "" ok, else an error code (see errCodes)
}

type state struct {
	Seq    int64                 `json:"seq"`
	Cards  map[string]*account   `json:"cards"`  // token → account
	ByPAN  map[string]string     `json:"by_pan"` // sha256(pan) → token
	Keys   map[string]*keyRecord `json:"keys"`
	Ledger []Entry               `json:"ledger"`
}

type fault struct {
	err         error // returned without moving money (ErrTimeout: nothing recorded)
	afterDebit  bool  // debit, then answer ErrTimeout
	statusError error // for Status scripts
}

// Bank is the simulated bank. The zero value is not usable; call New or
// Open. All methods are safe for concurrent use.
type Bank struct {
	clk  clock.Clock
	path string // "" when in memory only

	mu        sync.Mutex
	seen      os.FileInfo // the file as this process last read or wrote it
	st        state
	faults    map[string][]fault // token → scripted faults for Debit, in order
	statusErr []error            // scripted failures of Status, in order
}

var _ bank.Adapter = (*Bank)(nil)

// New returns an empty in-memory bank.
func New(clk clock.Clock) *Bank {
	return &Bank{clk: clk, st: newState(), faults: map[string][]fault{}}
}

// Open returns a bank kept in the JSON file path, loading it when it exists.
// Every change is written through (a temporary file renamed over path).
func Open(path string, clk clock.Clock) (*Bank, error) {
	b := New(clk)
	b.path = path
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return b, nil
	case err != nil:
		return nil, fmt.Errorf("reading the simulated bank %s: %w", path, err)
	}
	st, err := decodeState(data)
	if err != nil {
		return nil, fmt.Errorf("decoding the simulated bank %s: %w", path, err)
	}
	b.st = st
	b.seen, _ = os.Stat(path)
	return b, nil
}

func decodeState(data []byte) (state, error) {
	var st state
	if err := json.Unmarshal(data, &st); err != nil {
		return state{}, err
	}
	if st.Cards == nil {
		st.Cards = map[string]*account{}
	}
	if st.ByPAN == nil {
		st.ByPAN = map[string]string{}
	}
	if st.Keys == nil {
		st.Keys = map[string]*keyRecord{}
	}
	return st, nil
}

func newState() state {
	return state{Cards: map[string]*account{}, ByPAN: map[string]string{}, Keys: map[string]*keyRecord{}}
}

// save writes the state through to the file; callers hold mu.
func (b *Bank) save() error {
	if b.path == "" {
		return nil
	}
	data, err := json.MarshalIndent(&b.st, "", " ")
	if err != nil {
		return fmt.Errorf("encoding the simulated bank: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(b.path), ".banksim-*")
	if err != nil {
		return fmt.Errorf("saving the simulated bank: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("saving the simulated bank: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("saving the simulated bank: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("saving the simulated bank: %w", err)
	}
	if err := os.Rename(tmp.Name(), b.path); err != nil {
		return fmt.Errorf("saving the simulated bank: %w", err)
	}
	b.seen, _ = os.Stat(b.path)
	return nil
}

// lock takes mu and, for a bank kept in a file, the file's lock (shared
// with every process that opened it: serve, card issue, card bind), and
// reloads the state when another process changed the file since this one
// last read or wrote it. It returns the unlock.
func (b *Bank) lock() func() {
	b.mu.Lock()
	if b.path == "" {
		return b.mu.Unlock
	}
	release := lockFile(b.path + ".lock")
	b.reload()
	return func() {
		release()
		b.mu.Unlock()
	}
}

// reload rereads the file when it is not the one this process last saw;
// callers hold mu and the file lock. A file that cannot be read leaves the
// state as it is (the next save rewrites it).
func (b *Bank) reload() {
	info, err := os.Stat(b.path)
	if err != nil || (b.seen != nil && os.SameFile(info, b.seen) && info.ModTime().Equal(b.seen.ModTime()) && info.Size() == b.seen.Size()) {
		return
	}
	data, err := os.ReadFile(b.path)
	if err != nil {
		return
	}
	st, err := decodeState(data)
	if err != nil {
		return
	}
	b.st, b.seen = st, info
}

func digest(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func normID(id string) string { return strings.ToUpper(strings.TrimSpace(id)) }

// AddCard opens a card account at the bank (what the issuing branch does)
// and returns its token. pan must be 12 to 19 digits; a PAN the bank
// already issued is an error.
func (b *Bank) AddCard(pan, holder, idNumber string, balance billing.Money) (string, error) {
	if !validPAN(pan) {
		return "", fmt.Errorf("adding a card: not 12 to 19 digits")
	}
	defer b.lock()()
	h := digest(pan)
	if _, ok := b.st.ByPAN[h]; ok {
		return "", fmt.Errorf("adding card %s: already issued", redact.PAN(pan))
	}
	b.st.Seq++
	tok := fmt.Sprintf("tok_%s_%d", h[:12], b.st.Seq)
	b.st.Cards[tok] = &account{
		Token: tok, Holder: strings.TrimSpace(holder), IDHash: digest(normID(idNumber)),
		Last4: pan[len(pan)-4:], Masked: redact.PAN(pan), Balance: balance, State: StateOpen,
	}
	b.st.ByPAN[h] = tok
	if err := b.save(); err != nil {
		return "", err
	}
	return tok, nil
}

func validPAN(pan string) bool {
	if len(pan) < 12 || len(pan) > 19 {
		return false
	}
	for i := 0; i < len(pan); i++ {
		if pan[i] < '0' || pan[i] > '9' {
			return false
		}
	}
	return true
}

// CloseCard closes the card token: debits and balance queries fail with
// bank.ErrCardClosed, refunds still reach the account.
func (b *Bank) CloseCard(token string) error {
	return b.setState(token, StateClosed, "")
}

// ReplaceCard issues newPAN as the replacement of token (same holder,
// balance moved over) and returns the new card's token; the old card
// answers bank.ErrCardReplaced from then on.
func (b *Bank) ReplaceCard(token, newPAN string) (string, error) {
	unlock := b.lock()
	old, ok := b.st.Cards[token]
	if !ok {
		unlock()
		return "", fmt.Errorf("replacing card %s: %w", token, bank.ErrUnknownCard)
	}
	holder, idHash, bal := old.Holder, old.IDHash, old.Balance
	unlock()
	nt, err := b.AddCard(newPAN, holder, "", bal)
	if err != nil {
		return "", fmt.Errorf("replacing card %s: %w", token, err)
	}
	unlock = b.lock()
	b.st.Cards[nt].IDHash = idHash
	b.st.Cards[token].Balance = 0
	unlock()
	if err := b.setState(token, StateReplaced, nt); err != nil {
		return "", err
	}
	return nt, nil
}

func (b *Bank) setState(token, st, replacedBy string) error {
	defer b.lock()()
	a, ok := b.st.Cards[token]
	if !ok {
		return fmt.Errorf("changing card %s: %w", token, bank.ErrUnknownCard)
	}
	a.State, a.ReplacedBy = st, replacedBy
	return b.save()
}

// SetBalance sets the money available on the card token.
func (b *Bank) SetBalance(token string, m billing.Money) error {
	defer b.lock()()
	a, ok := b.st.Cards[token]
	if !ok {
		return fmt.Errorf("setting the balance of %s: %w", token, bank.ErrUnknownCard)
	}
	a.Balance = m
	return b.save()
}

// FailNext scripts the next Debit on token to fail with err without taking
// any money. A definite refusal (bank.ErrDeclined, ...) is remembered under
// the debit's key like a real answer; bank.ErrTimeout is not (the request
// "never arrived"), so a retry with the same key is processed normally.
// Scripts queue up: each Debit on token consumes one.
func (b *Bank) FailNext(token string, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.faults[token] = append(b.faults[token], fault{err: err})
}

// TimeoutAfterDebit scripts the next Debit on token to take the money,
// remember the key as debited, and then answer bank.ErrTimeout: the case the
// recovery sweep must resolve (Status says debited) without debiting again.
func (b *Bank) TimeoutAfterDebit(token string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.faults[token] = append(b.faults[token], fault{afterDebit: true})
}

// FailStatusNext scripts the next Status call (any key) to fail with err.
func (b *Bank) FailStatusNext(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.statusErr = append(b.statusErr, err)
}

// Ledger returns a copy of every movement of money, in order.
func (b *Bank) Ledger() []Entry {
	defer b.lock()()
	return append([]Entry(nil), b.st.Ledger...)
}

// Debits returns how many debits took money under key (0 or 1 when the
// idempotency contract holds).
func (b *Bank) Debits(key string) int {
	defer b.lock()()
	n := 0
	for _, e := range b.st.Ledger {
		if e.Key == key && e.Kind == "debit" {
			n++
		}
	}
	return n
}

// Debited returns the total debited from token, minus nothing (refunds are
// separate entries).
func (b *Bank) Debited(token string) billing.Money {
	defer b.lock()()
	var m billing.Money
	for _, e := range b.st.Ledger {
		if e.Token == token && e.Kind == "debit" {
			m += e.Amount
		}
	}
	return m
}

// CardState returns the state of the card token (StateOpen, StateClosed,
// StateReplaced) and, when replaced, its replacement's token.
func (b *Bank) CardState(token string) (state, replacedBy string, err error) {
	defer b.lock()()
	a, ok := b.st.Cards[token]
	if !ok {
		return "", "", fmt.Errorf("card %s: %w", token, bank.ErrUnknownCard)
	}
	return a.State, a.ReplacedBy, nil
}

// error codes as remembered under keys and in the file.
var errCodes = []struct {
	code string
	err  error
}{
	{"declined", bank.ErrDeclined},
	{"insufficient_funds", bank.ErrInsufficientFunds},
	{"card_closed", bank.ErrCardClosed},
	{"card_replaced", bank.ErrCardReplaced},
	{"unknown_card", bank.ErrUnknownCard},
}

func codeOf(err error) string {
	for _, c := range errCodes {
		if errors.Is(err, c.err) {
			return c.code
		}
	}
	return "declined"
}

func errOf(code string) error {
	if code == "" {
		return nil
	}
	for _, c := range errCodes {
		if c.code == code {
			return c.err
		}
	}
	return bank.ErrDeclined
}

func stateErr(a *account) error {
	switch a.State {
	case StateClosed:
		return bank.ErrCardClosed
	case StateReplaced:
		return bank.ErrCardReplaced
	}
	return nil
}

// Bind implements bank.Adapter.
func (b *Bank) Bind(ctx context.Context, pan, holderName, idNumber string) (bank.Card, error) {
	if err := ctx.Err(); err != nil {
		return bank.Card{}, fmt.Errorf("binding a card: %w", err)
	}
	defer b.lock()()
	tok, ok := b.st.ByPAN[digest(pan)]
	if !ok {
		return bank.Card{}, fmt.Errorf("binding card %s: %w", redact.PAN(pan), bank.ErrUnknownCard)
	}
	a := b.st.Cards[tok]
	if err := stateErr(a); err != nil {
		return bank.Card{}, fmt.Errorf("binding card %s: %w", a.Masked, err)
	}
	if strings.TrimSpace(holderName) != a.Holder || digest(normID(idNumber)) != a.IDHash {
		return bank.Card{}, fmt.Errorf("binding card %s: %w", a.Masked, bank.ErrHolderMismatch)
	}
	return bank.Card{Token: a.Token, Last4: a.Last4, Masked: a.Masked}, nil
}

// Debit implements bank.Adapter.
func (b *Bank) Debit(ctx context.Context, key, token string, amount billing.Money) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("debit %s: %w", key, err)
	}
	if key == "" || amount <= 0 {
		return fmt.Errorf("debit %q of %s: %w", key, amount, bank.ErrDeclined)
	}
	defer b.lock()()
	if rec, ok := b.st.Keys[key]; ok {
		switch {
		case rec.Op == "":
			return fmt.Errorf("debit %s: %w", key, bank.ErrKeyClosed)
		case rec.Op != "debit" || rec.Token != token || rec.Amount != amount:
			return fmt.Errorf("debit %s: %w", key, bank.ErrKeyConflict)
		}
		return wrapKey("debit", key, errOf(rec.Result))
	}
	var f fault
	if q := b.faults[token]; len(q) > 0 {
		f, b.faults[token] = q[0], q[1:]
	}
	if f.err != nil {
		if errors.Is(f.err, bank.ErrTimeout) || !bank.Definite(f.err) {
			return fmt.Errorf("debit %s: %w", key, f.err)
		}
		return b.remember(key, &keyRecord{Op: "debit", Token: token, Amount: amount, Result: codeOf(f.err)})
	}
	a, ok := b.st.Cards[token]
	if !ok {
		return b.remember(key, &keyRecord{Op: "debit", Token: token, Amount: amount, Result: "unknown_card"})
	}
	if err := stateErr(a); err != nil {
		return b.remember(key, &keyRecord{Op: "debit", Token: token, Amount: amount, Result: codeOf(err)})
	}
	if a.Balance < amount {
		return b.remember(key, &keyRecord{Op: "debit", Token: token, Amount: amount, Result: "insufficient_funds"})
	}
	a.Balance -= amount
	b.st.Seq++
	b.st.Ledger = append(b.st.Ledger, Entry{Seq: b.st.Seq, Key: key, Token: token, Kind: "debit", Amount: amount, At: b.clk.Now()})
	if err := b.remember(key, &keyRecord{Op: "debit", Token: token, Amount: amount}); err != nil {
		return err
	}
	if f.afterDebit {
		return fmt.Errorf("debit %s: %w", key, bank.ErrTimeout)
	}
	return nil
}

// remember stores the key's outcome and returns it; callers hold mu. If the
// state cannot be saved the outcome is unknown to the caller: ErrTimeout.
func (b *Bank) remember(key string, rec *keyRecord) error {
	b.st.Keys[key] = rec
	if err := b.save(); err != nil {
		return fmt.Errorf("%s %s: %v: %w", rec.Op, key, err, bank.ErrTimeout)
	}
	return wrapKey(rec.Op, key, errOf(rec.Result))
}

func wrapKey(op, key string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s %s: %w", op, key, err)
}

// Refund implements bank.Adapter.
func (b *Bank) Refund(ctx context.Context, key, token string, amount billing.Money) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("refund %s: %w", key, err)
	}
	if key == "" || amount <= 0 {
		return fmt.Errorf("refund %q of %s: %w", key, amount, bank.ErrDeclined)
	}
	defer b.lock()()
	if rec, ok := b.st.Keys[key]; ok {
		if rec.Op != "refund" || rec.Token != token || rec.Amount != amount {
			return fmt.Errorf("refund %s: %w", key, bank.ErrKeyConflict)
		}
		return wrapKey("refund", key, errOf(rec.Result))
	}
	a, ok := b.st.Cards[token]
	if !ok {
		return b.remember(key, &keyRecord{Op: "refund", Token: token, Amount: amount, Result: "unknown_card"})
	}
	if a.State == StateReplaced && a.ReplacedBy != "" {
		a = b.st.Cards[a.ReplacedBy] // the money follows the account
	}
	a.Balance += amount
	b.st.Seq++
	b.st.Ledger = append(b.st.Ledger, Entry{Seq: b.st.Seq, Key: key, Token: token, Kind: "refund", Amount: amount, At: b.clk.Now()})
	return b.remember(key, &keyRecord{Op: "refund", Token: token, Amount: amount})
}

// Status implements bank.Adapter.
func (b *Bank) Status(ctx context.Context, key string) (bank.DebitStatus, error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("status of %s: %w", key, err)
	}
	defer b.lock()()
	if len(b.statusErr) > 0 {
		err := b.statusErr[0]
		b.statusErr = b.statusErr[1:]
		return "", fmt.Errorf("status of %s: %w", key, err)
	}
	rec, ok := b.st.Keys[key]
	if !ok {
		b.st.Keys[key] = &keyRecord{} // closed: a late debit under key is refused
		if err := b.save(); err != nil {
			delete(b.st.Keys, key)
			return "", fmt.Errorf("status of %s: %w", key, err)
		}
		return bank.StatusNotFound, nil
	}
	switch {
	case rec.Result != "" || rec.Op == "":
		return bank.StatusNotFound, nil
	case rec.Op == "refund":
		return bank.StatusRefunded, nil
	}
	return bank.StatusDebited, nil
}

// Balance implements bank.Adapter.
func (b *Bank) Balance(ctx context.Context, token string) (billing.Money, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("balance of %s: %w", token, err)
	}
	defer b.lock()()
	a, ok := b.st.Cards[token]
	if !ok {
		return 0, fmt.Errorf("balance of %s: %w", token, bank.ErrUnknownCard)
	}
	if err := stateErr(a); err != nil {
		return 0, fmt.Errorf("balance of %s: %w", token, err)
	}
	return a.Balance, nil
}
