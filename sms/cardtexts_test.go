package sms

import (
	"strings"
	"testing"
)

// cardTextCases are the wallet and card-purchase texts as the engine reads
// them (Process: wallet commands first, then a card suffix, then ParseMO).
var cardTextCases = []struct {
	text     string
	wallet   WalletKind
	card     bool   // a card purchase
	last4    string // of the card purchase
	password string // that must never survive redaction
}{
	{"VIP K", WalletNone, true, "", ""},
	{"vip k1234", WalletNone, true, "1234", ""},
	{"１０元 Ｋ５６７８", WalletNone, true, "5678", ""},
	{"VIP", WalletNone, false, "", ""},
	{"123456 654321", WalletCardConfirm, false, "", "654321"},
	{"123456#654321", WalletCardConfirm, false, "", "654321"},
	{"123456654321", WalletCardConfirm, false, "", "654321"},
	{"MM 502817 730164", WalletChangePassword, false, "", "730164"},
	{"mm 502817", WalletBadChangePassword, false, "", "502817"},
	{"YE", WalletBalance, false, "", ""},
	{"123456", WalletNone, false, "", ""},
}

func TestCardTexts(t *testing.T) {
	for _, tt := range cardTextCases {
		t.Run(tt.text, func(t *testing.T) {
			if k := ParseWallet(tt.text).Kind; k != tt.wallet {
				t.Fatalf("wallet kind %v, want %v", k, tt.wallet)
			}
			base, last4, ok := ParseCardSuffix(tt.text)
			if ok != tt.card || last4 != tt.last4 {
				t.Fatalf("card suffix (%q, %q, %v), want (%q, %v)", base, last4, ok, tt.last4, tt.card)
			}
			if ok {
				if k := ParseMO(base).Kind; k != CommandKeyword && k != CommandAmount {
					t.Fatalf("card purchase base %q reads as %v", base, k)
				}
			}
			red, carries := RedactMO(tt.text)
			if tt.password != "" && (!carries || strings.Contains(red, tt.password)) {
				t.Fatalf("RedactMO = %q, %v: the password survives", red, carries)
			}
		})
	}
}

// FuzzCardText: reading any MO text the way Process does never panics, and
// the redacted form of a text carrying a password never holds the
// password of a card confirmation or a password change.
func FuzzCardText(f *testing.F) {
	for _, tt := range cardTextCases {
		f.Add(tt.text)
	}
	f.Fuzz(func(t *testing.T, text string) {
		w := ParseWallet(text)
		if base, _, ok := ParseCardSuffix(text); ok {
			_ = ParseMO(base)
		}
		_ = ParseMO(text)
		red, carries := RedactMO(text)
		secrets := []string{w.Password, w.Old, w.New}
		for _, s := range secrets {
			if s != "" && (!carries || strings.Contains(red, s)) {
				t.Fatalf("RedactMO(%q) = %q, %v keeps a password", text, red, carries)
			}
		}
	})
}
