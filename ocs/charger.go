package ocs

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strings"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/clock"
	"github.com/carrierbill/carrierbill/redact"
)

// ChargeInfo is what the charger learns about a charge from its key: the
// payer, the amount, and the merchant and product it pays for.
type ChargeInfo struct {
	MSISDN   string
	Amount   billing.Money
	Merchant string
	Product  string // "" for an open amount
}

// Describer finds a charge by its idempotency key (the gateway reads the
// order behind billing.ChargeKey). The recovery sweep knows only the key.
type Describer func(ctx context.Context, key string) (ChargeInfo, error)

// Service is how the OCS rates a payment: the Service-Identifier and the
// Rating-Group of its Multiple-Services-Credit-Control.
type Service struct {
	Identifier  uint32
	RatingGroup uint32
}

// ServiceRule assigns a Service to a merchant, or to one of its products.
type ServiceRule struct {
	Merchant string
	Product  string // "": every product of Merchant (and open amounts)
	Service
}

// Options configure a Charger.
type Options struct {
	Client ClientOptions
	// ServiceContextID names the charging specification to the OCS (e.g.
	// "32274@3gpp.org"); required.
	ServiceContextID string
	// SessionPrefix is the DiameterIdentity that starts every Session-Id.
	// Session-Ids are derived from idempotency keys, so every gateway
	// process of one deployment must use the same prefix (default
	// OriginRealm, never the per-process OriginHost).
	SessionPrefix string
	// Default is the Service of a payment no rule names; Rules assign one
	// per merchant or per product (a product rule wins).
	Default Service
	Rules   []ServiceRule
	// MerchantInfo says where the merchant and product go in a request:
	// InServiceInformation (the default), InServiceParameterInfo or
	// Nowhere.
	MerchantInfo MerchantInfo
	// Describe finds a charge from its key (Status and Refund need the
	// merchant, product and amount); nil: the Default service only, and
	// Status cannot resolve.
	Describe Describer
	Clock    clock.Clock
	Logger   *slog.Logger
}

// MerchantInfo is where a request carries the merchant and the product.
type MerchantInfo string

// Where the merchant and product go.
const (
	// InServiceInformation: 3GPP Service-Information (873) holding
	// Service-Specific-Info (1249) {Service-Specific-Type 1 merchant / 2
	// product, Service-Specific-Data}, vendor 10415, not mandatory.
	InServiceInformation MerchantInfo = "service_information"
	// InServiceParameterInfo: RFC 4006 Service-Parameter-Info (440)
	// {Service-Parameter-Type 1 merchant / 2 product, Service-Parameter-
	// Value}, at command level, not mandatory.
	InServiceParameterInfo MerchantInfo = "service_parameter_info"
	// Nowhere: the OCS rates by Service-Identifier and Rating-Group alone.
	Nowhere MerchantInfo = "none"
)

// Charger is billing.Charger over Diameter credit control.
type Charger struct {
	o   Options
	c   *Client
	log *slog.Logger
}

var _ billing.Charger = (*Charger)(nil)

// New checks o and starts connecting to the OCS peers.
func New(o Options) (*Charger, error) {
	if o.ServiceContextID == "" {
		return nil, errors.New("ocs: ServiceContextID is required")
	}
	if o.SessionPrefix == "" {
		o.SessionPrefix = o.Client.OriginRealm
	}
	switch o.MerchantInfo {
	case "":
		o.MerchantInfo = InServiceInformation
	case InServiceInformation, InServiceParameterInfo, Nowhere:
	default:
		return nil, fmt.Errorf("ocs: MerchantInfo %q is not %s, %s or %s", o.MerchantInfo, InServiceInformation, InServiceParameterInfo, Nowhere)
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.Client.Logger = o.Logger
	c, err := NewClient(o.Client)
	if err != nil {
		return nil, err
	}
	return &Charger{o: o, c: c, log: o.Logger}, nil
}

// Client is the Diameter client underneath (peers, failover).
func (ch *Charger) Client() *Client { return ch.c }

// Close disconnects from the OCS.
func (ch *Charger) Close() error { return ch.c.Close() }

// SessionID derives the Session-Id of an idempotency key: the prefix, the
// key's 64-bit FNV-1a hash as RFC 6733's two 32-bit halves, then the key
// itself. The same key gives the same Session-Id in every process and
// after every restart; two keys never share one.
func SessionID(prefix, key string) string {
	h := fnv.New64a()
	h.Write([]byte(key))
	s := h.Sum64()
	return fmt.Sprintf("%s;%d;%d;%s", prefix, uint32(s>>32), uint32(s), key)
}

// ServiceFor returns the Service of a merchant's product: a rule for the
// product, else one for the merchant, else the default.
func (o *Options) ServiceFor(merchant, product string) Service {
	var m *Service
	for i := range o.Rules {
		r := &o.Rules[i]
		if r.Merchant != merchant {
			continue
		}
		if r.Product != "" && strings.EqualFold(r.Product, product) {
			return r.Service
		}
		if r.Product == "" && m == nil {
			m = &r.Service
		}
	}
	if m != nil {
		return *m
	}
	return o.Default
}

// Request numbers of the session flow.
const (
	numInitial   = 0
	numTerminate = 1
)

// ccr builds a Credit-Control-Request.
func (ch *Charger) ccr(sessionID string, reqType, reqNum uint32, info ChargeInfo) *diam.Message {
	cl := ch.o.Client
	m := ch.c.baseRequest(cmdCreditControl, AppCreditControl)
	// Session-Id first (RFC 6733 8.8).
	m.InsertAVP(diam.NewAVP(avp.SessionID, avp.Mbit, 0, datatype.UTF8String(sessionID)))
	m.NewAVP(avp.DestinationRealm, avp.Mbit, 0, datatype.DiameterIdentity(cl.DestinationRealm))
	if cl.DestinationHost != "" {
		m.NewAVP(avp.DestinationHost, avp.Mbit, 0, datatype.DiameterIdentity(cl.DestinationHost))
	}
	m.NewAVP(avp.AuthApplicationID, avp.Mbit, 0, datatype.Unsigned32(AppCreditControl))
	m.NewAVP(avp.ServiceContextID, avp.Mbit, 0, datatype.UTF8String(ch.o.ServiceContextID))
	m.NewAVP(avp.CCRequestType, avp.Mbit, 0, datatype.Enumerated(reqType))
	m.NewAVP(avp.CCRequestNumber, avp.Mbit, 0, datatype.Unsigned32(reqNum))
	m.NewAVP(avp.EventTimestamp, avp.Mbit, 0, datatype.Time(ch.o.Clock.Now()))
	if info.MSISDN != "" {
		m.NewAVP(avp.SubscriptionID, avp.Mbit, 0, &diam.GroupedAVP{AVP: []*diam.AVP{
			diam.NewAVP(avp.SubscriptionIDType, avp.Mbit, 0, datatype.Enumerated(subscriptionE164)),
			// E.164 in Diameter: the digits, no "+".
			diam.NewAVP(avp.SubscriptionIDData, avp.Mbit, 0, datatype.UTF8String(strings.TrimPrefix(info.MSISDN, "+"))),
		}})
	}
	svc := ch.o.ServiceFor(info.Merchant, info.Product)
	mscc := []*diam.AVP{}
	switch reqType {
	case requestInitial, requestEvent:
		mscc = append(mscc, diam.NewAVP(avp.RequestedServiceUnit, avp.Mbit, 0, &diam.GroupedAVP{AVP: []*diam.AVP{Money(int64(info.Amount))}}))
	case requestTermination:
		mscc = append(mscc, diam.NewAVP(avp.UsedServiceUnit, avp.Mbit, 0, &diam.GroupedAVP{AVP: []*diam.AVP{Money(int64(info.Amount))}}))
	}
	mscc = append(mscc,
		diam.NewAVP(avp.ServiceIdentifier, avp.Mbit, 0, datatype.Unsigned32(svc.Identifier)),
		diam.NewAVP(avp.RatingGroup, avp.Mbit, 0, datatype.Unsigned32(svc.RatingGroup)))
	if reqType == requestEvent {
		m.NewAVP(avp.RequestedAction, avp.Mbit, 0, datatype.Enumerated(actionRefundAccount))
	}
	if reqType == requestInitial {
		m.NewAVP(avp.MultipleServicesIndicator, avp.Mbit, 0, datatype.Enumerated(1))
	}
	m.NewAVP(avp.MultipleServicesCreditControl, avp.Mbit, 0, &diam.GroupedAVP{AVP: mscc})
	if reqType == requestTermination {
		m.NewAVP(avp.TerminationCause, avp.Mbit, 0, datatype.Enumerated(terminationLogout))
	}
	if info.Merchant != "" {
		ch.merchantInfo(m, info)
	}
	return m
}

// merchantInfo adds the merchant and product where Options.MerchantInfo
// says. Neither is mandatory (no M bit): an OCS that does not read them
// ignores them.
func (ch *Charger) merchantInfo(m *diam.Message, info ChargeInfo) {
	pairs := []struct {
		typ  uint32
		data string
	}{{specificMerchant, info.Merchant}, {specificProduct, info.Product}}
	switch ch.o.MerchantInfo {
	case Nowhere:
	case InServiceParameterInfo:
		for _, p := range pairs {
			if p.data == "" {
				continue
			}
			m.NewAVP(avp.ServiceParameterInfo, 0, 0, &diam.GroupedAVP{AVP: []*diam.AVP{
				diam.NewAVP(avp.ServiceParameterType, 0, 0, datatype.Unsigned32(p.typ)),
				diam.NewAVP(avp.ServiceParameterValue, 0, 0, datatype.OctetString(p.data)),
			}})
		}
	default: // InServiceInformation
		var spec []*diam.AVP
		for _, p := range pairs {
			if p.data != "" {
				spec = append(spec, specific(p.typ, p.data))
			}
		}
		m.NewAVP(avp.ServiceInformation, avp.Vbit, VendorTGPP, &diam.GroupedAVP{AVP: spec})
	}
}

func specific(typ uint32, data string) *diam.AVP {
	return diam.NewAVP(avp.ServiceSpecificInfo, avp.Vbit, VendorTGPP, &diam.GroupedAVP{AVP: []*diam.AVP{
		diam.NewAVP(avp.ServiceSpecificData, avp.Vbit, VendorTGPP, datatype.UTF8String(data)),
		diam.NewAVP(avp.ServiceSpecificType, avp.Vbit, VendorTGPP, datatype.Unsigned32(typ)),
	}})
}

// answerCode is the Result-Code that decides a CCA: the MSCC's when the
// command-level code is success and the MSCC carries its own (Ro puts
// 4012 there), else the command-level one.
func answerCode(a *diam.Message) uint32 {
	rc := ResultCode(a)
	if rc == CodeSuccess || rc == CodeLimitedSuccess {
		if v, ok := Uint(Find(Children(Find(a.AVP, avp.MultipleServicesCreditControl)), avp.ResultCode)); ok {
			return uint32(v)
		}
	}
	return rc
}

// granted is the money a CCA-I granted, in fen (the MSCC's, else the
// command level's Granted-Service-Unit); ok false when it names none.
func granted(a *diam.Message) (int64, bool) {
	if g := Find(Children(Find(a.AVP, avp.MultipleServicesCreditControl)), avp.GrantedServiceUnit); g != nil {
		return Fen(g)
	}
	return Fen(Find(a.AVP, avp.GrantedServiceUnit))
}

// unknownOutcome wraps why an exchange's outcome is unknown.
type unknownOutcome struct{ err error }

func (u *unknownOutcome) Error() string { return "ocs: outcome unknown: " + u.err.Error() }
func (u *unknownOutcome) Unwrap() error { return u.err }

// exchange sends a CCR and classifies the answer.
func (ch *Charger) exchange(ctx context.Context, m *diam.Message) (Outcome, billing.Reason, uint32, *diam.Message, error) {
	a, err := ch.c.Exchange(ctx, m)
	if err != nil {
		return Unknown, "", 0, nil, &unknownOutcome{err}
	}
	// An answer for another session is not this request's answer.
	if want, got := Text(Find(m.AVP, avp.SessionID)), Text(Find(a.AVP, avp.SessionID)); got != want {
		return Unknown, "", 0, nil, &unknownOutcome{fmt.Errorf("%w: answer for session %q", ErrMalformed, got)}
	}
	rc := answerCode(a)
	out, reason := Classify(rc)
	if out == Unknown {
		return Unknown, "", rc, a, &unknownOutcome{fmt.Errorf("OCS answered %s", CodeName(rc))}
	}
	return out, reason, rc, a, nil
}

// Debit implements billing.Charger with a credit-control session: CCR-I
// reserves amount (Requested-Service-Unit), CCR-T debits it (Used-Service-
// Unit). A refusal of the CCR-I is *billing.Declined and leaves no session
// open (RFC 4006 ends a session whose initial request failed); a grant
// smaller than amount is released with a CCR-T using nothing and declined
// insufficient_balance (even when the release goes unanswered: using
// nothing never debits). A CCR-T answered with a refusal debited nothing and
// is declined too. Anything unanswered is an unknown outcome.
func (ch *Charger) Debit(ctx context.Context, key, msisdn string, amount billing.Money) error {
	info := ChargeInfo{MSISDN: msisdn, Amount: amount}
	if ch.o.Describe != nil {
		d, err := ch.o.Describe(ctx, key)
		if err != nil {
			return fmt.Errorf("describing charge %s: %w", key, err)
		}
		info.Merchant, info.Product = d.Merchant, d.Product
	}
	sid := SessionID(ch.o.SessionPrefix, key)
	out, reason, rc, a, err := ch.exchange(ctx, ch.ccr(sid, requestInitial, numInitial, info))
	if err != nil {
		return fmt.Errorf("reserving %s for %s (CCR-I): %w", amount, key, err)
	}
	switch out {
	case Refused, NoSession:
		ch.log.Info("OCS refused the reservation", "key", key, "msisdn", redact.Phone(msisdn), "result", CodeName(rc))
		return &billing.Declined{Reason: reason}
	}
	if g, ok := granted(a); ok && g < int64(amount) {
		// A partial grant cannot pay: give it back, debit nothing.
		release := info
		release.Amount = 0
		// Declined whatever the release's answer: a CCR-T using nothing
		// cannot debit, and a release that never arrived lets the
		// reservation lapse at the OCS. (Reporting it unknown would send
		// the recovery sweep's CCR-T with the full amount, which an OCS
		// that saw the release would answer as a duplicate: "done".)
		if _, _, _, _, err := ch.exchange(ctx, ch.ccr(sid, requestTermination, numTerminate, release)); err != nil {
			ch.log.Warn("releasing a partial grant failed; the OCS lets it lapse", "key", key, "granted", billing.Money(g).String(), "err", err)
		}
		return &billing.Declined{Reason: billing.ReasonInsufficientBalance}
	}
	out, reason, rc, _, err = ch.exchange(ctx, ch.ccr(sid, requestTermination, numTerminate, info))
	if err != nil {
		return fmt.Errorf("debiting %s for %s (CCR-T): %w", amount, key, err)
	}
	if out != Granted {
		ch.log.Warn("OCS refused the debit of a reservation", "key", key, "result", CodeName(rc))
		return &billing.Declined{Reason: reason}
	}
	return nil
}

// Status implements billing.Charger for the recovery sweep: it sends the
// charge's CCR-T again — same Session-Id, CC-Request-Number 1, the same
// Used-Service-Unit, the T bit set — which the OCS answers as a duplicate
// when it already processed it (debited once: DebitDone), processes now
// when the reservation is still held (the subscriber's consented payment
// completes: DebitDone), or refuses (DebitNone: no session, the
// reservation refused or lapsed; the Session-Id is then spent, and a later
// CCR-I with it is refused by the OCS). An unknown outcome is an error:
// the sweep asks again later.
func (ch *Charger) Status(ctx context.Context, key string) (billing.DebitStatus, error) {
	if ch.o.Describe == nil {
		return "", fmt.Errorf("ocs: cannot resolve %s: no Describer to find its amount", key)
	}
	info, err := ch.o.Describe(ctx, key)
	if err != nil {
		return "", fmt.Errorf("describing charge %s: %w", key, err)
	}
	m := ch.ccr(SessionID(ch.o.SessionPrefix, key), requestTermination, numTerminate, info)
	m.Header.CommandFlags |= flagRetransmit
	out, _, rc, _, err := ch.exchange(ctx, m)
	if err != nil {
		return "", fmt.Errorf("asking the OCS about %s (CCR-T again): %w", key, err)
	}
	ch.log.Info("OCS resolved a charge", "key", key, "result", CodeName(rc))
	if out == Granted {
		return billing.DebitDone, nil
	}
	return billing.DebitNone, nil
}

// Refund implements billing.Charger with a credit-control event: CCR-Event
// with Requested-Action REFUND_ACCOUNT and the amount as Requested-
// Service-Unit (RFC 4006 6.4), in a session of its own derived from
// refundKey, rated like the charge it refunds. A retry with the same key
// is the same Session-Id and request number, which the OCS answers as a
// duplicate. A refusal is *billing.Declined; anything unanswered is an
// error with the outcome unknown (retry with the same key).
func (ch *Charger) Refund(ctx context.Context, refundKey, chargeKey, msisdn string, amount billing.Money) error {
	info := ChargeInfo{MSISDN: msisdn, Amount: amount}
	if ch.o.Describe != nil {
		d, err := ch.o.Describe(ctx, chargeKey)
		if err != nil {
			return fmt.Errorf("describing charge %s: %w", chargeKey, err)
		}
		info.Merchant, info.Product = d.Merchant, d.Product
	}
	out, reason, rc, _, err := ch.exchange(ctx, ch.ccr(SessionID(ch.o.SessionPrefix, refundKey), requestEvent, numInitial, info))
	if err != nil {
		return fmt.Errorf("refunding %s under %s (CCR-Event REFUND_ACCOUNT): %w", amount, refundKey, err)
	}
	if out != Granted {
		ch.log.Warn("OCS refused a refund", "key", refundKey, "result", CodeName(rc))
		if reason == "" {
			reason = billing.ReasonChargeFailed
		}
		return &billing.Declined{Reason: reason}
	}
	return nil
}
