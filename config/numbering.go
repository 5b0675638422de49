package config

import (
	"errors"

	"github.com/carrierbill/carrierbill/msisdn"
)

// Numbering is the numbering plan of the operator's network: how every
// phone number that reaches the gateway (SMPP, USSD, the merchant API,
// replay, the card admin) is brought to one canonical form, E.164 with a
// leading plus ("+8613511112222"). See package msisdn.
type Numbering struct {
	// CountryCode of the network, digits without a plus. Default 86.
	CountryCode string `yaml:"country_code"`
	// NationalPrefix (trunk prefix) before a national number. Default "0";
	// set it to "" explicitly for a network without one.
	NationalPrefix *string `yaml:"national_prefix"`
	// InternationalPrefix before a country code. Default "00".
	InternationalPrefix string `yaml:"international_prefix"`
	// NationalLength is the number of digits of a home national number
	// (11 for Chinese mobiles, the default when country_code is 86; 0 for
	// any other country code unless set): home numbers of another length are
	// refused.
	NationalLength *int `yaml:"national_length"`
	// MinLength and MaxLength bound the digits of a number, country code
	// included. Defaults 7 and 15 (E.164's maximum).
	MinLength int `yaml:"min_length"`
	MaxLength int `yaml:"max_length"`
}

func (n *Numbering) applyDefaults() {
	d := msisdn.DefaultPlan()
	if n.CountryCode == "" {
		n.CountryCode = d.CountryCode
	}
	if n.NationalPrefix == nil {
		p := d.NationalPrefix
		n.NationalPrefix = &p
	}
	if n.InternationalPrefix == "" {
		n.InternationalPrefix = d.InternationalPrefix
	}
	if n.NationalLength == nil {
		l := 0
		if n.CountryCode == d.CountryCode {
			l = d.NationalLength
		}
		n.NationalLength = &l
	}
	if n.MinLength == 0 {
		n.MinLength = d.MinLength
	}
	if n.MaxLength == 0 {
		n.MaxLength = d.MaxLength
	}
}

// Plan is the msisdn.Plan the gateway normalizes numbers with. Validate
// has checked it.
func (n Numbering) Plan() msisdn.Plan {
	p := msisdn.Plan{
		CountryCode:         n.CountryCode,
		InternationalPrefix: n.InternationalPrefix,
		MinLength:           n.MinLength,
		MaxLength:           n.MaxLength,
	}
	if n.NationalPrefix != nil {
		p.NationalPrefix = *n.NationalPrefix
	}
	if n.NationalLength != nil {
		p.NationalLength = *n.NationalLength
	}
	return p
}

// checkNumbering checks the numbering plan.
func (c *Config) checkNumbering(p *problems) {
	err := c.Numbering.Plan().Check()
	if err == nil {
		return
	}
	var pe *msisdn.PlanError
	if errors.As(err, &pe) {
		p.add("numbering."+pe.Field, "%s", pe.Msg)
		return
	}
	p.add("numbering", "%v", err)
}
