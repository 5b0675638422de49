package ussd

import (
	"strings"
	"unicode/utf16"

	"github.com/carrierbill/carrierbill/smpp"
)

// A USSD screen is at most 160 octets: 182 characters of the GSM 7-bit
// alphabet (packed septets) or 80 UTF-16 units in UCS2 (Chinese). An
// extension character of the GSM alphabet (€, [, ], {, }, |, ^, ~, \)
// takes two septets.
const (
	MaxGSM7 = 182
	MaxUCS2 = 80
)

// Size returns how much of a screen s takes: septets when every character
// is in the GSM 7-bit alphabet (gsm true), UTF-16 units otherwise.
func Size(s string) (units int, gsm bool) {
	if b, ok := smpp.EncodeGSM7(s); ok {
		return len(b), true
	}
	return len(utf16.Encode([]rune(s))), false
}

// Fits reports whether s fits one USSD screen.
func Fits(s string) bool {
	n, gsm := Size(s)
	if gsm {
		return n <= MaxGSM7
	}
	return n <= MaxUCS2
}

// Paginate cuts body into screens that each fit once the footer is added:
// more (the "9 more" line) on every page but the last, last on the last
// page (it may be ""). It cuts between lines where it can, inside a line
// (between characters) where a line alone is too long. It never returns
// an empty slice.
func Paginate(body, more, last string) []string {
	join := func(page, footer string) string {
		switch {
		case footer == "":
			return page
		case page == "":
			return footer
		}
		return page + "\n" + footer
	}
	if Fits(join(body, last)) {
		return []string{join(body, last)}
	}
	var pages []string
	rest := body
	for rest != "" {
		if Fits(join(rest, last)) {
			pages = append(pages, join(rest, last))
			return pages
		}
		// The longest prefix that fits with "more", preferring a line end.
		runes := []rune(rest)
		lo, hi := 0, len(runes)
		for lo < hi { // largest n with runes[:n] fitting
			mid := (lo + hi + 1) / 2
			if Fits(join(string(runes[:mid]), more)) {
				lo = mid
			} else {
				hi = mid - 1
			}
		}
		n := lo
		if n == 0 { // more alone does not fit: cannot happen with sane texts
			n = 1
		}
		if cut := strings.LastIndex(string(runes[:n]), "\n"); cut > 0 && n < len(runes) {
			n = len([]rune(string(runes[:n])[:cut]))
		}
		page := strings.TrimRight(string(runes[:n]), "\n")
		pages = append(pages, join(page, more))
		rest = strings.TrimLeft(string(runes[n:]), "\n")
	}
	if len(pages) == 0 {
		return []string{last}
	}
	// The body ended exactly on a page: the last footer still shows.
	pages = append(pages, last)
	return pages
}
