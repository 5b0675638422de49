// Package merchantapi is the merchant HTTP API: GSMA CAMARA Carrier Billing
// v0.5 under /carrier-billing/v0.5 and Carrier Billing Refund v0.3 under
// /carrier-billing-refund/v0.3 (release r3.2), their OpenAPI documents
// (served as published by CAMARA, at /carrier-billing/v0.5/openapi.yaml and
// /carrier-billing-refund/v0.3/openapi.yaml), and the merchant
// notifications.
//
// A payment is an order of the billing engine made through its typed API
// (Purchase, Confirm, Charge, Cancel, Lookup, Refund) on ChannelAPI: prepare
// texts the subscriber the same prompt as an SMS purchase, the subscriber
// confirms by SMS or the merchant's page passes the code to validate. What
// the merchant sent with a payment (clientCorrelator, referenceCode, sink)
// is written by Notifier.Hook in the engine's own transaction, and so is
// every notification: a CloudEvent in the durable outbox of billing/notify.go,
// which the Dispatcher POSTs to the sink, signed (sign.go), on WeChat Pay's
// retry schedule.
//
// Routing is github.com/go-chi/chi/v5; CloudEvents are built and checked
// with github.com/cloudevents/sdk-go/v2/event. Its HTTP client is not used:
// delivery needs a durable outbox, a retry schedule on the injected clock and
// our signature header, none of which it has.
//
// Choices where CAMARA leaves one open (README, Merchant API):
//   - a clientCorrelator reused by the same merchant with a different body is
//     409 ALREADY_EXISTS (the same body returns the first payment);
//   - validation charges at once: the subscriber's code is the consent, so
//     the payment passes reserved to succeeded inside the call, and a later
//     confirm is accepted (202) without charging again;
//   - confirm of a payment the subscriber has not validated is refused with
//     403 CARRIER_BILLING.PAYMENT_DENIED, unless the merchant is configured
//     to confirm without the code (api.merchants[].confirm_without_code).
//
// It must never charge without the engine, log a phone number, a code, an
// API key or a sink credential in clear, or answer one merchant about
// another merchant's payment (that is 404, as if it did not exist).
package merchantapi
