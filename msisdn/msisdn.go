// Package msisdn turns the spellings of a phone number that reach the gateway
// ("13511112222", "8613511112222", "008613511112222", "+8613511112222",
// "0135 1111 2222") into the one canonical form every table, limit and key
// uses: E.164 with a leading plus, "+8613511112222".
//
// Every edge (SMPP, USSD, the merchant API, replay, the card admin and CLI)
// normalizes with a Plan before a number goes further, so one subscriber has
// one quota however the number was written (DESIGN.md invariant 8). Numbers
// that cannot be normalized are refused with an *Error; the caller logs a line
// and charges nothing.
//
// This package only reads digits: it must never log, never look a number up
// anywhere, and never put the number itself into an error message (errors end
// up in logs, and a phone number never reaches a log in clear).
package msisdn

import (
	"errors"
	"strings"
)

// SMPP 3.4 type of number (TON) values (section 5.2.5) that Normalize reads.
const (
	TONUnknown       byte = 0
	TONInternational byte = 1
	TONNational      byte = 2
	TONNetwork       byte = 3
	TONSubscriber    byte = 4
	TONAlphanumeric  byte = 5
	TONAbbreviated   byte = 6
)

// SMPP 3.4 numbering plan indicator (NPI) values (section 5.2.6) that
// Normalize reads.
const (
	NPIUnknown  byte = 0
	NPIISDN     byte = 1 // E.163/E.164
	NPIData     byte = 3 // X.121
	NPITelex    byte = 4 // F.69
	NPILandMob  byte = 6 // E.212: an IMSI, not a phone number
	NPINational byte = 8
	NPIPrivate  byte = 9
	NPIInternet byte = 14 // an IP address
	NPIWAP      byte = 18 // a WAP client id
)

// Bounds of a canonical number: the digits after the plus, country code
// included. E.164 allows at most 15; the shortest numbers in service have 7.
const (
	MinDigits = 7
	MaxDigits = 15
)

// maxRaw bounds the raw input read at all, separators included: a
// 1,000-digit "number" is refused before any work is done on it.
const maxRaw = 64

// ErrInvalid matches every *Error with errors.Is: the input cannot be a
// phone number.
var ErrInvalid = errors.New("not a phone number")

// Problem says why an input is not a phone number.
type Problem int

// The problems Normalize reports.
const (
	Empty          Problem = iota + 1 // nothing but blanks
	NotDigits                         // letters or other characters than digits and separators
	TooShort                          // fewer digits than the plan allows
	TooLong                           // more digits than the plan allows
	NotPhoneNumber                    // TON/NPI say it is an alphanumeric address, an IMSI, an IP address…
)

func (p Problem) String() string {
	switch p {
	case Empty:
		return "empty"
	case NotDigits:
		return "not digits"
	case TooShort:
		return "too short"
	case TooLong:
		return "too long"
	case NotPhoneNumber:
		return "not a phone number address"
	}
	return "invalid"
}

// Error is the typed refusal of Normalize. It never holds the number.
type Error struct {
	Problem Problem
}

func (e *Error) Error() string { return "not a phone number: " + e.Problem.String() }

// Is makes errors.Is(err, ErrInvalid) true for every *Error.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

func refuse(p Problem) (string, error) { return "", &Error{Problem: p} }

// Plan is the numbering plan of the operator's network: how a number without
// a country code is completed, and which prefixes mean "international" and
// "national" when the SMSC does not say (TON unknown).
type Plan struct {
	// CountryCode of the operator's network, digits without a plus ("86").
	CountryCode string
	// NationalPrefix (trunk prefix) dialled before a national number ("0");
	// empty when the network has none.
	NationalPrefix string
	// InternationalPrefix dialled before a country code ("00").
	InternationalPrefix string
	// NationalLength is the number of digits of a national significant
	// number of the home network (11 for Chinese mobiles), or 0 when they
	// vary. When set, a home number of another length is refused, and an
	// unprefixed number of exactly this length is national even if it starts
	// with the country code's digits.
	NationalLength int
	// MinLength and MaxLength bound the digits of a canonical number,
	// country code included, within [MinDigits, MaxDigits].
	MinLength, MaxLength int
}

// DefaultPlan is mainland China's: +86, trunk prefix 0, international prefix
// 00, 11-digit mobile numbers.
func DefaultPlan() Plan {
	return Plan{
		CountryCode:         "86",
		NationalPrefix:      "0",
		InternationalPrefix: "00",
		NationalLength:      11,
		MinLength:           MinDigits,
		MaxLength:           MaxDigits,
	}
}

func (p Plan) orDefault() Plan {
	if p.CountryCode == "" {
		return DefaultPlan()
	}
	return p
}

// PlanError is one problem with a Plan, naming the field (as in the
// configuration file's numbering section).
type PlanError struct {
	Field string // country_code, national_prefix, international_prefix, national_length, min_length, max_length
	Msg   string
}

func (e *PlanError) Error() string { return e.Field + ": " + e.Msg }

// Check reports the first problem of p, or nil. Normalize assumes a plan
// that passes Check.
func (p Plan) Check() error {
	switch {
	case p.CountryCode == "" || len(p.CountryCode) > 3 || !allDigits(p.CountryCode) || p.CountryCode[0] == '0':
		return &PlanError{"country_code", "want 1 to 3 digits not starting with 0 (86 for China)"}
	case len(p.NationalPrefix) > 4 || !allDigits(p.NationalPrefix):
		return &PlanError{"national_prefix", "want up to 4 digits (0 for China), or empty"}
	case p.InternationalPrefix == "" || len(p.InternationalPrefix) > 4 || !allDigits(p.InternationalPrefix):
		return &PlanError{"international_prefix", "want 1 to 4 digits (00 for China)"}
	case p.InternationalPrefix == p.NationalPrefix:
		return &PlanError{"international_prefix", "must differ from national_prefix"}
	case p.MinLength < MinDigits || p.MinLength > MaxDigits:
		return &PlanError{"min_length", "want 7 to 15 digits, country code included"}
	case p.MaxLength < p.MinLength || p.MaxLength > MaxDigits:
		return &PlanError{"max_length", "want min_length to 15 digits, country code included"}
	case p.NationalLength < 0 || (p.NationalLength > 0 && (len(p.CountryCode)+p.NationalLength < p.MinLength || len(p.CountryCode)+p.NationalLength > p.MaxLength)):
		return &PlanError{"national_length", "with the country code, must fit min_length..max_length (or 0: any)"}
	}
	return nil
}

// Normalize returns the canonical form ("+8613511112222") of raw, an address
// as it came from an SMPP PDU (with its TON and NPI) or typed by a person
// (pass TONUnknown, NPIUnknown). Blanks, '-', '.', '(' and ')' between digits
// are ignored; anything else but digits and one leading '+' is refused.
//
//   - TON international: raw is country code and number ("8613511112222");
//     a leading '+' or international prefix is tolerated.
//   - TON national: raw is a national number, with or without the national
//     prefix; a leading '+' or international prefix still means international.
//   - TON alphanumeric, and NPIs that are not telephony (X.121, telex, E.212,
//     IP, WAP): refused as NotPhoneNumber.
//   - otherwise (unknown): by prefix: '+' or the international prefix means
//     international; the national prefix means national; a number of exactly
//     NationalLength digits is national; one starting with the country code
//     is international; the rest is national.
//
// The error is an *Error (errors.Is(err, ErrInvalid)) and never holds raw.
// The zero Plan normalizes as DefaultPlan.
func (p Plan) Normalize(raw string, ton, npi byte) (string, error) {
	p = p.orDefault()
	if len(raw) > maxRaw {
		return refuse(TooLong)
	}
	switch npi {
	case NPIData, NPITelex, NPILandMob, NPIInternet, NPIWAP:
		return refuse(NotPhoneNumber)
	}
	if ton == TONAlphanumeric {
		return refuse(NotPhoneNumber)
	}
	plus, d, prob := digitsOf(raw)
	if prob != 0 {
		return refuse(prob)
	}
	international := plus
	switch {
	case plus:
	case strings.HasPrefix(d, p.InternationalPrefix):
		d, international = d[len(p.InternationalPrefix):], true
	case ton == TONInternational:
		international = true
	case ton == TONNational && p.NationalLength > 0 && len(d) == len(p.CountryCode)+p.NationalLength && strings.HasPrefix(d, p.CountryCode):
		// An SMSC that labels a full number national: no home national
		// number has this length, so it can only be the international one.
		international = true
	case ton == TONNational:
		d = strings.TrimPrefix(d, p.NationalPrefix) // "" prefix: no-op
	case p.NationalPrefix != "" && strings.HasPrefix(d, p.NationalPrefix):
		d = d[len(p.NationalPrefix):]
	case p.NationalLength > 0 && len(d) == p.NationalLength:
	case strings.HasPrefix(d, p.CountryCode):
		international = true
	}
	if !international {
		d = p.CountryCode + d
	}
	return p.check(d)
}

// check validates d, the digits of an international number, and returns it
// with its plus.
func (p Plan) check(d string) (string, error) {
	if d == "" {
		return refuse(TooShort)
	}
	if d[0] == '0' { // no country code starts with 0
		return refuse(NotDigits)
	}
	min, max := p.MinLength, p.MaxLength
	if p.NationalLength > 0 && strings.HasPrefix(d, p.CountryCode) {
		min = len(p.CountryCode) + p.NationalLength
		max = min
	}
	switch {
	case len(d) < min:
		return refuse(TooShort)
	case len(d) > max:
		return refuse(TooLong)
	}
	return "+" + d, nil
}

// Valid reports whether s is a number this plan could have produced: the
// canonical form, of the plan's lengths.
func (p Plan) Valid(s string) bool {
	p = p.orDefault()
	if !Valid(s) {
		return false
	}
	c, err := p.check(s[1:])
	return err == nil && c == s
}

// Valid reports whether s has the canonical shape whatever the plan: a plus,
// then MinDigits to MaxDigits ASCII digits, the first not 0. It is the
// engine's defensive check that a number went through Normalize.
func Valid(s string) bool {
	if len(s) < 1+MinDigits || len(s) > 1+MaxDigits || s[0] != '+' || s[1] == '0' {
		return false
	}
	return allDigits(s[1:])
}

// digitsOf strips separators and reports a leading plus.
func digitsOf(raw string) (plus bool, digits string, p Problem) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return false, "", Empty
	}
	if s[0] == '+' {
		plus, s = true, s[1:]
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			b.WriteByte(c)
		case c == ' ' || c == '-' || c == '.' || c == '(' || c == ')':
		default:
			return false, "", NotDigits
		}
	}
	if b.Len() == 0 {
		if plus {
			return false, "", TooShort
		}
		return false, "", NotDigits
	}
	return plus, b.String(), 0
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
