// Package sms is the SMS channel: everything about the subscriber's SMS
// that the billing engine must not know.
//
//   - The MO grammar (grammar.go, wallet.go): a product keyword or an amount
//     in yuan, a 6-digit code, CX, QX, and the bank-card commands (VIP K,
//     "code password", MM, YE); full-width forms folded; a text that may
//     carry a wallet password is redacted before it is stored, its original
//     sealed.
//   - The texts (texts.go): every word of every MT, rendered from the
//     engine's typed events (Texts is the engine's billing.Notifier),
//     overridable by name, with waits in words and an optional hotline.
//   - The SMPP consumer (channel.go): an MO is stored durably (Accept) before
//     the session acknowledges it, then workers claim it, one number's MOs
//     in order, and drive the engine's typed API with it.
//
// The flow from a bind to the ledger:
//
//	smpp session ─ConsumeMO→ Channel.Accept (mo_inbox, then ack)
//	Channel.Run ─claim→ Handle: ParseMO → engine.Purchase/Confirm/Query/Cancel…
//	engine (one transaction) → state change + Event → Texts.Notify → outbox
//	billing.Dispatcher → smpp submit_sm → receipts matched back to the outbox
//
// This package must never decide a payment (limits, codes, charges are the
// engine's), never store or log a wallet password or confirmation code in
// clear, and never acknowledge an MO before it is durably stored.
package sms
