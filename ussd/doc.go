// Package ussd is the USSD channel: menu sessions a subscriber on a
// feature phone dials (*100#) to buy, read the quota and the recent
// payments, choose the default bank card and change the wallet password.
//
//   - The menu (menu.go, render.go): one state per screen, numbered options,
//     free input with validation, 0 back, 00 home, 9 for the next page of a
//     list or a long text; every screen fits one USSD message (screen.go:
//     160 octets, 182 GSM 7-bit or 80 UCS2 characters, counted); refusals
//     are the SMS channel's reason texts (sms.Texts.Refusal), the other
//     words are this package's texts, overridable by name (texts.go).
//   - Sessions (session.go) in Redis with a TTL, keyed by a hash of the
//     transport's session id, so a dialog survives a restart of the
//     gateway and moves between gateway processes; timeouts are read on
//     the injected clock.
//   - Transports: SMPP ussd_service_op (the smpp package's USSDConsumer and
//     SubmitUSSD; op codes and session keys are configuration) and an HTTP
//     aggregator callback in the Africa's Talking style (http.go: CON/END).
//
// The flow: a USSD message is stored in the MO inbox before it is
// acknowledged (ConsumeUSSD, or the HTTP callback before it waits), with
// its transport details in an envelope in service_addr; the SMS channel's
// workers claim it in arrival order per number and hand it here (Divert);
// Handle reads the session, applies the answer (driving billing.Engine
// through its typed API: Purchase, Confirm, Cancel, Query, ChangePassword,
// Lookup), saves the session and sends the screen. The engine marks the
// message processed in the transaction of its effects.
//
// This package must never decide a payment (the engine does), never call
// what can charge on an answer it could not read, never store or log a
// wallet password or a confirmation code in clear (answers on those
// screens are sealed before they are stored; the session keeps only a
// sealed old password), never log an answer, and never panic on any input.
package ussd
