// Package ocs charges the phone account at the operator's Online Charging
// System over Diameter credit control (RFC 4006, the Ro/Gy interface): a
// billing.Charger (Charger) over a Diameter client with several peers and
// failover (Client). The simulator tests, demos and benchmarks run against
// lives in ocs/ocssim.
//
// # The flow: session-based, with monetary units
//
// A payment is one credit-control session whose Session-Id is derived from
// the charge's idempotency key (SessionID):
//
//	reserve   CCR-Initial   (CC-Request-Number 0)  Requested-Service-Unit CC-Money
//	finalize  CCR-Terminate (CC-Request-Number 1)  Used-Service-Unit = the amount
//	release   CCR-Terminate (CC-Request-Number 1)  nothing used (a partial grant)
//	refund    CCR-Event REFUND_ACCOUNT (Requested-Action 1), its own session
//
// Money is CC-Money in fen: Unit-Value {Value-Digits fen, Exponent −2},
// Currency-Code 156. Subscription-Id is END_USER_E164 with the number's
// digits; Service-Identifier and Rating-Group (inside Multiple-Services-
// Credit-Control) come from configuration per merchant or product; the
// merchant and product also go where the OCS wants them
// (Options.MerchantInfo): in Service-Information (3GPP vendor AVPs,
// Service-Specific-Info type 1 merchant, 2 product), in RFC 4006
// Service-Parameter-Info (the same types), or nowhere; never mandatory,
// so an OCS that does not read them ignores them.
//
// Why the session-based flow and not direct debiting (a single CCR-Event
// DIRECT_DEBITING): with a session, money moves only at CCR-T, and the
// recovery sweep can settle any unknown outcome by sending that very CCR-T
// again. RFC 4006 has no "what happened to this session?" query, but a
// repeated request — same Session-Id, same CC-Request-Number, the T bit
// set — is answered by the OCS as a duplicate without acting twice.
// So Status re-sends the charge's CCR-T: a debit already done answers
// success (debited once), a reservation still held is completed (the
// subscriber consented to it), and an OCS that knows no such session
// (the CCR-I never arrived, was refused, or its reservation lapsed)
// answers DIAMETER_UNKNOWN_SESSION_ID: nothing was debited. A stray CCR-I
// arriving late can only reserve, never debit, and the OCS lets an
// unterminated reservation lapse. A direct debit, by contrast, is one
// event whose loss can only be resolved by sending it again, which debits
// when it had not arrived: the recovery sweep could never answer "not
// debited" and close the key. The price is two round trips per payment
// instead of one; a payment is rare next to its SMS traffic.
//
// After Status answered "not debited" the Session-Id is spent: the OCS
// must refuse a CCR-I on it (Session-Ids are eternally unique, RFC 6733
// 8.8; the simulator answers DIAMETER_UNABLE_TO_COMPLY), so a late Debit
// with the key is declined. The Session-Id prefix must be the same in every
// gateway process (configuration ocs.session_id_prefix, default the origin
// realm) so that any process's sweep resolves any process's charge.
//
// Result codes map to outcomes and reasons in one table (ResultCodes):
// 4012 insufficient_balance, 4010 account_suspended, 5030
// unknown_subscriber, other 4xxx/5xxx charge_failed (nothing moved); 3xxx
// (3004 DIAMETER_TOO_BUSY...), timeouts, a lost connection and a malformed
// answer leave the outcome unknown, for the recovery sweep.
//
// # Why the peer layer is ours
//
// Messages are built and decoded with github.com/fiorix/go-diameter/v4 at
// v4.1.0 (diam, avp, datatype, dict). Its connection and state machine
// (diam.Serve, diam/sm) are not used: at that version its read loop
// recovers a decoder panic only by closing the connection, and its decoder
// does panic on a Failed-AVP holding a zero-filled grouped AVP, so one bad
// answer would fail every request in flight; its client watchdog sleeps on
// the global time and has no failover across peers. Here a message is read
// whole off the wire first (readFrame) and decoded under recover (decode):
// a malformed answer fails only its own request, as an unknown outcome,
// and the connection lives on. Answers are routed by hop-by-hop id (a
// per-connection counter); the End-to-End id stays the same across
// retransmissions.
//
// Some OCS peers silently drop a request sent right after the CEA; more
// generally any request left unanswered (ClientOptions.AnswerTimeout) is
// sent again — same Session-Id and CC-Request-Number, T bit set — to the
// next open peer in preference order, at most ClientOptions.Retries times.
// A 3xxx answer (the peer could not handle it) is also tried on the next
// peer. The watchdog (RFC 3539, simplified) sends a DWR on a link idle for
// WatchdogInterval and closes the link when the next interval passes with
// nothing received; a closed peer is reconnected with a backoff doubling
// from ReconnectMin to ReconnectMax. TLS, when configured, is TLS at
// connect (the peer's port is TLS from the first byte).
//
// Transport timing (answer timeouts, watchdog, backoff) uses the wall
// clock, like smpp's; the injected clock.Clock stamps Event-Timestamp.
//
// This package must never treat an unanswered request as a refusal, never
// debit twice for one key (a retry is always the same Session-Id and
// request number), never let a decoder panic escape, and never log a phone
// number in clear (redact.Phone).
package ocs
