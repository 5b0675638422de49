package billing

import (
	"errors"
	"fmt"
	"strings"
)

// Money is an amount in fen (1/100 yuan). There are no floats anywhere near money.
type Money int64

// Yuan returns m yuan (whole yuan) as Money.
func Yuan(m int64) Money { return Money(m * 100) }

// String formats m as yuan with exactly two decimals: 1234 → "12.34", -5 → "-0.05".
func (m Money) String() string {
	sign := ""
	v := int64(m)
	if v < 0 {
		sign = "-"
		v = -v
	}
	return fmt.Sprintf("%s%d.%02d", sign, v/100, v%100)
}

// Fen returns m as an int64 number of fen.
func (m Money) Fen() int64 { return int64(m) }

// ErrBadAmount is returned by ParseYuan for text that is not an amount of yuan
// with at most two decimals.
var ErrBadAmount = errors.New("not an amount in yuan with at most two decimals")

// ParseYuan parses a non-negative decimal amount of yuan with at most two
// decimals ("10", "10.5", "10.50", "0.1") into Money. It accepts ASCII digits
// only; callers normalise full-width input first. It never rounds: "10.555"
// is ErrBadAmount.
func ParseYuan(s string) (Money, error) {
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" && (!hasDot || frac == "") {
		return 0, ErrBadAmount
	}
	if hasDot && (frac == "" || len(frac) > 2) {
		return 0, ErrBadAmount
	}
	if len(whole) > 12 {
		return 0, ErrBadAmount
	}
	var v int64
	for _, r := range whole {
		if r < '0' || r > '9' {
			return 0, ErrBadAmount
		}
		v = v*10 + int64(r-'0')
	}
	v *= 100
	scale := int64(10)
	for _, r := range frac {
		if r < '0' || r > '9' {
			return 0, ErrBadAmount
		}
		v += int64(r-'0') * scale
		scale /= 10
	}
	return Money(v), nil
}
