package merchantapi

import (
	"strings"
	"testing"

	"github.com/carrierbill/carrierbill/billing"
)

// FuzzDecodePayment: whatever a merchant sends, decoding and checking never
// panic, and what passes is a payment the engine can take: a canonical
// E.164 number, an amount within the merchant's range, a reference.
func FuzzDecodePayment(f *testing.F) {
	for _, s := range []string{
		`{"amountTransaction":{"phoneNumber":"+8613800000001","clientCorrelator":"c","referenceCode":"r","paymentAmount":{"chargingInformation":{"amount":12.30,"currency":"CNY","description":"d"}}}}`,
		`{"amountTransaction":{"phoneNumber":"+8613800000001","referenceCode":"r","paymentAmount":{"chargingInformation":{"amount":1.505,"currency":"CNY","description":"d"},"chargingMetaData":{"productId":"VIP"}}},"sink":"https://x.example/cb","sinkCredential":{"credentialType":"ACCESSTOKEN","accessToken":"t","accessTokenType":"bearer","accessTokenExpiresUtc":"2030-01-01T00:00:00Z"}}`,
		`{"amountTransaction":{"phoneNumber":"13800000001"}}`, `{"amountTransaction":`, `[]`, `{}`, `null`, `{"x":1}`,
		`{"amountTransaction":{"phoneNumber":"+8613800000001","referenceCode":"r","paymentAmount":{"chargingInformation":{"amount":1e400,"currency":"CNY","description":"d"}}}}`,
		`{"amountTransaction":{"phoneNumber":"+8613800000001","referenceCode":"r","paymentAmount":{"chargingInformation":{"amount":-0.00,"currency":"CNY","description":"d"}}}}`,
	} {
		f.Add([]byte(s))
	}
	m := billing.Merchant{Code: "8001", OpenAmount: true, MinAmount: 10, MaxAmount: 10000,
		Products: []billing.Product{{Keyword: "VIP", Name: "v", Amount: 1500}}}
	normalize := func(s string) (string, error) { return s, nil }
	f.Fuzz(func(t *testing.T, body []byte) {
		var b paymentBody
		if e := decodeBytes(body, &b); e != nil {
			if e.Status != 400 || e.Message == "" {
				t.Fatalf("decoding error %+v", e)
			}
			return
		}
		p, e := checkPayment(b, m, normalize)
		if e != nil {
			if e.Message == "" || e.Code == "" {
				t.Fatalf("check error %+v", e)
			}
			return
		}
		at := p.body.AmountTransaction
		if !e164Pattern.MatchString(p.msisdn) || p.amount <= 0 || (p.product == "" && (p.amount < m.MinAmount || p.amount > m.MaxAmount)) ||
			at.ReferenceCode == "" || p.hash == "" || (b.Sink != "" && !strings.HasPrefix(b.Sink, "https://")) {
			t.Fatalf("accepted a bad payment: %+v", p)
		}
	})
}

// FuzzDecodeRefund: refunds never panic and what passes has a type and a
// positive amount for a partial refund.
func FuzzDecodeRefund(f *testing.F) {
	for _, s := range []string{
		`{"type":"partial","amountTransaction":{"referenceCode":"r","refundAmount":{"chargingInformation":{"amount":1.5,"currency":"CNY","description":"d"}}}}`,
		`{"type":"total","amountTransaction":{"referenceCode":"r","refundAmount":{}}}`, `{"type":"half"}`, `{`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var b refundBody
		if e := decodeBytes(body, &b); e != nil {
			return
		}
		r, e := checkRefund(b, "8001")
		if e != nil {
			return
		}
		if (b.Type == "partial") != (r.amount > 0) || (b.Type != "partial" && b.Type != "total") {
			t.Fatalf("accepted a bad refund: %+v", r)
		}
	})
}
