package sms

import (
	"github.com/carrierbill/carrierbill/wallet"
	"strings"
	"testing"
)

var moTests = []struct {
	text     string
	want     WalletMO
	redacted string
	carries  bool
}{
	{"YE", WalletMO{Kind: WalletBalance}, "YE", false},
	{" ye ", WalletMO{Kind: WalletBalance}, " ye ", false},
	{"ＹＥ", WalletMO{Kind: WalletBalance}, "ＹＥ", false},
	{"MM 285714 390177", WalletMO{Kind: WalletChangePassword, Old: "285714", New: "390177"}, "MM ****** ******", true},
	{"mm 285714 390177", WalletMO{Kind: WalletChangePassword, Old: "285714", New: "390177"}, "MM ****** ******", true},
	{"MM285714 390177", WalletMO{Kind: WalletChangePassword, Old: "285714", New: "390177"}, "MM ****** ******", true},
	{"MM#285714#390177", WalletMO{Kind: WalletChangePassword, Old: "285714", New: "390177"}, "MM ****** ******", true},
	{"ＭＭ　２８５７１４　３９０１７７", WalletMO{Kind: WalletChangePassword, Old: "285714", New: "390177"}, "MM ****** ******", true},
	{"MM 28571 390177", WalletMO{Kind: WalletBadChangePassword}, "MM ****** ******", true},
	{"MM 285714", WalletMO{Kind: WalletBadChangePassword}, "MM ******", true},
	{"MM", WalletMO{Kind: WalletBadChangePassword}, "MM", false},
	{"MM abc", WalletMO{Kind: WalletBadChangePassword}, "MM abc", false},
	{"MMS", WalletMO{Kind: WalletNone}, "MMS", false},
	{"482913 285714", WalletMO{Kind: WalletCardConfirm, Code: "482913", Password: "285714"}, "****** ******", true},
	{"482913#285714", WalletMO{Kind: WalletCardConfirm, Code: "482913", Password: "285714"}, "******#******", true},
	{"482913，285714", WalletMO{Kind: WalletCardConfirm, Code: "482913", Password: "285714"}, "******,******", true},
	{"482913285714", WalletMO{Kind: WalletCardConfirm, Code: "482913", Password: "285714"}, "******", true},
	{"４８２９１３　２８５７１４", WalletMO{Kind: WalletCardConfirm, Code: "482913", Password: "285714"}, "****** ******", true},
	{"482913 28571", WalletMO{Kind: WalletNone}, "****** ******", true},        // mistyped password
	{"482913 pw 285714", WalletMO{Kind: WalletNone}, "****** pw ******", true}, // chatty
	{"482913", WalletMO{Kind: WalletNone}, "482913", false},                    // a plain confirmation code
	{"VIP K1234", WalletMO{Kind: WalletNone}, "VIP K1234", false},
	{"10.50", WalletMO{Kind: WalletNone}, "10.50", false},
	{"CX", WalletMO{Kind: WalletNone}, "CX", false},
	{"", WalletMO{Kind: WalletNone}, "", false},
}

func TestParseAndRedactMO(t *testing.T) {
	t.Parallel()
	for _, tt := range moTests {
		if got := ParseWallet(tt.text); got != tt.want {
			t.Errorf("ParseWallet(%q) = %+v, want %+v", tt.text, got, tt.want)
		}
		red, carries := RedactMO(tt.text)
		if red != tt.redacted || carries != tt.carries {
			t.Errorf("RedactMO(%q) = %q, %v; want %q, %v", tt.text, red, carries, tt.redacted, tt.carries)
		}
	}
}

func TestParseCardSuffix(t *testing.T) {
	t.Parallel()
	tests := []struct {
		text, base, last4 string
		ok                bool
	}{
		{"VIP K", "VIP", "", true},
		{"vip k1234", "VIP", "1234", true},
		{"10元 K", "10元", "", true},
		{"10.5  K0001", "10.5", "0001", true},
		{"ｖｉｐ　ｋ１２３４", "VIP", "1234", true},
		{"GOLD PACK K", "GOLD PACK", "", true},
		{"VIP", "", "", false},
		{"K", "", "", false},
		{"K1234", "", "", false},
		{"VIP K123", "", "", false},
		{"VIP K12345", "", "", false},
		{"VIP KX", "", "", false},
		{"VIPK", "", "", false},
		{"", "", "", false},
	}
	for _, tt := range tests {
		base, last4, ok := ParseCardSuffix(tt.text)
		if base != tt.base || last4 != tt.last4 || ok != tt.ok {
			t.Errorf("ParseCardSuffix(%q) = %q, %q, %v; want %q, %q, %v", tt.text, base, last4, ok, tt.base, tt.last4, tt.ok)
		}
	}
}

// FuzzRedactMO: never panics; whatever ParseMO reads a password from is
// reported as carrying one, and the password is not in the redacted text.
func FuzzRedactMO(f *testing.F) {
	for _, tt := range moTests {
		f.Add(tt.text)
	}
	f.Fuzz(func(t *testing.T, text string) {
		red, carries := RedactMO(text)
		m := ParseWallet(text)
		var secrets []string
		switch m.Kind {
		case WalletChangePassword:
			secrets = []string{m.Old, m.New}
		case WalletCardConfirm:
			secrets = []string{m.Password}
		}
		if len(secrets) > 0 && !carries {
			t.Fatalf("RedactMO(%q) says no password, ParseMO reads %d", text, m.Kind)
		}
		for _, s := range secrets {
			if strings.Contains(red, s) {
				t.Fatalf("RedactMO(%q) = %q keeps the password", text, red)
			}
		}
		if carries && strings.ContainsFunc(red, isDigit) {
			t.Fatalf("RedactMO(%q) = %q keeps digits", text, red)
		}
		_, _, _ = ParseCardSuffix(text)
	})
}

// FuzzRedactDocumentedFormats builds the documented formats from any code,
// password, separator and case and checks the password never survives.
func FuzzRedactDocumentedFormats(f *testing.F) {
	f.Add(uint32(482913), uint32(285714), " ", false)
	f.Add(uint32(1), uint32(999999), "#", true)
	f.Add(uint32(123456), uint32(123456), "　", false)
	f.Fuzz(func(t *testing.T, code, pw uint32, sep string, swap bool) {
		c, p := pad6(code), pad6(pw)
		if sep == "" || strings.ContainsFunc(sep, func(r rune) bool { return !isSep(foldRune(r)) }) {
			sep = " "
		}
		texts := []string{c + sep + p, "MM" + sep + c + sep + p, "mm " + p + " " + c, c + p}
		if swap {
			texts = append(texts, p+sep+c)
		}
		for _, text := range texts {
			red, carries := RedactMO(text)
			if !carries || strings.Contains(red, p) {
				t.Fatalf("RedactMO(%q) = %q, %v", text, red, carries)
			}
		}
		if m := ParseWallet(c + sep + p); m.Kind != WalletCardConfirm || m.Code != c || m.Password != p {
			t.Fatalf("ParseWallet(%q) = %+v", c+sep+p, m)
		}
	})
}

func pad6(n uint32) string {
	d := []byte("000000")
	for i := 5; i >= 0; i-- {
		d[i] = byte('0' + n%10)
		n /= 10
	}
	return string(d)
}

func foldRune(r rune) rune { return []rune(wallet.FoldWidth(string(r)))[0] }
