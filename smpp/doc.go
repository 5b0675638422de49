// Package smpp is carrierbill's side of SMPP 3.4: the ESME session layer
// (bind, window, throughput cap, enquire_link, reconnect), the text codecs
// (GSM 7-bit, Latin-1, UCS2), long-message split and reassembly, and delivery
// receipts. The SMSC simulator used by tests, demos and load runs lives in
// smpp/smsc.
//
// # Why the session layer is ours
//
// PDUs are built and read with the packages of github.com/fiorix/go-smpp at
// v0.0.0-20210403173735-2894b96e70ba (pdu, pdufield, pdutlv). Its
// Transceiver, Transmitter and Receiver are not used: at that version they
// match responses by sequence number alone (an SMSC deliver_sm that reuses
// the sequence number of a pending submit_sm is swallowed as its response
// and the MO is lost), run the handler on the read loop, always answer
// deliver_sm with ESME_ROK before anything is stored, and drop the link on
// data_sm. This session routes a PDU by its response bit plus its sequence
// number (a per-connection counter in 1..0x7FFFFFFF, never the library's
// global one), hands every MO and receipt to the Consumer off the read loop
// and writes deliver_sm_resp only when the Consumer returned (ESME_ROK, or
// ESME_RX_T_APPN 0x64 so the SMSC redelivers), treats data_sm as an MO,
// answers unbind, and answers generic_nack to what it does not handle.
//
// deliver_sm, submit_sm and data_sm bodies are decoded by DecodeSM, not by
// the library: its deliver_sm decoder strips the UDH into a field of its own,
// trusts a UDH that lies about its length, and has no data_sm. The library's
// pdutext codecs return their input unchanged on error; DecodeText says what
// was wrong instead. pdu.NewDeliverSM() at that version serializes a stray
// udh_length byte unless its UDH fields are set; SM.EncodeDeliverSM sets them.
//
// # Guarantees and non-goals
//
// An MO is acknowledged only after Consumer.ConsumeMO returned nil, and the
// Consumer gets the bind's StoreTimeout (default 2s, well under an SMSC's
// response timeout): when it passes, a database held silent without closing
// the connection, the MO is answered ESME_RX_T_APPN at once and the SMSC
// redelivers. Parts of
// a concatenated MO other than the last to arrive are acknowledged when held
// in memory (an SMSC may wait for that ack before sending the next part); a
// crash loses such a half message, never a whole one. What the parts may
// hold is capped in bytes per part, per source (bind + source address) and
// per bind (BindConfig.Parts); a part beyond a cap is refused with a status
// that stops the SMSC (ESME_RMSGQFUL, or ESME_RX_P_APPN for a part too big
// to ever fit) and logged, and the parts of a message that did not complete
// within PartTimeout are released by a background sweep. A part whose
// concatenation info is inconsistent (a UDH or SAR TLVs that are incomplete
// or number the part outside 1..total) is refused with ESME_RX_P_APPN, never
// taken as a whole message; a message carrying both short_message and
// message_payload is answered ESME_ROPTPARNOTALLWD (SMPP 3.4 5.3.2.32), never
// stored with one of them dropped. Submit blocks on the
// window and the throughput cap instead of failing, retries ESME_RTHROTTLED
// and ESME_RMSGQFUL after RetryDelay, and returns any other status as a
// *StatusError. A submit whose response never came (timeout, link lost) is
// returned as an error: the SMSC may or may not have accepted it.
//
// Delivery receipts: every submit_sm carries its bind's RegisteredDelivery
// (MT.RegisteredDelivery asks for one on a bind that does not), and Submit
// returns each part's message_id and the bind it went out on. A receipt
// (esm_class 0x04 or 0x20, or a receipted_message_id TLV; the TLVs win over
// the "id:... stat:..." text) reaches ConsumeReceipt with its id as the
// SMSC wrote it, which may be the resp's number in the other base and may
// come before that resp was read: matching receipts to MTs is the
// gateway's job (billing.Dispatcher.Receipt), not this package's.
//
// Transport timing (timeouts, enquire_link, backoff, the throughput cap,
// latency metrics) uses the wall clock; the injected clock.Clock stamps
// what the gateway sees (MO.ReceivedAt, receipts) and ages partial messages.
//
// This package must never run business logic, never block its read loop on
// the Consumer, and never log message text or a phone number in clear
// (phones are masked with redact.Phone).
package smpp
