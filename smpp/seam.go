package smpp

import (
	"context"
	"time"
)

// This file is the seam between the SMPP transport and the gateway. It is a
// contract: the billing side builds against it. Extend it, do not rename it.

// MO is one mobile-originated short message as the gateway sees it: decoded
// to UTF-8 and, when it was sent in parts, reassembled.
type MO struct {
	Bind       string    // name of the bind it arrived on (configuration name)
	From       string    // source_addr as the SMSC sent it (digits, maybe a leading '+')
	SourceTON  byte      // source_addr_ton (1 international, 2 national, 0 unknown)
	SourceNPI  byte      // source_addr_npi (1 ISDN/E.164)
	To         string    // destination_addr: service code + merchant code, e.g. "106580088001"
	Text       string    // decoded text (GSM 7-bit, Latin-1 or UCS2 on the wire)
	DataCoding byte      // data_coding of the (first) part
	Parts      int       // number of parts it was reassembled from; 1 for a single message
	ReceivedAt time.Time // when the last part arrived (from the session's clock)
}

// DeliveryReceipt is a delivery report for an MT, recognized from esm_class
// 0x04 (receipted_message_id / message_state TLVs, or the receipt text
// "id:... stat:... err:...").
type DeliveryReceipt struct {
	Bind       string
	MessageID  string // the SMSC's message_id of the MT part it reports on
	From       string // the subscriber (source_addr of the receipt)
	To         string
	State      string // DELIVRD, EXPIRED, DELETED, UNDELIV, ACCEPTD, UNKNOWN, REJECTD
	Err        string // the receipt's err: field, if any
	ReceivedAt time.Time
}

// Consumer takes what arrives from the SMSC. The session calls it off the
// read loop and writes deliver_sm_resp only after it returns: nil means the
// message is durably stored (ESME_ROK); an error means it is not
// (ESME_RX_T_APPN, 0x64, so the SMSC redelivers). A Consumer must be safe for
// concurrent use and must not do business logic beyond storing.
type Consumer interface {
	ConsumeMO(ctx context.Context, mo MO) error
	ConsumeReceipt(ctx context.Context, r DeliveryReceipt) error
}

// MT is one mobile-terminated message to submit. Text of any length: the
// session picks GSM 7-bit when every character fits, UCS2 otherwise, and
// splits long text with UDH concatenation.
type MT struct {
	From               string // source address (the service code + merchant code)
	To                 string // the subscriber
	Text               string
	RegisteredDelivery bool // ask for a receipt (1) even on a bind whose RegisteredDelivery is 0
}

// SubmitResult is what the SMSC answered for an MT: one message_id per part,
// in part order, and the name of the bind each part went out on (a part
// is retried on another bind when its link dropped before it was written).
// A delivery receipt names the message_id as the SMSC wrote it there,
// possibly in another base (see billing.KeysOf).
type SubmitResult struct {
	MessageIDs []string
	Binds      []string
}
