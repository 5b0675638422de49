package billing

import (
	"context"
	"errors"
	"strings"
	"time"
)

// This file is the operator's search of orders and payments (issue 16):
// by order id, by transaction (charge) id, by the merchant's reference, or
// by a phone number, whole or masked as the logs show it ("138****0001").
// Engine.Lookup then shows one order in full.

// OrderQuery says which orders to find. The first field set decides: OrderID,
// ChargeID, Merchant with MerchantRef (or MerchantRef alone, any merchant),
// MSISDN (the canonical number), Mask.
type OrderQuery struct {
	OrderID     int64
	ChargeID    int64
	Merchant    string
	MerchantRef string
	MSISDN      string
	// Mask is a masked number: digits, a run of '*' standing for as many
	// hidden digits, digits ("138****0001"); see MaskPattern.
	Mask  string
	Limit int // default 20, at most 200
}

// OrderHit is one order a search found, without its confirmation code.
type OrderHit struct {
	OrderID      int64
	ChargeID     int64 // 0: never confirmed
	ChargeStatus ChargeStatus
	MSISDN       string
	Merchant     string
	MerchantRef  string
	ProductName  string
	Amount       Money
	Method       Method
	Status       OrderStatus
	Reason       Reason
	Refunded     Money
	CreatedAt    time.Time
}

// OrderSearcher finds orders for the operator. Both stores implement it;
// it reads without locks, newest first.
type OrderSearcher interface {
	SearchOrders(ctx context.Context, q OrderQuery) ([]OrderHit, error)
}

// ErrBadMask: a masked number that is not digits, stars, digits.
var ErrBadMask = errors.New("billing: a masked number is digits, a run of '*', digits (138****0001)")

// MaskPattern turns a masked number into a SQL LIKE pattern on the stored
// canonical number: "138****0001" → "%138____0001" (a leading '+' or
// country code may come before the visible digits; each '*' is one digit).
func MaskPattern(mask string) (string, error) {
	mask = strings.TrimPrefix(strings.TrimSpace(mask), "+")
	i := strings.IndexByte(mask, '*')
	if i < 0 {
		return "", ErrBadMask
	}
	j := strings.LastIndexByte(mask, '*') + 1
	pre, stars, suf := mask[:i], mask[i:j], mask[j:]
	if strings.Trim(stars, "*") != "" || len(pre)+len(suf) < 4 || strings.Trim(pre+suf, "0123456789") != "" {
		return "", ErrBadMask
	}
	return "%" + pre + strings.Repeat("_", len(stars)) + suf, nil
}

// Cap returns the query's limit with its default (20) and cap (200).
func (q OrderQuery) Cap() int {
	switch {
	case q.Limit <= 0:
		return 20
	case q.Limit > 200:
		return 200
	}
	return q.Limit
}

// MTReader reads the MTs written to a number (the operator console's phone
// simulator shows them as the answers). Both stores implement it.
type MTReader interface {
	// MTsTo returns up to limit outbox rows to msisdn created at or after
	// since, oldest first. A secret MT shows only its masked body.
	MTsTo(ctx context.Context, msisdn string, since time.Time, limit int) ([]OutboxMsg, error)
}
