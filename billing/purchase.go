package billing

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/carrierbill/carrierbill/redact"
)

// Purchase creates an order for r (or finds the pending one of the same
// purchase) and, unless r.NoPrompt, writes its prompt event: merchant,
// product, amount and the confirmation code. Refusals (unknown merchant or
// product, amount out of range, limits, frequency, too many pending orders,
// no card) come back as OutcomeRejected with their Reason and a refusal
// event. Errors: ErrBadRequest, ErrIdempotencyConflict, or a storage error
// (nothing was committed; retry).
func (e *Engine) Purchase(ctx context.Context, r PurchaseRequest) (out Result, outErr error) {
	defer e.observe(RequestPurchase, &out, &outErr)
	if err := checkNumber(r.MSISDN); err != nil {
		return Result{}, err
	}
	method := r.method()
	if method != MethodPhone && method != MethodCard {
		return Result{}, badRequest("method: unknown payment method " + string(method))
	}
	m, ok := e.merchantOfCode(r.Merchant)
	if !ok {
		return e.refuse(ctx, r.Source, r.MSISDN, Event{Reason: ReasonUnknownMerchant})
	}
	product, productName, amount, reason := e.priceOf(m, r)
	if reason != "" {
		return e.refuse(ctx, r.Source, r.MSISDN, Event{Reason: reason, Merchant: m})
	}
	if method == MethodCard && !e.CardsOn() {
		return e.refuse(ctx, r.Source, r.MSISDN, Event{Reason: ReasonServiceBusy, Merchant: m})
	}
	if r.IdempotencyKey != "" {
		if res, done, err := e.replayPurchase(ctx, r); done || err != nil {
			return res, err
		}
	}
	if reason, wait := e.allow(ctx, Rule{Name: "purchase_per_hour", Limit: e.cfg.frequency(method).PurchasesPerHour, Period: time.Hour},
		rateKey(method, r.MSISDN)); reason != "" {
		return e.refuse(ctx, r.Source, r.MSISDN, Event{Reason: reason, Merchant: m, RetryAfter: wait})
	}
	check := purchaseCheck(r, m, amount, e.clock.Now())
	verdict, ok := e.assess(ctx, check)
	var res Result
	err := e.store.InTx(ctx, func(tx Tx) error {
		if ev, err := e.screenPurchase(ctx, tx, check, verdict, !ok); err != nil || ev != nil {
			if err != nil {
				return err
			}
			ev.Merchant = m
			res = resultOf(*ev)
			return e.refuseTx(ctx, tx, r.Source, r.MSISDN, *ev)
		}
		var err error
		res, err = e.purchaseTx(ctx, tx, r, m, product, productName, amount)
		return err
	})
	if errors.Is(err, ErrDuplicateOrderKey) { // a concurrent request with the same key won
		if res, done, err := e.replayPurchase(ctx, r); done || err != nil {
			return res, err
		}
	}
	if err != nil {
		return Result{}, fmt.Errorf("purchase from %s: %w", redact.Phone(r.MSISDN), err)
	}
	e.log.Info("purchase", "channel", string(r.Channel), "msisdn", redact.Phone(r.MSISDN), "merchant", m.Code,
		"amount", amount.String(), "method", string(method), "outcome", string(res.Outcome), "reason", string(res.Reason), "order", res.OrderID)
	return res, nil
}

// priceOf finds the product (or checks the open amount) of a purchase.
func (e *Engine) priceOf(m *Merchant, r PurchaseRequest) (product, name string, amount Money, reason Reason) {
	if kw := strings.ToUpper(strings.TrimSpace(r.Product)); kw != "" {
		for _, p := range m.Products {
			if strings.EqualFold(p.Keyword, kw) {
				return strings.ToUpper(p.Keyword), p.Name, p.Amount, ""
			}
		}
		return "", "", 0, ReasonUnknownProduct
	}
	if !m.OpenAmount {
		return "", "", 0, ReasonUnknownProduct
	}
	if r.Amount < m.MinAmount || r.Amount > m.MaxAmount {
		return "", "", 0, ReasonAmountOutOfRange
	}
	return "", m.Name, r.Amount, ""
}

// replayPurchase answers a purchase whose idempotency key is known: the
// same request gets its order back, another is a conflict. done is false
// when the key is new.
func (e *Engine) replayPurchase(ctx context.Context, r PurchaseRequest) (res Result, done bool, err error) {
	err = e.store.InTx(ctx, func(tx Tx) error {
		o, err := tx.OrderByKey(ctx, r.IdempotencyKey)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("looking up idempotency key: %w", err)
		}
		if o.RequestHash != r.requestHash() {
			return ErrIdempotencyConflict
		}
		done = true
		res = Result{Outcome: OutcomeResent, OrderID: o.ID, Order: &o}
		return markMO(ctx, tx, r.MO, e.clock.Now())
	})
	return res, done, err
}

// purchaseTx is Purchase inside its transaction.
func (e *Engine) purchaseTx(ctx context.Context, tx Tx, r PurchaseRequest, m *Merchant, product, productName string, amount Money) (Result, error) {
	now := e.clock.Now()
	method := r.method()
	refuse := func(ev Event) (Result, error) {
		ev.Merchant = m
		return resultOf(ev), e.refuseTx(ctx, tx, r.Source, r.MSISDN, ev)
	}
	var card *Card
	if method == MethodCard {
		cards, err := tx.ActiveCards(ctx, r.MSISDN)
		if err != nil {
			return Result{}, fmt.Errorf("reading the cards: %w", err)
		}
		c, ok := chooseCard(cards, r.CardLast4)
		if !ok {
			return refuse(Event{Reason: ReasonNoCard})
		}
		card = &c
	}
	o, err := tx.FindPendingOrder(ctx, r.MSISDN, m.Code, product, amount, method)
	switch {
	case err == nil && o.ExpiresAt.After(now) && r.IdempotencyKey == "":
		if card != nil { // the subscriber may have named another card
			if err := tx.SetOrderCard(ctx, o.ID, card.ID); err != nil {
				return Result{}, fmt.Errorf("choosing the card of order %d: %w", o.ID, err)
			}
		}
		if !r.NoPrompt {
			if err := e.notify(ctx, tx, Event{Kind: EventPrompt, Channel: r.Channel, Origin: o.ServiceAddr, MSISDN: r.MSISDN, Merchant: m, Order: &o, Card: card}); err != nil {
				return Result{}, err
			}
		}
		return Result{Outcome: OutcomeResent, OrderID: o.ID, Order: &o}, markMO(ctx, tx, r.MO, now)
	case err == nil && o.ExpiresAt.After(now): // a new keyed request for the same thing: the old order gives way
		if err := e.endOrder(ctx, tx, o, OrderVoided, ReasonCancelled, now); err != nil {
			return Result{}, err
		}
	case err == nil: // pending but past its validity: expire it, then a new order
		if err := e.endOrder(ctx, tx, o, OrderExpired, ReasonExpired, now); err != nil {
			return Result{}, err
		}
	case !errors.Is(err, ErrNotFound):
		return Result{}, fmt.Errorf("looking up the pending order: %w", err)
	}
	if limit := e.cfg.MaxPendingOrders; limit > 0 {
		n, err := tx.CountPendingOrders(ctx, r.MSISDN, now)
		if err != nil {
			return Result{}, fmt.Errorf("counting pending orders: %w", err)
		}
		if n >= limit {
			return refuse(Event{Reason: ReasonTooManyPending})
		}
	}
	if reason, err := e.subscriptionRefusal(ctx, tx, r, m, product); err != nil || reason != "" {
		if err != nil {
			return Result{}, err
		}
		return refuse(Event{Reason: reason})
	}
	// Pre-check the limits so the subscriber learns now, not at the code.
	q, err := e.lockQuota(ctx, tx, r.MSISDN, method, now)
	if err != nil {
		return Result{}, err
	}
	lim := e.cfg.Limits[method]
	if reason := checkLimits(lim, q, amount); reason != "" {
		return refuse(Event{Reason: reason, Quota: left(lim, q), Limits: lim})
	}
	code, err := e.newCode()
	if err != nil {
		return Result{}, err
	}
	o = Order{
		MSISDN: r.MSISDN, Merchant: m.Code, Product: product, ProductName: productName,
		Amount: amount, Method: method, Status: OrderPending, Code: code, MerchantRef: r.MerchantRef,
		ServiceAddr: r.Origin, Channel: r.Channel, IdempotencyKey: r.IdempotencyKey,
		CreatedAt: now, ExpiresAt: now.Add(e.cfg.CodeValidity), UpdatedAt: now,
	}
	if r.IdempotencyKey != "" {
		o.RequestHash = r.requestHash()
	}
	if o.ID, err = tx.InsertOrder(ctx, o); err != nil {
		return Result{}, fmt.Errorf("creating the order: %w", err)
	}
	if card != nil {
		if err := tx.SetOrderCard(ctx, o.ID, card.ID); err != nil {
			return Result{}, fmt.Errorf("recording the card of order %d: %w", o.ID, err)
		}
	}
	if !r.NoPrompt {
		if err := e.notify(ctx, tx, Event{Kind: EventPrompt, Channel: r.Channel, Origin: o.ServiceAddr, MSISDN: r.MSISDN, Merchant: m, Order: &o, Card: card}); err != nil {
			return Result{}, err
		}
	}
	return Result{Outcome: OutcomePrompted, OrderID: o.ID, Order: &o, Quota: left(lim, q)}, markMO(ctx, tx, r.MO, now)
}

// endOrder moves a pending order to a final state without a charge.
func (e *Engine) endOrder(ctx context.Context, tx Tx, o Order, status OrderStatus, reason Reason, now time.Time) error {
	o.Status, o.Reason, o.UpdatedAt = status, reason, now
	if err := tx.UpdateOrder(ctx, o); err != nil {
		return fmt.Errorf("ending order %d (%s): %w", o.ID, status, err)
	}
	return nil
}

// Cancel cancels a pending order: it becomes voided with reason cancelled
// and nothing is charged; an EventCancelled goes to the Notifier. With
// OrderID 0 it cancels r.MSISDN's newest pending order, and refuses with
// no_pending_order when there is none. Errors: ErrNotFound (no such
// order, or not r.MSISDN's), ErrNotCancellable (not pending), or a
// storage error.
func (e *Engine) Cancel(ctx context.Context, r CancelRequest) (out Result, outErr error) {
	defer e.observe(RequestCancel, &out, &outErr)
	var res Result
	err := e.store.InTx(ctx, func(tx Tx) error {
		now := e.clock.Now()
		o, err := e.orderToCancel(ctx, tx, r, now)
		if errors.Is(err, errNoPending) {
			ev := Event{Reason: ReasonNoPendingOrder}
			res = resultOf(ev)
			return e.refuseTx(ctx, tx, r.Source, r.MSISDN, ev)
		}
		if err != nil {
			return err
		}
		if r.MSISDN != "" && o.MSISDN != r.MSISDN {
			return fmt.Errorf("order %d: %w", r.OrderID, ErrNotFound)
		}
		if o.Status != OrderPending {
			return ErrNotCancellable
		}
		if err := e.endOrder(ctx, tx, o, OrderVoided, ReasonCancelled, now); err != nil {
			return err
		}
		o.Status, o.Reason, o.UpdatedAt = OrderVoided, ReasonCancelled, now
		res = Result{Outcome: OutcomeCancelled, Reason: ReasonCancelled, OrderID: o.ID, Order: &o}
		if err := e.notify(ctx, tx, Event{Kind: EventCancelled, Channel: r.Channel, Origin: o.ServiceAddr, MSISDN: o.MSISDN, Order: &o}); err != nil {
			return err
		}
		return markMO(ctx, tx, r.MO, now)
	})
	if err != nil {
		return Result{}, fmt.Errorf("cancelling order %d: %w", r.OrderID, err)
	}
	e.log.Info("order cancelled", "channel", string(r.Channel), "order", r.OrderID)
	return res, nil
}

var errNoPending = errors.New("billing: no pending order")

// orderToCancel finds (and locks) the order a cancel names.
func (e *Engine) orderToCancel(ctx context.Context, tx Tx, r CancelRequest, now time.Time) (Order, error) {
	if r.OrderID != 0 {
		o, err := tx.GetOrder(ctx, r.OrderID)
		if err != nil {
			return Order{}, fmt.Errorf("reading order %d: %w", r.OrderID, err)
		}
		return o, nil
	}
	if err := checkNumber(r.MSISDN); err != nil {
		return Order{}, err
	}
	os, err := tx.OrdersSince(ctx, r.MSISDN, now.Add(-e.cfg.CodeValidity))
	if err != nil {
		return Order{}, fmt.Errorf("reading the orders: %w", err)
	}
	for _, o := range os {
		if o.Status == OrderPending && o.ExpiresAt.After(now) {
			return o, nil
		}
	}
	return Order{}, errNoPending
}

// Query answers a number's quota left and last payments, and hands the
// Notifier an EventQuota (SMS CX texts it back).
func (e *Engine) Query(ctx context.Context, r QueryRequest) (QueryResult, error) {
	if err := checkNumber(r.MSISDN); err != nil {
		return QueryResult{}, err
	}
	last := r.Last
	if last <= 0 {
		last = 5
	}
	var out QueryResult
	err := e.store.InTx(ctx, func(tx Tx) error {
		now := e.clock.Now()
		q, err := e.lockQuota(ctx, tx, r.MSISDN, MethodPhone, now)
		if err != nil {
			return err
		}
		out = QueryResult{Phone: *left(e.cfg.Limits[MethodPhone], q)}
		if out.Payments, err = tx.RecentPayments(ctx, r.MSISDN, last); err != nil {
			return fmt.Errorf("reading the last payments: %w", err)
		}
		for i := range out.Payments {
			if m, ok := e.cfg.merchant(out.Payments[i].Merchant); ok {
				out.Payments[i].MerchantName = m.Name
			}
		}
		if e.CardsOn() { // the bank-card quota is kept apart
			cq, err := e.lockQuota(ctx, tx, r.MSISDN, MethodCard, now)
			if err != nil {
				return err
			}
			out.Card = left(e.cfg.Limits[MethodCard], cq)
		}
		if err := e.notify(ctx, tx, Event{Kind: EventQuota, Channel: r.Channel, Origin: r.Origin, MSISDN: r.MSISDN, Query: &out}); err != nil {
			return err
		}
		return markMO(ctx, tx, r.MO, now)
	})
	if err != nil {
		return QueryResult{}, fmt.Errorf("query from %s: %w", redact.Phone(r.MSISDN), err)
	}
	return out, nil
}

// ExpireOrders expires pending orders past their validity and hands the
// Notifier an EventExpired for each. Safe to run in several processes at
// once. It returns how many it expired.
func (e *Engine) ExpireOrders(ctx context.Context) (int, error) {
	total := 0
	for {
		n := 0
		err := e.store.InTx(ctx, func(tx Tx) error {
			now := e.clock.Now()
			os, err := tx.DueOrders(ctx, now, 100)
			if err != nil {
				return fmt.Errorf("finding expired orders: %w", err)
			}
			for _, o := range os {
				if err := e.endOrder(ctx, tx, o, OrderExpired, ReasonExpired, now); err != nil {
					return err
				}
				o.Status, o.Reason = OrderExpired, ReasonExpired
				if err := e.notify(ctx, tx, Event{Kind: EventExpired, Channel: o.Channel, Origin: o.ServiceAddr, MSISDN: o.MSISDN, Order: &o}); err != nil {
					return err
				}
			}
			n = len(os)
			return nil
		})
		if err != nil {
			return total, err
		}
		total += n
		if n < 100 {
			return total, nil
		}
	}
}

// checkNumber is the engine's own guard on a number a channel hands it:
// channels normalize at the edge; the engine refuses what is plainly not
// a number rather than keep a second quota under another spelling.
func checkNumber(msisdn string) error {
	if msisdn == "" || len(msisdn) > 16 {
		return badRequest("msisdn: not a phone number")
	}
	for i, c := range msisdn {
		if (c < '0' || c > '9') && !(i == 0 && c == '+') {
			return badRequest("msisdn: not a phone number")
		}
	}
	return nil
}
