package settlement

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/redact"
)

// CarrierRecord is one line of the operator's monthly billing file.
type CarrierRecord struct {
	Line   int // 1-based line number in the file
	MSISDN string
	Ref    string // our charge reference: the platform transaction id
	Amount billing.Money
	At     time.Time
}

// LineError is one malformed line of a carrier file.
type LineError struct {
	Line int
	Msg  string
}

func (e LineError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

// CarrierFileError lists every malformed line; when it is returned nothing
// of the file was taken.
type CarrierFileError struct {
	Lines []LineError
}

func (e *CarrierFileError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "carrier file has %d malformed line(s), nothing imported", len(e.Lines))
	for i, l := range e.Lines {
		if i == 20 {
			fmt.Fprintf(&b, "\n  ... and %d more", len(e.Lines)-20)
			break
		}
		b.WriteString("\n  " + l.Error())
	}
	return b.String()
}

// CarrierHeader is the optional header line of a carrier file.
var CarrierHeader = []string{"phone", "charge_ref", "amount", "time"}

// maxCarrierErrors caps how many line errors are collected.
const maxCarrierErrors = 1000

// ParseCarrierFile reads the operator's CSV (UTF-8, comma separated, an
// optional header line "phone,charge_ref,amount,time"): the phone number
// (digits, optional leading +), our charge reference (the platform
// transaction id), the amount in yuan with at most two decimals, and the
// time as "2006-01-02 15:04:05" in loc or RFC 3339. Blank lines are
// skipped. It is all or nothing: any malformed line gives a
// *CarrierFileError listing every bad line, and no records.
func ParseCarrierFile(r io.Reader, loc *time.Location) ([]CarrierRecord, error) {
	cr := csv.NewReader(bufio.NewReader(r))
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	var (
		recs []CarrierRecord
		bad  []LineError
	)
	first := true
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				bad = append(bad, LineError{Line: pe.Line, Msg: pe.Err.Error()})
				if len(bad) >= maxCarrierErrors {
					break
				}
				continue
			}
			return nil, fmt.Errorf("reading carrier file: %w", err)
		}
		line, _ := cr.FieldPos(0)
		if first {
			first = false
			if len(rec) > 0 && strings.EqualFold(strings.TrimSpace(strings.TrimPrefix(rec[0], "\ufeff")), "phone") {
				continue
			}
		}
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		c, msg := parseCarrierRecord(rec, loc)
		if msg != "" {
			bad = append(bad, LineError{Line: line, Msg: msg})
			if len(bad) >= maxCarrierErrors {
				break
			}
			continue
		}
		c.Line = line
		recs = append(recs, c)
	}
	if len(bad) > 0 {
		return nil, &CarrierFileError{Lines: bad}
	}
	return recs, nil
}

func parseCarrierRecord(rec []string, loc *time.Location) (CarrierRecord, string) {
	if len(rec) != 4 {
		return CarrierRecord{}, fmt.Sprintf("%d fields, want 4 (phone, charge_ref, amount, time)", len(rec))
	}
	var c CarrierRecord
	phone := strings.TrimPrefix(strings.TrimSpace(strings.TrimPrefix(rec[0], "\ufeff")), "+")
	if len(phone) < 5 || len(phone) > 20 || strings.Trim(phone, "0123456789") != "" {
		return c, "phone number is not 5 to 20 digits"
	}
	c.MSISDN = phone
	c.Ref = strings.TrimSpace(rec[1])
	if c.Ref == "" || len(c.Ref) > 64 {
		return c, "charge reference is empty or longer than 64 characters"
	}
	amount := strings.TrimSuffix(strings.TrimSpace(rec[2]), "元")
	m, err := billing.ParseYuan(amount)
	if err != nil || m <= 0 {
		return c, "amount is not a positive amount in yuan with at most two decimals"
	}
	c.Amount = m
	ts := strings.TrimSpace(rec[3])
	if t, err := time.ParseInLocation("2006-01-02 15:04:05", ts, loc); err == nil {
		c.At = t
	} else if t, err := time.Parse(time.RFC3339, ts); err == nil {
		c.At = t
	} else {
		return c, "time is neither 2006-01-02 15:04:05 nor RFC 3339"
	}
	return c, ""
}

// Discrepancy kinds.
const (
	OursNotTheirs = "ours_not_theirs" // we charged, the operator did not bill
	TheirsNotOurs = "theirs_not_ours" // the operator billed, we have no such charge in the month
	AmountDiffers = "amount_differs"
	Duplicated    = "duplicated" // the operator billed one charge more than once
)

// Discrepancy is one finding of the audit.
type Discrepancy struct {
	Kind   string
	Ref    string
	Line   int           // carrier file line, 0 for ours_not_theirs
	MSISDN string        // in clear: mask before writing
	Ours   billing.Money // 0 when we have none
	Theirs billing.Money // 0 when they have none
}

// AuditReport is the result of an audit.
type AuditReport struct {
	Month         string
	OurCharges    int64
	OurTotal      billing.Money
	TheirRecords  int64
	TheirTotal    billing.Money
	Matched       int64
	Discrepancies []Discrepancy
	CountsByKind  map[string]int64
	AmountsByKind map[string]billing.Money // |ours − theirs| summed per kind
}

// Audit compares the operator's records of month ("2026-11") with our
// succeeded phone-account charges of that business month, by charge
// reference (the platform transaction id).
func Audit(ctx context.Context, src Source, loc *time.Location, month string, theirs []CarrierRecord) (*AuditReport, error) {
	from, err := time.ParseInLocation("2006-01", month, loc)
	if err != nil {
		return nil, fmt.Errorf("month %q is not YYYY-MM", month)
	}
	to := from.AddDate(0, 1, 0)
	byRef := make(map[string][]int, len(theirs))
	rep := &AuditReport{Month: month, CountsByKind: map[string]int64{}, AmountsByKind: map[string]billing.Money{}}
	for i, c := range theirs {
		byRef[c.Ref] = append(byRef[c.Ref], i)
		rep.TheirRecords++
		rep.TheirTotal += c.Amount
	}
	seen := make(map[string]bool, len(theirs))
	add := func(d Discrepancy) {
		rep.Discrepancies = append(rep.Discrepancies, d)
		rep.CountsByKind[d.Kind]++
		diff := d.Ours - d.Theirs
		if diff < 0 {
			diff = -diff
		}
		rep.AmountsByKind[d.Kind] += diff
	}
	snap, err := src.Snapshot(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit %s: opening snapshot: %w", month, err)
	}
	defer snap.Close(context.WithoutCancel(ctx))
	err = snap.PhoneCharges(ctx, from, to, func(pc PhoneCharge) error {
		rep.OurCharges++
		rep.OurTotal += pc.Amount
		ref := strconv.FormatInt(pc.ID, 10)
		idx, ok := byRef[ref]
		if !ok {
			add(Discrepancy{Kind: OursNotTheirs, Ref: ref, MSISDN: pc.MSISDN, Ours: pc.Amount})
			return nil
		}
		seen[ref] = true
		first := theirs[idx[0]]
		if first.Amount != pc.Amount {
			add(Discrepancy{Kind: AmountDiffers, Ref: ref, Line: first.Line, MSISDN: pc.MSISDN, Ours: pc.Amount, Theirs: first.Amount})
		} else {
			rep.Matched++
		}
		for _, j := range idx[1:] {
			add(Discrepancy{Kind: Duplicated, Ref: ref, Line: theirs[j].Line, MSISDN: theirs[j].MSISDN, Theirs: theirs[j].Amount})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("audit %s: reading our charges: %w", month, err)
	}
	for i, c := range theirs {
		if seen[c.Ref] {
			continue
		}
		kind := TheirsNotOurs
		if byRef[c.Ref][0] != i {
			kind = Duplicated
		}
		add(Discrepancy{Kind: kind, Ref: c.Ref, Line: c.Line, MSISDN: c.MSISDN, Theirs: c.Amount})
	}
	sort.SliceStable(rep.Discrepancies, func(i, j int) bool {
		a, b := rep.Discrepancies[i], rep.Discrepancies[j]
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		if a.Ref != b.Ref {
			return a.Ref < b.Ref
		}
		return a.Line < b.Line
	})
	return rep, nil
}

// Encode writes the report as CSV: a header, one line per discrepancy
// (phone masked), then summary lines "summary,<name>,<value>".
func (rep *AuditReport) Encode(w io.Writer) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"kind", "charge_ref", "carrier_line", "phone", "our_amount", "their_amount"})
	for _, d := range rep.Discrepancies {
		line := ""
		if d.Line > 0 {
			line = strconv.Itoa(d.Line)
		}
		ours, theirs := "", ""
		if d.Ours != 0 {
			ours = d.Ours.String()
		}
		if d.Theirs != 0 {
			theirs = d.Theirs.String()
		}
		cw.Write([]string{d.Kind, d.Ref, line, redact.Phone(d.MSISDN), ours, theirs})
	}
	sum := func(name, v string) { cw.Write([]string{"summary", name, v}) }
	sum("month", rep.Month)
	sum("our_charges", strconv.FormatInt(rep.OurCharges, 10))
	sum("our_total", rep.OurTotal.String())
	sum("carrier_records", strconv.FormatInt(rep.TheirRecords, 10))
	sum("carrier_total", rep.TheirTotal.String())
	sum("matched", strconv.FormatInt(rep.Matched, 10))
	for _, k := range []string{OursNotTheirs, TheirsNotOurs, AmountDiffers, Duplicated} {
		sum(k, strconv.FormatInt(rep.CountsByKind[k], 10)+" ("+rep.AmountsByKind[k].String()+")")
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("writing audit report: %w", err)
	}
	return nil
}

// WriteFile writes the report atomically to path with a .sha256 beside it.
func (rep *AuditReport) WriteFile(path string) error {
	p, err := createPending(path)
	if err != nil {
		return err
	}
	if err := rep.Encode(p); err != nil {
		p.Abort()
		return err
	}
	if err := p.Finish(); err != nil {
		return err
	}
	return p.Commit()
}
