package settlement

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/carrierbill/carrierbill/redact"
)

// StatementHeader is the statement's header line.
var StatementHeader = []string{"time", "transaction_id", "merchant_ref", "phone", "product", "type", "method", "amount", "status"}

// Method names as written in the statement's method column.
const (
	MethodPhoneAccount = "phone_account"
	MethodBankCard     = "bank_card"
)

// statementWriter writes one merchant's statement for one day.
type statementWriter struct {
	bw     *bufio.Writer
	cw     *csv.Writer
	loc    *time.Location
	totals Totals
	rec    []string
}

func newStatementWriter(w io.Writer, loc *time.Location) (*statementWriter, error) {
	bw := bufio.NewWriterSize(w, 64<<10)
	cw := csv.NewWriter(bw)
	s := &statementWriter{bw: bw, cw: cw, loc: loc, rec: make([]string, len(StatementHeader))}
	if err := cw.Write(StatementHeader); err != nil {
		return nil, fmt.Errorf("writing statement header: %w", err)
	}
	return s, nil
}

// Write adds one line.
func (s *statementWriter) Write(l Line) error {
	s.totals.Add(l)
	r := s.rec
	r[0] = l.At.In(s.loc).Format("2006-01-02 15:04:05")
	r[1] = strconv.FormatInt(l.ChargeID, 10)
	r[2] = l.MerchantRef
	r[3] = redact.Phone(l.MSISDN)
	r[4] = l.Product
	r[5] = string(l.Kind)
	r[6] = methodName(l.Method)
	if l.Kind == KindRefund {
		r[7] = (-l.Amount).String()
		r[8] = "refunded"
	} else {
		r[7] = l.Amount.String()
		r[8] = "success"
	}
	return s.cw.Write(r)
}

// Close writes the summary line and flushes.
func (s *statementWriter) Close() (Totals, error) {
	t := s.totals
	if err := s.cw.Write([]string{"summary", strconv.FormatInt(t.Payments+t.Refunds, 10), t.Paid.String(), t.Refunded.String(), t.Net().String()}); err != nil {
		return t, fmt.Errorf("writing statement summary: %w", err)
	}
	s.cw.Flush()
	if err := s.cw.Error(); err != nil {
		return t, fmt.Errorf("writing statement: %w", err)
	}
	if err := s.bw.Flush(); err != nil {
		return t, fmt.Errorf("writing statement: %w", err)
	}
	return t, nil
}

func methodName(m string) string {
	switch m {
	case "phone":
		return MethodPhoneAccount
	case "card":
		return MethodBankCard
	}
	return m
}
