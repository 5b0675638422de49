package merchantapi

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/carrierbill/carrierbill/billing"
)

// The request bodies, field for field as CAMARA's schemas name them. The
// decoder refuses fields that are not here (and so not in the schema), so a
// misspelt field is an error naming it, never silently dropped.

type chargingInformation struct {
	Amount        jsonNumber  `json:"amount"`
	Currency      string      `json:"currency"`
	Description   string      `json:"description"`
	IsTaxIncluded *bool       `json:"isTaxIncluded,omitempty"`
	TaxAmount     *jsonNumber `json:"taxAmount,omitempty"`
}

type chargingMetaData struct {
	MerchantName         string      `json:"merchantName,omitempty"`
	MerchantIdentifier   string      `json:"merchantIdentifier,omitempty"`
	Fee                  *jsonNumber `json:"fee,omitempty"`
	PurchaseCategoryCode string      `json:"purchaseCategoryCode,omitempty"`
	Channel              string      `json:"channel,omitempty"`
	ServiceID            string      `json:"serviceId,omitempty"`
	ProductID            string      `json:"productId,omitempty"`
}

type paymentItem struct {
	ID            string      `json:"id"`
	Amount        jsonNumber  `json:"amount"`
	Currency      string      `json:"currency"`
	Description   string      `json:"description"`
	IsTaxIncluded *bool       `json:"isTaxIncluded,omitempty"`
	TaxAmount     *jsonNumber `json:"taxAmount,omitempty"`
}

type paymentAmount struct {
	ChargingInformation *chargingInformation `json:"chargingInformation"`
	ChargingMetaData    *chargingMetaData    `json:"chargingMetaData,omitempty"`
	PaymentDetails      []paymentItem        `json:"paymentDetails,omitempty"`
}

// amountTransaction is the input of createPayment and preparePayment.
type amountTransaction struct {
	PhoneNumber      string         `json:"phoneNumber,omitempty"`
	ClientCorrelator string         `json:"clientCorrelator,omitempty"`
	PaymentAmount    *paymentAmount `json:"paymentAmount"`
	ReferenceCode    string         `json:"referenceCode"`
}

type sinkCredential struct {
	CredentialType        string `json:"credentialType"`
	Identifier            string `json:"identifier,omitempty"`
	Secret                string `json:"secret,omitempty"`
	AccessToken           string `json:"accessToken,omitempty"`
	AccessTokenExpiresUtc string `json:"accessTokenExpiresUtc,omitempty"`
	AccessTokenType       string `json:"accessTokenType,omitempty"`
	RefreshToken          string `json:"refreshToken,omitempty"`
	RefreshTokenEndpoint  string `json:"refreshTokenEndpoint,omitempty"`
}

// paymentBody is createPayment's and preparePayment's body.
type paymentBody struct {
	AmountTransaction *amountTransaction `json:"amountTransaction"`
	Sink              string             `json:"sink,omitempty"`
	SinkCredential    *sinkCredential    `json:"sinkCredential,omitempty"`
}

type validateBody struct {
	AuthorizationID string `json:"authorizationId"`
	Code            string `json:"code"`
}

type phoneBody struct {
	PhoneNumber string `json:"phoneNumber,omitempty"`
}

type refundAmount struct {
	ChargingInformation *chargingInformation `json:"chargingInformation,omitempty"`
	ChargingMetaData    *chargingMetaData    `json:"chargingMetaData,omitempty"`
	RefundDetails       []refundItem         `json:"refundDetails,omitempty"`
}

type refundItem struct {
	PaymentItemID string      `json:"paymentItemId"`
	Amount        jsonNumber  `json:"amount"`
	Currency      string      `json:"currency"`
	Description   string      `json:"description"`
	IsTaxIncluded *bool       `json:"isTaxIncluded,omitempty"`
	TaxAmount     *jsonNumber `json:"taxAmount,omitempty"`
}

type refundTransaction struct {
	ClientCorrelator string        `json:"clientCorrelator,omitempty"`
	RefundAmount     *refundAmount `json:"refundAmount"`
	ReferenceCode    string        `json:"referenceCode"`
}

// refundBody is createRefund's body.
type refundBody struct {
	Type              string             `json:"type"`
	Reason            string             `json:"reason,omitempty"`
	Sink              string             `json:"sink,omitempty"`
	SinkCredential    *sinkCredential    `json:"sinkCredential,omitempty"`
	AmountTransaction *refundTransaction `json:"amountTransaction"`
}

// jsonNumber is a JSON number kept as it was written. Unlike json.Number
// it refuses a number in quotes: CAMARA's amounts are numbers.
type jsonNumber string

// UnmarshalJSON implements json.Unmarshaler.
func (n *jsonNumber) UnmarshalJSON(b []byte) error {
	switch {
	case string(b) == "null":
		*n = ""
		return nil
	case len(b) == 0 || (b[0] != '-' && (b[0] < '0' || b[0] > '9')):
		kind := "string"
		switch b[0] {
		case '{':
			kind = "object"
		case '[':
			kind = "array"
		case 't', 'f':
			kind = "bool"
		}
		return &json.UnmarshalTypeError{Value: kind, Type: reflect.TypeFor[float64]()}
	}
	*n = jsonNumber(b)
	return nil
}

// MarshalJSON implements json.Marshaler.
func (n jsonNumber) MarshalJSON() ([]byte, error) {
	if n == "" {
		return []byte("null"), nil
	}
	return []byte(n), nil
}

// maxBody bounds a request body.
const maxBody = 64 << 10

// decode reads exactly one JSON object into v, refusing unknown fields,
// a body over maxBody and anything after the object. The error names the
// field at fault.
func decode(r *http.Request, v any) *apiError {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(strings.ToLower(ct), "application/json") {
		return invalid("Content-Type", "want application/json, got %q", ct)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return invalid("body", "could not be read")
	}
	if len(body) > maxBody {
		return invalid("body", "larger than %d bytes", maxBody)
	}
	return decodeBytes(body, v)
}

func decodeBytes(body []byte, v any) *apiError {
	if !utf8.Valid(body) {
		return invalid("body", "not UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if dec.More() {
		return invalid("body", "more than one JSON value")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return invalid("body", "trailing data after the JSON object")
	}
	return nil
}

// jsonError names the field of a decoding error.
func jsonError(err error) *apiError {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return invalid("body", "empty; want a JSON object")
	case errors.As(err, &syn):
		return invalid("body", "malformed JSON at byte %d", syn.Offset)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "body"
		}
		return invalid(field, "want a JSON %s, got %s", jsonKind(typ.Type.Kind().String()), typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return invalid(name, "unknown field")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return invalid("body", "malformed JSON: unexpected end")
	}
	return invalid("body", "malformed JSON")
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "string"
	case "ptr", "struct", "map":
		return "object"
	case "slice":
		return "array"
	case "bool":
		return "boolean"
	}
	return "number"
}

// parseAmount reads a JSON number as an amount in yuan with at most two
// decimals (trailing zeros beyond them are allowed: 10.500 is 10.50).
func parseAmount(field string, n jsonNumber) (billing.Money, *apiError) {
	s := string(n)
	if s == "" {
		return 0, invalid(field, "required")
	}
	if strings.ContainsAny(s, "eE") {
		return 0, invalid(field, "write the amount as a decimal number of yuan, like 12.30")
	}
	if strings.HasPrefix(s, "-") {
		return 0, invalid(field, "must be more than 0")
	}
	if whole, frac, ok := strings.Cut(s, "."); ok && len(frac) > 2 {
		if strings.Trim(frac[2:], "0") != "" {
			return 0, invalid(field, "%s has more than two decimals (the smallest unit is 0.01 CNY)", s)
		}
		s = whole + "." + frac[:2]
	}
	m, err := billing.ParseYuan(s)
	if err != nil {
		return 0, invalid(field, "%s is not an amount", string(n))
	}
	if m <= 0 {
		return 0, invalid(field, "must be more than 0")
	}
	return m, nil
}

var (
	e164Pattern = regexp.MustCompile(`^\+[1-9][0-9]{4,14}$`)
	// textPattern bounds the merchant's identifiers: printable, no
	// control characters, at most 256 characters.
	maxText = 256
)

// checkText refuses an identifier that is too long or holds control
// characters.
func checkText(field, s string) *apiError {
	if utf8.RuneCountInString(s) > maxText {
		return invalid(field, "longer than %d characters", maxText)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return invalid(field, "holds a control character")
		}
	}
	return nil
}

// checkSink checks a notification sink and its credential: an https URL
// and, when given, an ACCESSTOKEN credential of type bearer. It returns the
// bearer token to send.
func checkSink(sink string, cred *sinkCredential) (string, *apiError) {
	if sink == "" {
		if cred != nil {
			return "", errorf(http.StatusBadRequest, "INVALID_CREDENTIAL", "sinkCredential: given without a sink")
		}
		return "", nil
	}
	u, err := url.Parse(sink)
	if err != nil || u.Scheme != "https" || u.Host == "" || len(sink) > 2048 || u.User != nil {
		return "", errorf(http.StatusBadRequest, "INVALID_SINK", "sink: want an https:// URL without user info, got %q", truncate(sink, 80))
	}
	if cred == nil {
		return "", nil
	}
	if cred.CredentialType != "ACCESSTOKEN" {
		return "", errorf(http.StatusBadRequest, "INVALID_CREDENTIAL", "sinkCredential.credentialType: only ACCESSTOKEN is supported")
	}
	if !strings.EqualFold(cred.AccessTokenType, "bearer") {
		return "", errorf(http.StatusBadRequest, "INVALID_TOKEN", "sinkCredential.accessTokenType: only bearer is supported")
	}
	if cred.AccessToken == "" || len(cred.AccessToken) > 4096 || strings.ContainsAny(cred.AccessToken, "\r\n") {
		return "", errorf(http.StatusBadRequest, "INVALID_TOKEN", "sinkCredential.accessToken: required, one line, at most 4096 bytes")
	}
	return cred.AccessToken, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// hashOf fingerprints a decoded request: the same body (whatever its
// spacing or field order) gives the same hash.
func hashOf(v any) string {
	b, _ := json.Marshal(v)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// payment is a createPayment or preparePayment request after checking.
type payment struct {
	body      paymentBody
	msisdn    string // canonical
	amount    billing.Money
	product   string // a product keyword of the merchant's catalog, or "" for an open amount
	sinkToken string
	hash      string
}

// checkPayment checks a decoded payment body for merchant m. normalize
// gives a number's canonical form.
func checkPayment(b paymentBody, m billing.Merchant, normalize func(string) (string, error)) (*payment, *apiError) {
	p := &payment{body: b}
	at := b.AmountTransaction
	if at == nil {
		return nil, invalid("amountTransaction", "required")
	}
	if at.PhoneNumber == "" {
		return nil, errorf(http.StatusUnprocessableEntity, "MISSING_IDENTIFIER", "amountTransaction.phoneNumber: required (the key identifies the merchant, not the subscriber)")
	}
	if !e164Pattern.MatchString(at.PhoneNumber) {
		return nil, invalid("amountTransaction.phoneNumber", "not an E.164 number (+ then 5 to 15 digits)")
	}
	msisdn, err := normalize(at.PhoneNumber)
	if err != nil {
		return nil, invalid("amountTransaction.phoneNumber", "not a number of this operator: %v", err)
	}
	p.msisdn = msisdn
	if at.ReferenceCode == "" {
		return nil, invalid("amountTransaction.referenceCode", "required")
	}
	if e := checkText("amountTransaction.referenceCode", at.ReferenceCode); e != nil {
		return nil, e
	}
	if e := checkText("amountTransaction.clientCorrelator", at.ClientCorrelator); e != nil {
		return nil, e
	}
	if at.PaymentAmount == nil {
		return nil, invalid("amountTransaction.paymentAmount", "required")
	}
	ci := at.PaymentAmount.ChargingInformation
	if ci == nil {
		return nil, invalid("amountTransaction.paymentAmount.chargingInformation", "required")
	}
	const ciField = "amountTransaction.paymentAmount.chargingInformation"
	amount, e := parseAmount(ciField+".amount", ci.Amount)
	if e != nil {
		return nil, e
	}
	p.amount = amount
	if ci.Currency != "CNY" {
		return nil, invalid(ciField+".currency", "currency is unknown or not authorized: want CNY")
	}
	if strings.TrimSpace(ci.Description) == "" {
		return nil, invalid(ciField+".description", "required")
	}
	if e := checkText(ciField+".description", ci.Description); e != nil {
		return nil, e
	}
	if ci.TaxAmount != nil {
		if _, e := parseTax(ciField+".taxAmount", *ci.TaxAmount); e != nil {
			return nil, e
		}
	}
	for i, it := range at.PaymentAmount.PaymentDetails {
		f := fmt.Sprintf("amountTransaction.paymentAmount.paymentDetails[%d]", i)
		if _, e := parseAmount(f+".amount", it.Amount); e != nil {
			return nil, e
		}
		if it.Currency != "CNY" {
			return nil, invalid(f+".currency", "want CNY")
		}
		if it.ID == "" || it.Description == "" {
			return nil, invalid(f, "id and description are required")
		}
	}
	const mdField = "amountTransaction.paymentAmount.chargingMetaData"
	if md := at.PaymentAmount.ChargingMetaData; md != nil {
		if md.MerchantIdentifier != "" && md.MerchantIdentifier != m.Code {
			return nil, errorf(http.StatusForbidden, codePermissionDenied, "%s.merchantIdentifier: %q is not the merchant of this API key", mdField, truncate(md.MerchantIdentifier, 40))
		}
		if md.ProductID != "" {
			prod, ok := productOf(m, md.ProductID)
			if !ok {
				return nil, invalid(mdField+".productId", "merchant %s has no product %q", m.Code, truncate(md.ProductID, 40))
			}
			if prod.Amount != amount {
				return nil, invalid(ciField+".amount", "%s is not the price of product %s (%s)", amount, prod.Keyword, prod.Amount)
			}
			p.product = prod.Keyword
		}
	}
	if p.product == "" {
		switch {
		case !m.OpenAmount:
			return nil, invalid(mdField+".productId", "merchant %s sells catalog products only: name one", m.Code)
		case amount > m.MaxAmount:
			return nil, errorf(http.StatusUnprocessableEntity, codeUnauthorizedAmt, "%s.amount: %s is above merchant %s's maximum %s", ciField, amount, m.Code, m.MaxAmount)
		case amount < m.MinAmount:
			return nil, errorf(http.StatusUnprocessableEntity, codeUnauthorizedAmt, "%s.amount: %s is below merchant %s's minimum %s", ciField, amount, m.Code, m.MinAmount)
		}
	}
	if p.sinkToken, e = checkSink(b.Sink, b.SinkCredential); e != nil {
		return nil, e
	}
	// The stored and echoed form carries the canonical number.
	norm := *at
	norm.PhoneNumber = msisdn
	p.body.AmountTransaction = &norm
	p.hash = hashOf(p.body)
	return p, nil
}

// parseTax reads a tax amount (0 allowed).
func parseTax(field string, n jsonNumber) (billing.Money, *apiError) {
	if string(n) == "0" || string(n) == "0.0" || string(n) == "0.00" {
		return 0, nil
	}
	return parseAmount(field, n)
}

func productOf(m billing.Merchant, id string) (billing.Product, bool) {
	for _, p := range m.Products {
		if strings.EqualFold(p.Keyword, id) {
			return p, true
		}
	}
	return billing.Product{}, false
}

// refund is a createRefund request after checking.
type refund struct {
	body      refundBody
	amount    billing.Money // 0 for a total refund
	sinkToken string
	hash      string
}

func checkRefund(b refundBody, merchant string) (*refund, *apiError) {
	r := &refund{body: b}
	if b.Type != "total" && b.Type != "partial" {
		return nil, invalid("type", "want total or partial")
	}
	at := b.AmountTransaction
	if at == nil {
		return nil, invalid("amountTransaction", "required")
	}
	if at.ReferenceCode == "" {
		return nil, invalid("amountTransaction.referenceCode", "required")
	}
	for f, s := range map[string]string{"amountTransaction.referenceCode": at.ReferenceCode, "amountTransaction.clientCorrelator": at.ClientCorrelator, "reason": b.Reason} {
		if e := checkText(f, s); e != nil {
			return nil, e
		}
	}
	if at.RefundAmount == nil {
		return nil, invalid("amountTransaction.refundAmount", "required")
	}
	if md := at.RefundAmount.ChargingMetaData; md != nil && md.MerchantIdentifier != "" && md.MerchantIdentifier != merchant {
		return nil, errorf(http.StatusForbidden, codePermissionDenied, "amountTransaction.refundAmount.chargingMetaData.merchantIdentifier: not the merchant of this API key")
	}
	const ciField = "amountTransaction.refundAmount.chargingInformation"
	ci := at.RefundAmount.ChargingInformation
	switch {
	case b.Type == "total" && ci != nil:
		return nil, invalid(ciField, "a total refund refunds what is left; give no amount")
	case b.Type == "partial" && ci == nil:
		return nil, invalid(ciField, "required for a partial refund")
	case ci != nil:
		amount, e := parseAmount(ciField+".amount", ci.Amount)
		if e != nil {
			return nil, e
		}
		if ci.Currency != "CNY" {
			return nil, invalid(ciField+".currency", "currency is unknown or not authorized: want CNY")
		}
		if strings.TrimSpace(ci.Description) == "" {
			return nil, invalid(ciField+".description", "required")
		}
		r.amount = amount
	}
	var e *apiError
	if r.sinkToken, e = checkSink(b.Sink, b.SinkCredential); e != nil {
		return nil, e
	}
	r.hash = hashOf(b)
	return r, nil
}
