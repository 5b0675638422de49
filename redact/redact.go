// Package redact masks what must never be seen in clear: phone numbers,
// card numbers, ID numbers, confirmation codes and wallet passwords.
//
// Phone and PAN give the masked forms shown to merchants and operators
// (138****0001, 622202******1234). Handler wraps a slog.Handler under every
// logger of the gateway and masks by field, so that technical values stay
// readable (service_code=10658008, command 0x00000005, message ids):
//
//   - an attribute whose key names a phone number (msisdn, phone, ...) is
//     masked as a phone number whatever its value;
//   - an attribute whose key names a secret (code, password, pin, token,
//     id_number, ...) is replaced by ******, and a card number (pan) is
//     masked as one;
//   - an attribute whose key names subscriber text (text, body,
//     short_message) has every run of six or more digits masked: it may hold
//     a code or a password;
//   - the message, errors and every other string are scrubbed for what
//     looks like a phone number (a mainland mobile number with or without
//     86, 0086 or +86; any + followed by 8 to 15 digits), a card number (13
//     to 19 digits passing the Luhn check) or an ID number (18 characters),
//     and, in the message and errors only, a standalone run of exactly six
//     digits (a code).
//
// Callers still mask at the call site; the handler is the second line. This
// package must never log, store or return anything it was asked to mask.
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

// Digits masks every digit run in s that could be a secret: seven or more
// digits as a phone number (Phone), exactly six as ******. Shorter runs
// (amounts, counts) stay. It is the strict scrub, for subscriber text.
func Digits(s string) string {
	return scrub(s, func(s string, i, j int) string {
		switch run := s[i:j]; {
		case len(run) >= 7:
			return Phone(run)
		case len(run) == 6:
			return "******"
		}
		return ""
	})
}

// Text scrubs free text (a log message, an error) for what looks like a
// phone number, a card number or an ID number, and for a standalone run of
// exactly six digits (a confirmation code or a wallet password). Technical
// values stay: 10658008, 0x00000005, 2026-11-20, 106580088001.
func Text(s string) string { return scrub(s, freeText(true)) }

// Value scrubs a technical value as Text does, but leaves six-digit runs
// alone (a six-digit value under a technical key is not a code; a code is
// logged under a key that says so, which Handler masks whole).
func Value(s string) string { return scrub(s, freeText(false)) }

// scrub rewrites each maximal digit run s[i:j] with mask's answer ("" keeps
// it).
func scrub(s string, mask func(s string, i, j int) string) string {
	if !hasDigitRun(s, 6) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		if !isDigit(s[i]) {
			b.WriteByte(s[i])
			i++
			continue
		}
		j := i
		for j < len(s) && isDigit(s[j]) {
			j++
		}
		if m := mask(s, i, j); m != "" {
			b.WriteString(m)
		} else {
			b.WriteString(s[i:j])
		}
		i = j
	}
	return b.String()
}

// freeText is the mask of Text (codes too) and Value.
func freeText(codes bool) func(s string, i, j int) string {
	return func(s string, i, j int) string {
		run := s[i:j]
		before := byte(' ')
		if i > 0 {
			before = s[i-1]
		}
		after := byte(' ')
		if j < len(s) {
			after = s[j]
		}
		hex := isHexLetter(before) || isHexLetter(after) || (before == 'x' || before == 'X') && i >= 2 && s[i-2] == '0'
		switch {
		case before == '+' && len(run) >= 8 && len(run) <= 15:
			return Phone(run)
		case hex:
			return ""
		case isMobile(run):
			return Phone(run[len(run)-11:])
		case len(run) == 17 && (after == 'X' || after == 'x'), len(run) == 18 && idNumberLike(run):
			return strings.Repeat("*", len(run))
		case len(run) >= 13 && len(run) <= 19 && luhn(run):
			return PAN(run)
		case codes && len(run) == 6 && !isWordByte(before) && !isWordByte(after) && before != '.' && after != '.':
			return "******"
		}
		return ""
	}
}

// isMobile reports a mainland mobile number, bare or with 86, 0086:
// 1[3-9] and nine digits.
func isMobile(run string) bool {
	for _, p := range []string{"", "86", "0086"} {
		if len(run) == len(p)+11 && strings.HasPrefix(run, p) {
			n := run[len(p):]
			return n[0] == '1' && n[1] >= '3' && n[1] <= '9'
		}
	}
	return false
}

// idNumberLike reports an 18-digit resident ID number shape: a region code
// not starting with 0 and a birth year 18xx to 20xx.
func idNumberLike(run string) bool {
	y := run[6:8]
	return run[0] != '0' && (y == "18" || y == "19" || y == "20")
}

func luhn(run string) bool {
	sum, double := 0, false
	for i := len(run) - 1; i >= 0; i-- {
		d := int(run[i] - '0')
		if double {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}

func isDigit(c byte) bool     { return c >= '0' && c <= '9' }
func isHexLetter(c byte) bool { return c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }
func isWordByte(c byte) bool {
	return isDigit(c) || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '-' || c == ':'
}

func hasDigitRun(s string, min int) bool {
	n := 0
	for i := 0; i < len(s); i++ {
		if isDigit(s[i]) {
			n++
			if n >= min {
				return true
			}
		} else {
			n = 0
		}
	}
	return false
}

// Handler is a slog.Handler that masks by field (see the package doc)
// before passing the record on.
type Handler struct {
	next slog.Handler
}

// NewHandler wraps next.
func NewHandler(next slog.Handler) *Handler { return &Handler{next: next} }

// Enabled implements slog.Handler.
func (h *Handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

// Handle implements slog.Handler.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, Text(r.Message), r.PC)
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

// field is what a key says its value is.
type field int

const (
	technical field = iota
	phoneField
	secretField
	panField
	subscriberText
	freeTextField
)

// kindOf classifies a key by its name (case and - or _ insensitive).
func kindOf(key string) field {
	k := strings.ToLower(strings.ReplaceAll(key, "-", "_"))
	switch k {
	case "msisdn", "phone", "phone_number", "mobile", "subscriber", "source_addr", "destination_addr", "number", "caller", "callee":
		return phoneField
	case "pan", "card", "card_number", "cardno":
		return panField
	case "code", "confirmation_code", "confirm_code", "verification_code", "otp", "pin", "id_number", "idnumber", "id_no", "token", "authorization":
		return secretField
	case "text", "body", "short_message", "message_payload", "sms", "mo_text", "mt_text", "content":
		return subscriberText
	}
	if k == "err" || k == "error" || k == "reason" || k == "detail" || k == "msg" || k == "message" {
		return freeTextField
	}
	if strings.HasSuffix(k, "msisdn") || strings.HasSuffix(k, "_phone") {
		return phoneField
	}
	if strings.Contains(k, "password") || strings.Contains(k, "passwd") || strings.Contains(k, "secret") || strings.HasSuffix(k, "_pin") {
		return secretField
	}
	return technical
}

func maskAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		as := v.Group()
		masked := make([]any, len(as))
		for i, g := range as {
			masked[i] = maskAttr(g)
		}
		return slog.Group(a.Key, masked...)
	}
	kind := kindOf(a.Key)
	var s string
	switch v.Kind() {
	case slog.KindString:
		s = v.String()
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			return slog.String(a.Key, maskString(kind, x.Error(), true))
		case interface{ String() string }:
			s = x.String()
		default:
			if kind == technical {
				return slog.Attr{Key: a.Key, Value: v}
			}
			s = v.String()
		}
	default:
		// Numbers, booleans, times, durations: only a key that names a
		// phone or a secret hides them.
		if kind == technical {
			return slog.Attr{Key: a.Key, Value: v}
		}
		s = v.String()
	}
	return slog.String(a.Key, maskString(kind, s, false))
}

func maskString(kind field, s string, freeText bool) string {
	switch kind {
	case phoneField:
		if s == "" {
			return s
		}
		return Phone(s)
	case secretField:
		if s == "" {
			return s
		}
		return "******"
	case panField:
		return PAN(s)
	case subscriberText:
		return Digits(Text(s))
	case freeTextField:
		return Text(s)
	}
	if freeText {
		return Text(s)
	}
	return Value(s)
}
