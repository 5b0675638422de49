package ussd

import (
	"errors"
	"strings"
	"unicode"

	"github.com/carrierbill/carrierbill/wallet"
)

// MaxInput is the longest answer taken from a subscriber, in characters.
// A USSD answer is at most 182 characters on the air; nothing the menu
// asks for (an option, an amount, a code, a password) is longer than a
// dozen.
const MaxInput = 32

// Input errors: the screen says so and asks again; nothing else happens.
var (
	ErrEmptyInput   = errors.New("ussd: empty input")
	ErrInputTooLong = errors.New("ussd: input too long")
	ErrInputChars   = errors.New("ussd: input holds control characters")
)

// Input is one answer as the menu reads it.
type Input struct {
	// Text is the answer with full-width forms folded to ASCII and spaces
	// trimmed.
	Text string
	// Digits reports whether Text is only ASCII digits.
	Digits bool
}

// The navigation answers.
const (
	InputBack = "0"  // the previous screen
	InputHome = "00" // the main menu
	InputMore = "9"  // the next page, where there is one
)

// ParseInput reads one answer. It never panics: empty, too long and
// control characters are errors the menu shows as a screen.
func ParseInput(raw string) (Input, error) {
	if len(raw) > 4*MaxInput { // do not fold what is plainly too long
		return Input{}, ErrInputTooLong
	}
	s := strings.TrimFunc(wallet.FoldWidth(raw), unicode.IsSpace)
	if s == "" {
		return Input{}, ErrEmptyInput
	}
	n := 0
	digits := true
	for _, r := range s {
		n++
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return Input{}, ErrInputChars
		}
		if r < '0' || r > '9' {
			digits = false
		}
	}
	if n > MaxInput {
		return Input{}, ErrInputTooLong
	}
	return Input{Text: s, Digits: digits}, nil
}

// Option returns the option number an answer chooses (1..max), or 0.
func (in Input) Option(max int) int {
	if !in.Digits || len(in.Text) > 2 || in.Text[0] == '0' {
		return 0
	}
	n := 0
	for _, c := range in.Text {
		n = n*10 + int(c-'0')
	}
	if n < 1 || n > max {
		return 0
	}
	return n
}
