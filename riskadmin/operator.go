package riskadmin

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/clock"
	"github.com/carrierbill/carrierbill/msisdn"
)

// Engine is what the operator's risk actions need of billing's engine
// (*billing.Engine): resolve a held payment, and list or unlist a number,
// a number prefix or a merchant.
type Engine interface {
	// ReleaseHeld charges a held order (reserve, debit, resolve; limits
	// apply, the risk rules not again) and marks its hold released.
	ReleaseHeld(ctx context.Context, orderID int64, by string) (billing.Result, error)
	// RefuseHeld fails a held order (risk_refused) and marks its hold refused.
	RefuseHeld(ctx context.Context, orderID int64, by string) (billing.Result, error)
	// Block adds e to the list e.List names.
	Block(ctx context.Context, e billing.RiskListEntry) (int64, error)
	// Unblock ends the active entries of list with this subject and value.
	Unblock(ctx context.Context, list billing.RiskList, subject billing.RiskSubject, value string) (int, error)
}

// Operator is the operator's side of the risk rules, shared by `carrierbill
// risk`, the admin API and the console: block and allow lists, held
// payments, decisions. It checks and normalizes what the operator typed
// (a number through the numbering plan, a prefix to the canonical numbers'
// own form) and leaves every decision to the engine.
type Operator struct {
	Engine Engine
	Store  billing.RiskStore
	Clock  clock.Clock
	// Plan normalizes numbers and prefixes (the zero Plan: mainland China's).
	Plan msisdn.Plan
	// Merchant reports whether a merchant code is configured; nil takes
	// any code of letters, digits, '-' and '_'.
	Merchant func(code string) bool
}

// FieldError is a value the operator gave that cannot be used; Field is
// the flag or JSON field that carried it ("number", "prefix", "for", ...).
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Is makes a FieldError a billing.ErrBadRequest.
func (e *FieldError) Is(target error) bool { return target == billing.ErrBadRequest }

// ErrNoEngine: an action that changes a list or a held payment was asked
// of an Operator opened to read only.
var ErrNoEngine = errors.New("riskadmin: no engine to act through")

// Limits of what an operator may type.
const (
	MaxNote     = 200 // characters of a note
	maxMerchant = 32  // characters of a merchant code
	maxPrefix   = 15  // digits of a prefix, country code included
	// MaxFor bounds a timed entry (longer: list it until removed).
	MaxFor = 10 * 365 * 24 * time.Hour
)

// Target names what a list entry is about: exactly one of a number, a
// prefix or a merchant, as the operator typed it.
type Target struct {
	Number, Prefix, Merchant string
}

// Subject checks t and returns its subject and the value as stored: a
// number in its canonical form (+8613800000001), a prefix as the start of
// canonical numbers (+86170), a merchant code as given.
func (o *Operator) Subject(t Target) (billing.RiskSubject, string, error) {
	n := 0
	for _, v := range []string{t.Number, t.Prefix, t.Merchant} {
		if v != "" {
			n++
		}
	}
	if n != 1 {
		return "", "", &FieldError{"number", "give exactly one of number, prefix or merchant"}
	}
	switch {
	case t.Number != "":
		v, err := o.Plan.Normalize(t.Number, 0, 0)
		if err != nil {
			return "", "", &FieldError{"number", err.Error()}
		}
		return billing.RiskNumber, v, nil
	case t.Prefix != "":
		v, err := o.prefix(t.Prefix)
		if err != nil {
			return "", "", err
		}
		return billing.RiskPrefix, v, nil
	}
	m := t.Merchant
	if len(m) > maxMerchant || !codeChars(m) {
		return "", "", &FieldError{"merchant", fmt.Sprintf("a merchant code is at most %d letters, digits, - and _", maxMerchant)}
	}
	if o.Merchant != nil && !o.Merchant(m) {
		return "", "", &FieldError{"merchant", fmt.Sprintf("no merchant %q is configured", m)}
	}
	return billing.RiskMerchant, m, nil
}

// prefix normalizes a number prefix as Normalize completes a number:
// "+86170", "0086170" and "86170" are international; "0170" and "170" are
// national and get the country code. The result starts every canonical
// number it covers.
func (o *Operator) prefix(raw string) (string, error) {
	p := o.Plan
	if p.CountryCode == "" {
		p = msisdn.DefaultPlan()
	}
	bad := &FieldError{"prefix", fmt.Sprintf("a prefix is 1 to %d digits, with or without the country code (170, 86170, +86170)", maxPrefix)}
	s := strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return -1
		}
		return r
	}, raw)
	plus := strings.HasPrefix(s, "+")
	d := strings.TrimPrefix(s, "+")
	if d == "" || !allDigits(d) {
		return "", bad
	}
	switch {
	case plus:
	case strings.HasPrefix(d, p.InternationalPrefix):
		d = d[len(p.InternationalPrefix):]
	case p.NationalPrefix != "" && strings.HasPrefix(d, p.NationalPrefix):
		d = p.CountryCode + d[len(p.NationalPrefix):]
	case strings.HasPrefix(d, p.CountryCode) && len(d) > len(p.CountryCode):
	default:
		d = p.CountryCode + d
	}
	if d == "" || d[0] == '0' || len(d) > maxPrefix {
		return "", bad
	}
	return "+" + d, nil
}

// ListRequest is one entry to add to a list.
type ListRequest struct {
	List   billing.RiskList
	Target Target
	For    time.Duration // 0: until removed
	Note   string
	By     string // who: "operator:<name>"
}

// List adds an entry to the block or allow list and returns it.
// billing.ErrRiskListEntryExists when the same entry is active.
func (o *Operator) List(ctx context.Context, r ListRequest) (billing.RiskListEntry, error) {
	if r.List != billing.RiskBlockList && r.List != billing.RiskAllowList {
		return billing.RiskListEntry{}, &FieldError{"list", "block or allow"}
	}
	subject, value, err := o.Subject(r.Target)
	if err != nil {
		return billing.RiskListEntry{}, err
	}
	if r.List == billing.RiskAllowList && subject == billing.RiskPrefix {
		return billing.RiskListEntry{}, &FieldError{"prefix", "the allow list takes a number or a merchant, not a prefix"}
	}
	if r.For < 0 || r.For > MaxFor {
		return billing.RiskListEntry{}, &FieldError{"for", "a duration from 1m up to 87600h, or 0 for until removed"}
	}
	if !printable(r.Note, MaxNote) {
		return billing.RiskListEntry{}, &FieldError{"note", fmt.Sprintf("at most %d printable characters", MaxNote)}
	}
	if o.Engine == nil {
		return billing.RiskListEntry{}, ErrNoEngine
	}
	now := o.Clock.Now()
	e := billing.RiskListEntry{List: r.List, Subject: subject, Value: value, Note: r.Note, CreatedBy: r.By, CreatedAt: now}
	if r.For > 0 {
		e.Until = now.Add(r.For)
	}
	id, err := o.Engine.Block(ctx, e)
	if err != nil {
		return billing.RiskListEntry{}, err
	}
	e.ID = id
	return e, nil
}

// Unlist ends the active entries of list for the target and returns how
// many it ended (0: none was active).
func (o *Operator) Unlist(ctx context.Context, list billing.RiskList, t Target) (int, error) {
	subject, value, err := o.Subject(t)
	if err != nil {
		return 0, err
	}
	if o.Engine == nil {
		return 0, ErrNoEngine
	}
	return o.Engine.Unblock(ctx, list, subject, value)
}

// Entries returns the entries of list ("" both), the active ones unless all.
func (o *Operator) Entries(ctx context.Context, list billing.RiskList, all bool) ([]billing.RiskListEntry, error) {
	return o.Store.RiskListEntries(ctx, list, o.Clock.Now(), all)
}

// Hold is a held payment waiting for the operator, with the decision that
// held it (Decision.ID 0 when none was found).
type Hold struct {
	Order    billing.Order
	Decision billing.RiskDecision
}

// Holds returns the held payments, oldest first (at most limit; 0: all).
func (o *Operator) Holds(ctx context.Context, limit int) ([]Hold, error) {
	orders, err := o.Store.HeldOrders(ctx, limit)
	if err != nil {
		return nil, fmt.Errorf("reading the held payments: %w", err)
	}
	if len(orders) == 0 {
		return nil, nil
	}
	ds, err := o.Store.RiskDecisions(ctx, billing.RiskDecisionQuery{Action: billing.RiskHold, Waiting: true})
	if err != nil {
		return nil, fmt.Errorf("reading the hold decisions: %w", err)
	}
	byOrder := map[int64]billing.RiskDecision{}
	for _, d := range ds { // oldest first: the newest of an order wins
		byOrder[d.OrderID] = d
	}
	out := make([]Hold, 0, len(orders))
	for _, ord := range orders {
		out = append(out, Hold{Order: ord, Decision: byOrder[ord.ID]})
	}
	return out, nil
}

// Release charges a held payment; Refuse fails it.
func (o *Operator) Release(ctx context.Context, orderID int64, by string) (billing.Result, error) {
	if orderID <= 0 {
		return billing.Result{}, &FieldError{"order", "an order number"}
	}
	if o.Engine == nil {
		return billing.Result{}, ErrNoEngine
	}
	return o.Engine.ReleaseHeld(ctx, orderID, by)
}

// Refuse fails a held payment (risk_refused); the subscriber is told.
func (o *Operator) Refuse(ctx context.Context, orderID int64, by string) (billing.Result, error) {
	if orderID <= 0 {
		return billing.Result{}, &FieldError{"order", "an order number"}
	}
	if o.Engine == nil {
		return billing.Result{}, ErrNoEngine
	}
	return o.Engine.RefuseHeld(ctx, orderID, by)
}

// Decisions returns the decisions q selects, oldest first.
func (o *Operator) Decisions(ctx context.Context, q billing.RiskDecisionQuery) ([]billing.RiskDecision, error) {
	switch q.Action {
	case "", billing.RiskAllow, billing.RiskFreshCode, billing.RiskHold, billing.RiskBlock:
	default:
		return nil, &FieldError{"action", "allow, fresh_code, hold or block"}
	}
	if !q.From.IsZero() && !q.To.IsZero() && !q.From.Before(q.To) {
		return nil, &FieldError{"until", "must be after since"}
	}
	return o.Store.RiskDecisions(ctx, q)
}

// ParseTime reads a since or until bound, in loc: a duration back from now
// ("24h", "90m"), a day ("2026-12-02", its midnight), a minute
// ("2026-12-02 15:04" or "2026-12-02T15:04") or RFC 3339. "" is zero.
func ParseTime(field, s string, now time.Time, loc *time.Location) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	for _, layout := range []string{"2006-01-02", "2006-01-02 15:04", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02T15:04:05"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, &FieldError{field, "a duration back from now (24h), a day (2026-12-02), a time (2026-12-02 15:04) or RFC 3339"}
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func codeChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '-' || c == '_') {
			return false
		}
	}
	return s != ""
}

// printable: valid UTF-8, at most max runes, no control characters.
func printable(s string, max int) bool {
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > max {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}
