package verify

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/settlement"
)

// StatementsDoc is what the statements check asserts.
const StatementsDoc = "every statement already written (statement-<merchant>-<day>.csv) has the ledger's payments and refunds of its merchant and day"

// Statements compares the summary line of every statement file under dir
// (dir/<merchant>/statement-<merchant>-<YYYY-MM-DD>.csv, as settlement
// writes them) with the ledger's totals of that merchant and business day
// in loc. It reads one snapshot of src; files of days the ledger knows
// nothing about must be empty statements. The files are only read.
func Statements(ctx context.Context, src settlement.Source, dir string, loc *time.Location) ([]Violation, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*", "statement-*.csv"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, nil
	}
	sort.Strings(files)
	snap, err := src.Snapshot(ctx)
	if err != nil {
		return nil, fmt.Errorf("opening a ledger snapshot: %w", err)
	}
	defer snap.Close(context.WithoutCancel(ctx))
	ledger := map[string]map[string]settlement.Totals{} // day → merchant → totals
	var out []Violation
	bad := func(file, detail string) {
		if len(out) < 100 {
			out = append(out, Violation{Check: "statements", Subject: "statement " + file, Detail: detail})
		}
	}
	for _, f := range files {
		name := filepath.Base(f)
		merchant := filepath.Base(filepath.Dir(f))
		day, ok := strings.CutPrefix(strings.TrimSuffix(name, ".csv"), "statement-"+merchant+"-")
		if !ok {
			bad(name, "not named statement-<merchant>-<day>.csv in its merchant's directory")
			continue
		}
		from, err := time.ParseInLocation("2006-01-02", day, loc)
		if err != nil {
			bad(name, "not named statement-<merchant>-<day>.csv in its merchant's directory")
			continue
		}
		got, err := statementTotals(f)
		if err != nil {
			bad(name, err.Error())
			continue
		}
		byMerchant, ok := ledger[day]
		if !ok {
			byMerchant, err = snap.LedgerTotals(ctx, from, from.AddDate(0, 0, 1))
			if err != nil {
				return out, fmt.Errorf("reading the ledger totals of %s: %w", day, err)
			}
			ledger[day] = byMerchant
		}
		want := byMerchant[merchant]
		if got.Paid != want.Paid || got.Refunded != want.Refunded {
			bad(name, fmt.Sprintf("payments %s refunds %s, ledger %s and %s", got.Paid, got.Refunded, want.Paid, want.Refunded))
		}
	}
	return out, nil
}

// statementTotals reads the summary line (the last) of a statement:
// summary,<lines>,<paid>,<refunded>,<net>.
func statementTotals(path string) (settlement.Totals, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return settlement.Totals{}, err
	}
	b = bytes.TrimRight(b, "\r\n")
	last := b
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		last = b[i+1:]
	}
	rec, err := csv.NewReader(bytes.NewReader(last)).Read()
	if err != nil && err != io.EOF {
		return settlement.Totals{}, fmt.Errorf("unreadable summary line: %v", err)
	}
	if len(rec) != 5 || rec[0] != "summary" {
		return settlement.Totals{}, fmt.Errorf("no summary line")
	}
	paid, err1 := billing.ParseYuan(rec[2])
	refunded, err2 := billing.ParseYuan(rec[3])
	if err1 != nil || err2 != nil {
		return settlement.Totals{}, fmt.Errorf("summary amounts %q, %q are not amounts", rec[2], rec[3])
	}
	return settlement.Totals{Paid: paid, Refunded: refunded}, nil
}
