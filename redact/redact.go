// Package redact masks what must never be seen in clear: phone numbers,
// card numbers, confirmation codes and wallet passwords.
//
// Phone and PAN give the masked forms shown to merchants and operators
// (138****0001, 622202******1234). Handler wraps a slog.Handler as a safety
// net under every logger of the gateway: whatever a caller forgot to mask,
// a run of seven or more digits in a string attribute or message is logged
// as a masked phone number and a run of exactly six digits (a confirmation
// code, a wallet password) as ******. Callers still mask at the call site;
// the handler is the second line. This package must never log, store or
// return anything it was asked to mask.
package redact

import (
	"context"
	"log/slog"
	"strings"
)

// Phone masks an MSISDN for display: the first three and last four digits
// of the national number stay, the rest become '*'. A leading '+' and the
// country code 86 are dropped: "8613800000001" → "138****0001". Input too
// short to mask keeps only its last two characters.
func Phone(msisdn string) string {
	n := strings.TrimPrefix(msisdn, "+")
	if len(n) == 13 && strings.HasPrefix(n, "86") {
		n = n[2:]
	}
	if len(n) < 8 {
		if len(n) <= 2 {
			return strings.Repeat("*", len(n))
		}
		return strings.Repeat("*", len(n)-2) + n[len(n)-2:]
	}
	return n[:3] + strings.Repeat("*", len(n)-7) + n[len(n)-4:]
}

// PAN masks a card number: the first six and last four digits stay,
// "6222021234567891234" → "622202*********1234". Fewer than 11 digits keep
// only the last four.
func PAN(pan string) string {
	if len(pan) < 11 {
		if len(pan) <= 4 {
			return strings.Repeat("*", len(pan))
		}
		return strings.Repeat("*", len(pan)-4) + pan[len(pan)-4:]
	}
	return pan[:6] + strings.Repeat("*", len(pan)-10) + pan[len(pan)-4:]
}

// Digits masks digit runs in free text: seven or more digits as a phone
// number (Phone), exactly six as ******. Shorter runs (amounts, counts)
// stay. It is what Handler applies to log strings.
func Digits(s string) string {
	if !hasDigitRun(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		if s[i] < '0' || s[i] > '9' {
			b.WriteByte(s[i])
			i++
			continue
		}
		j := i
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		switch run := s[i:j]; {
		case len(run) >= 7:
			b.WriteString(Phone(run))
		case len(run) == 6:
			b.WriteString("******")
		default:
			b.WriteString(run)
		}
		i = j
	}
	return b.String()
}

func hasDigitRun(s string) bool {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			n++
			if n >= 6 {
				return true
			}
		} else {
			n = 0
		}
	}
	return false
}

// Handler is a slog.Handler that masks digit runs (see Digits) in the
// message and in every string attribute before passing the record on.
type Handler struct {
	next slog.Handler
}

// NewHandler wraps next.
func NewHandler(next slog.Handler) *Handler { return &Handler{next: next} }

// Enabled implements slog.Handler.
func (h *Handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

// Handle implements slog.Handler.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, Digits(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(maskAttr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

// WithAttrs implements slog.Handler.
func (h *Handler) WithAttrs(as []slog.Attr) slog.Handler {
	masked := make([]slog.Attr, len(as))
	for i, a := range as {
		masked[i] = maskAttr(a)
	}
	return &Handler{next: h.next.WithAttrs(masked)}
}

// WithGroup implements slog.Handler.
func (h *Handler) WithGroup(name string) slog.Handler { return &Handler{next: h.next.WithGroup(name)} }

func maskAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, Digits(v.String()))
	case slog.KindGroup:
		as := v.Group()
		masked := make([]any, len(as))
		for i, g := range as {
			masked[i] = maskAttr(g)
		}
		return slog.Group(a.Key, masked...)
	case slog.KindAny:
		if s, ok := v.Any().(interface{ String() string }); ok {
			return slog.String(a.Key, Digits(s.String()))
		}
		if err, ok := v.Any().(error); ok {
			return slog.String(a.Key, Digits(err.Error()))
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}
