package sms

import (
	"strings"
	"unicode"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/wallet"
)

// CommandKind is what an MO asks for.
type CommandKind int

// The MO commands.
const (
	CommandKeyword   CommandKind = iota // a product keyword (Keyword)
	CommandAmount                       // an amount in yuan (Amount)
	CommandBadAmount                    // looks like an amount but is not one (three decimals, two dots)
	CommandCode                         // a 6-digit confirmation code (Code)
	CommandQuery                        // CX: remaining quota and last payments
	CommandEmpty                        // nothing but spaces
	CommandCancel                       // QX or 取消: cancel the newest pending order
)

// Command is a parsed MO text.
type Command struct {
	Kind    CommandKind
	Keyword string // normalized: upper case, full-width folded, trimmed
	Amount  billing.Money
	Code    string
}

// ParseMO reads an MO text. It folds full-width ASCII (digits, letters, the
// dot) and the ideographic space to ASCII, trims spaces, and drops a
// trailing 元 after a number. Exactly six digits are a code; "CX" in any
// case is the query; "QX" or 取消 cancels; digits with at most one dot are an amount (at most two
// decimals, else CommandBadAmount); anything else is a product keyword.
// It never panics.
func ParseMO(text string) Command {
	s := normalizeKeyword(text)
	if s == "" {
		return Command{Kind: CommandEmpty}
	}
	if s == "CX" {
		return Command{Kind: CommandQuery}
	}
	if s == "QX" || s == "取消" {
		return Command{Kind: CommandCancel}
	}
	if len(s) == 6 && allDigits(s) {
		return Command{Kind: CommandCode, Code: s}
	}
	num := strings.TrimSpace(strings.TrimSuffix(s, "元"))
	if looksNumeric(num) {
		m, err := billing.ParseYuan(num)
		if err != nil {
			return Command{Kind: CommandBadAmount, Keyword: s}
		}
		return Command{Kind: CommandAmount, Amount: m}
	}
	return Command{Kind: CommandKeyword, Keyword: s}
}

// normalizeKeyword folds full-width forms to ASCII, upper-cases and trims.
func normalizeKeyword(text string) string {
	return strings.ToUpper(strings.TrimFunc(wallet.FoldWidth(text), unicode.IsSpace))
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// looksNumeric: non-empty, digits and dots only, at least one digit.
func looksNumeric(s string) bool {
	digit := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digit = true
		case c == '.':
		default:
			return false
		}
	}
	return digit
}
