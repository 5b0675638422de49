// Package trace reads recorded SMS traffic for `carrierbill replay`: JSON
// lines (see FORMAT.md), Kannel access logs, and pcap/pcapng captures of an
// SMPP link. Each format is read as a stream of Records (the MOs to replay
// and the MTs that were recorded, kept for comparison), one at a time, so
// memory does not grow with the length of the trace.
//
// Broken input (a bad JSON line, a timestamp in an unknown format, a
// truncated capture, a PDU that does not decode) is reported as a
// *ParseError carrying its position. With Options.Strict the reader stops at
// the first one; otherwise it skips it, counts it by reason in Stats and
// hands it to Options.OnError.
//
// The package only decodes. It must never make a billing decision, never
// touch a database or the network, never reassemble multipart MOs (each part
// is its own Record, with its UDH or SAR, so replay goes through the same
// reassembly as live traffic), and never put a phone number, a message text
// or a confirmation code in an error message.
package trace
