// Package risk is the risk rules of issue 15: billing.Risk on Redis. The
// engine asks Assess on every purchase and every confirmation and tells
// Learn what happened afterwards; the rules count both in Redis windows and
// answer with findings (a rule, an action, evidence for the operator).
//
// The rules, each with its thresholds in the configuration (risk.rules),
// and their defaults:
//
//	wrong_codes        wrong codes of one number across its orders: 3 in an
//	                   hour or 5 in a day (the engine's own lock-out, so a
//	                   guesser it locks out is also blocked, recorded and
//	                   alerted) → block the number for 24h (both stages;
//	                   counted by Learn(wrong_code))
//	fast_confirmation  a code that came less than 3s after its prompt →
//	                   a fresh code; once the order had one, hold (confirm,
//	                   codes only)
//	number_velocity    more than 20 purchases of one number in 1h → block
//	                   the number for 1h (purchase)
//	merchant_velocity  more than 600 purchases with one merchant in 1m →
//	                   hold its confirmations (confirm)
//	prefix_velocity    more than 200 purchases from one number prefix (the
//	                   country code and 7 digits) in 10m → hold (confirm)
//	merchant_burst     more than 50 distinct numbers confirming with one
//	                   merchant in 60s → hold (confirm)
//	merchant_spend     a merchant's spend this clock hour above 3 × the mean
//	                   of the same hour on the last 7 days and above
//	                   2000.00 → hold (confirm)
//	failure_rate       a merchant's failure rate in the last hour at least
//	refund_rate        3 × its usual rate (the last 7 days) and 20 points
//	                   above it, over at least 20 payments → allow with a
//	                   finding (an alert), once per merchant and hour
//	unusual_hours      a payment of 20.00 or more between 01:00 and 05:00
//	                   in the operator's zone → allow with a finding
//	prepaid_drain      payments of one prepaid number within 10m (two or
//	                   more, 20.00 or more) that spend 80% of the balance it
//	                   had → hold (confirm; needs Options.Balances)
//
// Renewals (channel subscription) are not judged by the merchant rules
// (burst, spend, unusual hours): they come in nightly batches by design.
// For the same reason merchant_spend counts the amounts Assess sees at the
// confirm stage (an outcome does not say its channel), held ones included;
// the failure and refund rates and prepaid_drain count Learn's outcomes.
//
// # Counting
//
// Counters are Redis strings (INCRBY) or HyperLogLogs (PFADD, distinct
// numbers) per time slot; a window of W is the sum of its slots (six, of
// W/6, for the velocity and burst windows: an event counts for between 5/6
// of W and W after it). Slots are computed from the check's or outcome's At,
// the engine's clock, never from Redis's TIME, so replay on a virtual clock
// counts exactly as production would. TTLs only clean up: every key lives
// twice its window plus an hour (the spend history eight days and an hour).
// One Assess is one Redis round trip (a pipeline), see Risk.Assess; the
// prepaid balance, when that rule could fire, is one read of Options.Balances.
//
// Keys are Options.KeyPrefix + "{" + counter + ":" + subject + "}:" + slot;
// a number or prefix is a subject only as the hex of a keyed hash
// (HMAC-SHA256 with Options.KeySalt, as billing/redis), so Redis never holds
// a number in clear. The braces keep one subject's slots in one Redis
// Cluster slot (MGET, PFCOUNT over a window).
//
// # What it must never do
//
// It never writes the database (the engine records decisions and lists),
// never logs a number in clear nor puts one in evidence (redact.Phone), never
// sees a code, and fails closed: when Redis cannot answer, Assess returns an
// error and no verdict, and the engine refuses with service_busy.
package risk
