package billing

import (
	"strconv"
	"strings"
	"time"
)

// This file holds the types of delivery receipts matched to MTs: what the
// Sender reports per part, what a receipt says, and what an order lookup
// shows. The Dispatcher (dispatch.go) records and matches them; the stores
// keep them in outbox_parts and unmatched_receipts (migration 0030).

// SentPart is one part of an MT as the SMSC accepted it.
type SentPart struct {
	Bind      string // the bind it was submitted on
	MessageID string // the message_id of its submit_sm_resp, as sent
}

// DeliveryState is an MT part's state as its last receipt reported it
// (SMPP 3.4 message_state names). Empty: no receipt yet.
type DeliveryState string

// Receipt states.
const (
	DeliveryNone      DeliveryState = ""
	DeliveryEnroute   DeliveryState = "ENROUTE"
	DeliveryDelivered DeliveryState = "DELIVRD"
	DeliveryExpired   DeliveryState = "EXPIRED"
	DeliveryDeleted   DeliveryState = "DELETED"
	DeliveryUndeliv   DeliveryState = "UNDELIV"
	DeliveryAccepted  DeliveryState = "ACCEPTD"
	DeliveryUnknown   DeliveryState = "UNKNOWN"
	DeliveryRejected  DeliveryState = "REJECTD"
)

// Final reports whether no later receipt may change s (every state but
// none and ENROUTE). A store never replaces a final state with a non-final
// one, so receipts that arrive out of order keep the final word.
func (s DeliveryState) Final() bool { return s != DeliveryNone && s != DeliveryEnroute }

// FinalStates lists the final states, for the stores' SQL.
var FinalStates = []DeliveryState{DeliveryDelivered, DeliveryExpired, DeliveryDeleted, DeliveryUndeliv,
	DeliveryAccepted, DeliveryUnknown, DeliveryRejected}

// DeliveryReceipt is a delivery report from the SMSC about one MT part.
type DeliveryReceipt struct {
	Bind       string // the bind it arrived on
	MessageID  string // the id it reports on, as received (hex or decimal)
	State      DeliveryState
	Err        string // the receipt's err: field, if any
	ReceivedAt time.Time
}

// ReceiptKeys are the normalized forms under which a receipt's message id
// may match a part's (see NormalizeMessageID), in order of preference.
// Empty fields are no candidate.
type ReceiptKeys struct {
	Exact string // the id as received, normalized
	AsHex string // a decimal id written in hex: the part's id when the SMSC answered submit_sm in hex
	AsDec string // a hex id written in decimal: the part's id when the SMSC answered in decimal
}

// NormalizeMessageID is the one form a message id is stored and compared
// in: surrounding blanks and NULs trimmed, upper case, leading zeros
// dropped ("000000A1b" → "A1B", "0000" → "0"). Empty stays empty.
func NormalizeMessageID(id string) string {
	id = strings.ToUpper(strings.Trim(id, " \t\r\n\x00"))
	if id == "" {
		return ""
	}
	if t := strings.TrimLeft(id, "0"); t != "" {
		return t
	}
	return "0"
}

// KeysOf returns the keys of a receipt's message id. SMSCs commonly answer
// submit_sm with a hex id and put the same number in decimal in the
// receipt (or the reverse), the classic cause of unmatched receipts: an id
// made only of digits is also tried as that number in hex, and an id that
// reads as hex also as that number in decimal. A store prefers a part still
// awaiting its final receipt, then the Exact key, then AsHex, then AsDec.
func KeysOf(messageID string) ReceiptKeys {
	k := ReceiptKeys{Exact: NormalizeMessageID(messageID)}
	if k.Exact == "" {
		return k
	}
	if v, err := strconv.ParseUint(k.Exact, 10, 64); err == nil {
		if h := strings.ToUpper(strconv.FormatUint(v, 16)); h != k.Exact {
			k.AsHex = h
		}
	}
	if v, err := strconv.ParseUint(k.Exact, 16, 64); err == nil {
		if d := strconv.FormatUint(v, 10); d != k.Exact {
			k.AsDec = d
		}
	}
	return k
}

// DeliveryPart is what is known of one part of a sent MT.
type DeliveryPart struct {
	Part      int // 1-based
	Bind      string
	MessageID string // normalized
	State     DeliveryState
	Err       string
	DoneAt    time.Time // when the receipt that set State arrived; zero without one
}

// Delivery is one MT of an order (its prompt, its receipt, ...) and what
// the SMSC reported of its delivery.
type Delivery struct {
	OutboxID int64
	Kind     OutboxKind
	SentAt   time.Time      // zero while unsent
	Parts    []DeliveryPart // in part order; empty while unsent
}

// State is the MT's delivery state: the state of a part that failed
// finally if any, DELIVRD when every part was delivered, ENROUTE while some
// part has a receipt and none failed, none without receipts.
func (d Delivery) State() DeliveryState {
	if len(d.Parts) == 0 {
		return DeliveryNone
	}
	delivered, seen := 0, false
	for _, p := range d.Parts {
		switch {
		case p.State == DeliveryDelivered:
			delivered++
			seen = true
		case p.State.Final():
			return p.State
		case p.State != DeliveryNone:
			seen = true
		}
	}
	switch {
	case delivered == len(d.Parts):
		return DeliveryDelivered
	case seen:
		return DeliveryEnroute
	}
	return DeliveryNone
}

// DeliveredAt is when the last part's delivery was reported; zero unless
// State is DELIVRD.
func (d Delivery) DeliveredAt() time.Time {
	if d.State() != DeliveryDelivered {
		return time.Time{}
	}
	var t time.Time
	for _, p := range d.Parts {
		if p.DoneAt.After(t) {
			t = p.DoneAt
		}
	}
	return t
}
