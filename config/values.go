package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/carrierbill/carrierbill/billing"
)

// The value types of the file. Their UnmarshalYAML errors say what is wrong
// with the value only: the strict decoder (decode.go) adds the field's path
// and line.

// Yuan is an amount of money written in yuan ("30.00", 30, "0.5") in YAML.
// It is decoded from the literal text, never through a float, and is never
// negative.
type Yuan struct {
	billing.Money
	set bool
}

func yuan(fen int64) Yuan { return Yuan{Money: billing.Money(fen), set: true} }

// UnmarshalYAML implements yaml.Unmarshaler.
func (y *Yuan) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errors.New("want an amount in yuan like 30.00")
	}
	s := strings.TrimSuffix(strings.TrimSpace(n.Value), "元")
	if strings.HasPrefix(s, "-") {
		return fmt.Errorf("must not be negative, got %s", n.Value)
	}
	m, err := billing.ParseYuan(s)
	if err != nil {
		return fmt.Errorf("%q is not an amount in yuan with at most two decimals", n.Value)
	}
	*y = Yuan{Money: m, set: true}
	return nil
}

// MarshalYAML writes the amount as "12.34".
func (y Yuan) MarshalYAML() (any, error) { return y.Money.String(), nil }

// Percent is a percentage with at most two decimals ("30%", "12.5"),
// kept as basis points (1% = 100).
type Percent struct {
	BasisPoints int64
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (p *Percent) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errors.New("want a percentage like 30%")
	}
	s := strings.TrimSuffix(strings.TrimSpace(n.Value), "%")
	if strings.HasPrefix(s, "-") {
		return fmt.Errorf("must not be negative, got %s", n.Value)
	}
	m, err := billing.ParseYuan(s) // same grammar: digits with at most two decimals
	if err != nil {
		return fmt.Errorf("%q is not a percentage with at most two decimals", n.Value)
	}
	if m > 10000 {
		return fmt.Errorf("%s is above 100%%", n.Value)
	}
	p.BasisPoints = int64(m)
	return nil
}

// MarshalYAML writes the percentage as "12.50%".
func (p Percent) MarshalYAML() (any, error) { return billing.Money(p.BasisPoints).String() + "%", nil }

// Duration is a time.Duration written as "60s", "10m" in YAML (or 0).
type Duration time.Duration

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errors.New("want a duration like 60s or 10m")
	}
	s := strings.TrimSpace(n.Value)
	v, err := time.ParseDuration(s)
	if err != nil {
		if secs, err2 := strconv.Atoi(s); err2 == nil && secs == 0 {
			*d = 0
			return nil
		}
		return fmt.Errorf("%q is not a duration like 60s or 10m", n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration as "1m0s".
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }
