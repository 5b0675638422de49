package sms

import (
	"strings"
	"unicode"

	"github.com/carrierbill/carrierbill/wallet"
)

// WalletKind is what a wallet MO asks for.
type WalletKind int

// The wallet MO commands (see the README (Bank cards)).
const (
	WalletNone              WalletKind = iota // not a wallet command
	WalletChangePassword                      // MM <old> <new>
	WalletBadChangePassword                   // starts with MM but is not MM <6 digits> <6 digits>
	WalletCardConfirm                         // <code> <password>, or the 12 digits run together
	WalletBalance                             // YE
)

// WalletMO is a parsed wallet MO. Its fields hold secrets: never log or store it.
type WalletMO struct {
	Kind     WalletKind
	Old, New string // WalletChangePassword
	Code     string // WalletCardConfirm: the order's confirmation code
	Password string // WalletCardConfirm: the wallet password
}

// ParseWallet reads the wallet commands of an MO text, after folding full-width
// characters to ASCII, trimming and upper-casing:
//
//   - "YE": the default card's balance.
//   - "MM <old> <new>": change the wallet password; old and new are 6 digits.
//     Anything else starting with MM is WalletBadChangePassword.
//   - "<code> <password>": confirm a bank-card payment with the 6-digit code
//     of the prompt and the 6-digit wallet password, separated by spaces or
//     one of # * + , (full-width forms too), or run together as 12 digits.
//
// Every other text is WalletNone (a purchase, a plain code, CX: billing's
// parser reads those). It never panics.
func ParseWallet(text string) WalletMO {
	s := normalize(text)
	if s == "YE" {
		return WalletMO{Kind: WalletBalance}
	}
	if rest, ok := mmRest(s); ok {
		t := fields(rest)
		if len(t) == 2 && six(t[0]) && six(t[1]) {
			return WalletMO{Kind: WalletChangePassword, Old: t[0], New: t[1]}
		}
		return WalletMO{Kind: WalletBadChangePassword}
	}
	t := fields(s)
	switch {
	case len(t) == 2 && six(t[0]) && six(t[1]):
		return WalletMO{Kind: WalletCardConfirm, Code: t[0], Password: t[1]}
	case len(t) == 1 && len(t[0]) == 12 && allDigits(t[0]):
		return WalletMO{Kind: WalletCardConfirm, Code: t[0][:6], Password: t[0][6:]}
	}
	return WalletMO{Kind: WalletNone}
}

// RedactMO returns text with every password it may carry masked, and
// whether it carried one. It is what runs on an MO before the text is
// stored anywhere (mo_inbox, outbox, logs, traces).
//
//   - A text starting with MM (a password change, well formed or not) keeps
//     "MM" and every following word becomes ******.
//   - A text with two or more runs of six or more digits, a run of twelve or
//     more, or only digits and separators with at least two runs and seven
//     digits (a card confirmation, a mistyped one, the two numbers swapped)
//     has every digit run replaced by ******, the code too: it can be the
//     password when the subscriber swaps them, and the code is on the order.
//
// Other texts (a purchase, a lone 6-digit code, CX, YE) come back
// unchanged with false. The redacted form of a text that carried a
// password contains no digit of it. It never panics.
func RedactMO(text string) (redacted string, carriesPassword bool) {
	s := wallet.FoldWidth(text)
	if rest, ok := mmRest(normalize(s)); ok {
		if !strings.ContainsFunc(rest, isDigit) {
			return text, false
		}
		var b strings.Builder
		b.WriteString("MM")
		for range fields(rest) {
			b.WriteString(" ******")
		}
		return b.String(), true
	}
	runs, long, digits, longest := 0, 0, 0, 0
	onlyDigitsSeps := true
	n := 0
	for _, r := range s {
		if isDigit(r) {
			n++
			digits++
			continue
		}
		if n > 0 {
			runs++
			if n >= 6 {
				long++
			}
			longest = max(longest, n)
			n = 0
		}
		if !isSep(r) {
			onlyDigitsSeps = false
		}
	}
	if n > 0 {
		runs++
		if n >= 6 {
			long++
		}
		longest = max(longest, n)
	}
	if long < 2 && longest < 12 && !(onlyDigitsSeps && runs >= 2 && digits >= 7) {
		return text, false
	}
	var b strings.Builder
	inRun := false
	for _, r := range s {
		if isDigit(r) {
			if !inRun {
				b.WriteString("******")
				inRun = true
			}
			continue
		}
		inRun = false
		b.WriteRune(r)
	}
	return b.String(), true
}

// ParseCardSuffix reads a bank-card purchase: a purchase text (a product
// keyword or an amount) followed by a space and K, or K and the last four
// digits of the card to pay with: "VIP K", "10元 K1234", "ｖｉｐ ｋ１２３４".
// base is the purchase text without the suffix (normalized: folded,
// trimmed, upper case), last4 is "" for the default card. ok is false when
// the text has no card suffix (a phone-account purchase).
func ParseCardSuffix(text string) (base, last4 string, ok bool) {
	s := normalize(text)
	i := strings.LastIndexFunc(s, unicode.IsSpace)
	if i < 0 {
		return "", "", false
	}
	head, tail := strings.TrimRightFunc(s[:i], unicode.IsSpace), s[i+1:]
	if head == "" || tail == "" || tail[0] != 'K' {
		return "", "", false
	}
	switch d := tail[1:]; {
	case d == "":
		return head, "", true
	case len(d) == 4 && allDigits(d):
		return head, d, true
	}
	return "", "", false
}

func normalize(text string) string {
	return strings.ToUpper(strings.TrimFunc(wallet.FoldWidth(text), unicode.IsSpace))
}

// mmRest returns what follows a leading MM when s (normalized) is a
// password-change command: MM alone, or followed by a separator or digit.
func mmRest(s string) (string, bool) {
	if !strings.HasPrefix(s, "MM") {
		return "", false
	}
	rest := s[2:]
	if rest == "" {
		return "", true
	}
	r := []rune(rest)[0]
	if isSep(r) || isDigit(r) {
		return rest, true
	}
	return "", false
}

func fields(s string) []string {
	return strings.FieldsFunc(s, isSep)
}

func isDigit(r rune) bool { return r >= '0' && r <= '9' }

func isSep(r rune) bool {
	switch r {
	case '#', '*', '+', ',', '、', '，':
		return true
	}
	return unicode.IsSpace(r)
}

func six(s string) bool { return len(s) == 6 && allDigits(s) }
