package settlement_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/carrierbill/carrierbill/settlement"
	spg "github.com/carrierbill/carrierbill/settlement/postgres"
)

func TestParseCarrierFile(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		in      string
		n       int
		badLine []int
	}{
		{"header and two lines", "phone,charge_ref,amount,time\n8613800000001,17,15.00,2026-11-20 10:00:00\n+8613800000002,18,6,2026-11-20T02:00:00Z\n", 2, nil},
		{"no header, blank line", "8613800000001,17,15.00,2026-11-20 10:00:00\n\n", 1, nil},
		{"BOM header", "\ufeffphone,charge_ref,amount,time\n", 0, nil},
		{"every bad line numbered", "phone,charge_ref,amount,time\n8613800000001,17,15.00,2026-11-20 10:00:00\nabc,18,1.00,2026-11-20 10:00:00\n8613800000001,,1.00,2026-11-20 10:00:00\n8613800000001,19,1.001,2026-11-20 10:00:00\n8613800000001,20,1.00,yesterday\n8613800000001,21,1.00\n", 0, []int{3, 4, 5, 6, 7}},
		{"zero amount", "8613800000001,17,0.00,2026-11-20 10:00:00\n", 0, []int{1}},
		{"bad quoting", "8613800000001,\"17,1.00,2026-11-20 10:00:00\n", 0, []int{1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			recs, err := settlement.ParseCarrierFile(strings.NewReader(tc.in), shanghai)
			if tc.badLine == nil {
				if err != nil || len(recs) != tc.n {
					t.Fatalf("got %d records, err %v; want %d", len(recs), err, tc.n)
				}
				return
			}
			var fe *settlement.CarrierFileError
			if !errors.As(err, &fe) || recs != nil {
				t.Fatalf("err %v, records %v: want a CarrierFileError and nothing imported", err, recs)
			}
			var lines []int
			for _, l := range fe.Lines {
				lines = append(lines, l.Line)
			}
			if fmt.Sprint(lines) != fmt.Sprint(tc.badLine) {
				t.Fatalf("bad lines %v, want %v (%v)", lines, tc.badLine, err)
			}
		})
	}
}

func FuzzParseCarrierFile(f *testing.F) {
	f.Add("phone,charge_ref,amount,time\n8613800000001,17,15.00,2026-11-20 10:00:00\n")
	f.Add("8613800000001,\"17,1.00,2026-11-20 10:00:00\n")
	f.Add("+8613800000002,18,6,2026-11-20T02:00:00Z\n\n,,,\n")
	f.Add("\ufeffphone\n1,2,3,4,5\n")
	f.Fuzz(func(t *testing.T, in string) {
		recs, err := settlement.ParseCarrierFile(strings.NewReader(in), shanghai)
		if err != nil && recs != nil {
			t.Fatal("records returned with an error")
		}
		for _, r := range recs {
			if r.Amount <= 0 || r.Ref == "" || r.Line < 1 {
				t.Fatalf("bad record accepted: %+v", r)
			}
		}
	})
}

func TestAuditFindsEverySeededDiscrepancy(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var lines []string
	line := func(phone string, ref int64, amount string, when time.Time) {
		lines = append(lines, fmt.Sprintf("%s,%d,%s,%s", phone, ref, amount, when.In(shanghai).Format("2006-01-02 15:04:05")))
	}
	type want struct {
		kind string
		ref  int64
	}
	var wants []want
	for i := range 40 {
		when := at(2026, 11, 1+i%30, i%24, 0, 0)
		phone := fmt.Sprintf("86138%08d", i)
		c := f.pay("8001", "phone", int64(100+i), when, payOpt{msisdn: phone})
		switch i % 10 {
		case 3: // the operator never billed it
			wants = append(wants, want{settlement.OursNotTheirs, c})
		case 5: // billed a different amount
			line(phone, c, "9.99", when)
			wants = append(wants, want{settlement.AmountDiffers, c})
		case 7: // billed twice
			line(phone, c, fmt.Sprintf("%d.%02d", (100+i)/100, (100+i)%100), when)
			line(phone, c, fmt.Sprintf("%d.%02d", (100+i)/100, (100+i)%100), when)
			wants = append(wants, want{settlement.Duplicated, c})
		default:
			line(phone, c, fmt.Sprintf("%d.%02d", (100+i)/100, (100+i)%100), when)
		}
	}
	// Not in the audit: card payments, other months, refunds (the operator
	// bills the debit).
	card := f.pay("8001", "card", 500, at(2026, 11, 10, 0, 0, 0), payOpt{})
	f.refund(card, 100, at(2026, 11, 11, 0, 0, 0))
	f.pay("8001", "phone", 500, at(2026, 10, 31, 23, 59, 59), payOpt{})
	f.pay("8001", "phone", 500, at(2026, 12, 1, 0, 0, 0), payOpt{})
	f.failed("8001", 500, at(2026, 11, 15, 0, 0, 0))
	// Billed by the operator, unknown to us.
	lines = append(lines, "8613999999999,999999,3.00,2026-11-15 12:00:00")
	wants = append(wants, want{settlement.TheirsNotOurs, 999999})

	file := "phone,charge_ref,amount,time\n" + strings.Join(lines, "\n") + "\n"
	recs, err := settlement.ParseCarrierFile(strings.NewReader(file), shanghai)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := settlement.Audit(context.Background(), spg.New(f.pool), shanghai, "2026-11", recs)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range rep.Discrepancies {
		got = append(got, fmt.Sprintf("%s %s", d.Kind, d.Ref))
	}
	var exp []string
	for _, w := range wants {
		exp = append(exp, fmt.Sprintf("%s %d", w.kind, w.ref))
	}
	sort.Strings(got)
	sort.Strings(exp)
	if strings.Join(got, "\n") != strings.Join(exp, "\n") {
		t.Fatalf("discrepancies:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(exp, "\n"))
	}
	if rep.OurCharges != 40 || rep.Matched != 32 {
		t.Fatalf("our charges %d, matched %d", rep.OurCharges, rep.Matched)
	}
	var buf bytes.Buffer
	if err := rep.Encode(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if strings.Contains(out, "8613800000003") || !strings.Contains(out, "138****0003") {
		t.Fatalf("report must mask phone numbers:\n%s", out)
	}
	for _, s := range []string{"summary,ours_not_theirs,4 (", "summary,theirs_not_ours,1 (3.00)", "summary,amount_differs,4 (", "summary,duplicated,4 ("} {
		if !strings.Contains(out, s) {
			t.Fatalf("report lacks %q:\n%s", s, out)
		}
	}
}
