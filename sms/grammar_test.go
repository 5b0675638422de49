package sms

import "testing"

var parseTests = []struct {
	in   string
	want Command
}{
	{"10", Command{Kind: CommandAmount, Amount: 1000}},
	{"10.5", Command{Kind: CommandAmount, Amount: 1050}},
	{"10.50", Command{Kind: CommandAmount, Amount: 1050}},
	{"１０", Command{Kind: CommandAmount, Amount: 1000}},
	{"１０．５", Command{Kind: CommandAmount, Amount: 1050}},
	{"10元", Command{Kind: CommandAmount, Amount: 1000}},
	{" 10 元 ", Command{Kind: CommandAmount, Amount: 1000}},
	{"\u300010\u3000", Command{Kind: CommandAmount, Amount: 1000}},
	{"0.1", Command{Kind: CommandAmount, Amount: 10}},
	{"10.555", Command{Kind: CommandBadAmount, Keyword: "10.555"}},
	{"1.2.3", Command{Kind: CommandBadAmount, Keyword: "1.2.3"}},
	{"123456", Command{Kind: CommandCode, Code: "123456"}},
	{" １２３４５６ ", Command{Kind: CommandCode, Code: "123456"}},
	{"1234567", Command{Kind: CommandAmount, Amount: 123456700}},
	{"CX", Command{Kind: CommandQuery}},
	{"cx", Command{Kind: CommandQuery}},
	{"ＣＸ", Command{Kind: CommandQuery}},
	{"vip", Command{Kind: CommandKeyword, Keyword: "VIP"}},
	{"会员", Command{Kind: CommandKeyword, Keyword: "会员"}},
	{"", Command{Kind: CommandEmpty}},
	{"   ", Command{Kind: CommandEmpty}},
	{"元", Command{Kind: CommandKeyword, Keyword: "元"}},
}

func TestParseMO(t *testing.T) {
	t.Parallel()
	for _, tt := range parseTests {
		if got := ParseMO(tt.in); got != tt.want {
			t.Errorf("ParseMO(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func FuzzParseMO(f *testing.F) {
	for _, tt := range parseTests {
		f.Add(tt.in)
	}
	f.Add("\xff\xfe")
	f.Fuzz(func(t *testing.T, s string) {
		c := ParseMO(s) // must never panic
		switch c.Kind {
		case CommandAmount:
			if c.Amount < 0 {
				t.Fatalf("ParseMO(%q): negative amount", s)
			}
		case CommandCode:
			if len(c.Code) != 6 || !allDigits(c.Code) {
				t.Fatalf("ParseMO(%q): code %q", s, c.Code)
			}
		}
	})
}
