package smpp

import (
	"time"
)

// PartKey identifies the message a part belongs to: parts with the same key
// are joined. Bind keeps two SMSC links from mixing their references.
type PartKey struct {
	Bind, From, To string
	Ref            uint16
	Total          int
}

// Reassembler joins the parts of concatenated messages (UDH with 8- or 16-bit
// references, or SAR TLVs). It is pure bookkeeping: time is passed in, it
// starts no goroutines, and it is safe for use by one goroutine at a time
// (the session guards it with a mutex). The replay engine uses it as is.
type Reassembler struct {
	ttl     time.Duration
	max     int
	pending map[PartKey]*partial
}

type partial struct {
	first  time.Time
	coding byte
	parts  [][]byte // index Seq-1; nil while missing
	have   int
}

// NewReassembler returns a Reassembler that forgets a message whose parts
// have not all arrived within ttl of its first part, and keeps at most max
// incomplete messages (the oldest is dropped beyond that; 0 means 10000).
func NewReassembler(ttl time.Duration, max int) *Reassembler {
	if max <= 0 {
		max = 10000
	}
	return &Reassembler{ttl: ttl, max: max, pending: map[PartKey]*partial{}}
}

// Add records part c.Seq of the message k (c.Total must equal k.Total and
// c.Seq lie in 1..Total; otherwise the part is ignored). coding is the
// part's data_coding; data its user data without UDH. When this part
// completes the message, Add returns the parts' data joined in order and the
// first part's coding, with done true. A repeated part replaces the earlier
// copy (the SMSC redelivers when an ack is lost).
//
// A completed message stays until Forget(k): a caller that fails to store it
// keeps the parts, so that the SMSC's redelivery of the last part completes
// it again. Callers that need no such retry call Forget right away.
func (r *Reassembler) Add(k PartKey, c Concat, coding byte, data []byte, now time.Time) (msg []byte, msgCoding byte, done bool) {
	if c.Validate() != nil || c.Total != k.Total {
		return nil, 0, false
	}
	r.Expire(now)
	p := r.pending[k]
	if p == nil {
		if len(r.pending) >= r.max {
			r.dropOldest()
		}
		p = &partial{first: now, parts: make([][]byte, c.Total)}
		r.pending[k] = p
	}
	if c.Seq == 1 || p.have == 0 {
		p.coding = coding
	}
	if p.parts[c.Seq-1] == nil {
		p.have++
	}
	p.parts[c.Seq-1] = append([]byte{}, data...)
	if p.have < c.Total {
		return nil, 0, false
	}
	n := 0
	for _, b := range p.parts {
		n += len(b)
	}
	msg = make([]byte, 0, n)
	for _, b := range p.parts {
		msg = append(msg, b...)
	}
	return msg, p.coding, true
}

// Forget drops the parts of message k (after it was stored).
func (r *Reassembler) Forget(k PartKey) { delete(r.pending, k) }

// Expire forgets incomplete messages older than the ttl and returns how
// many it dropped.
func (r *Reassembler) Expire(now time.Time) int {
	n := 0
	for k, p := range r.pending {
		if now.Sub(p.first) >= r.ttl {
			delete(r.pending, k)
			n++
		}
	}
	return n
}

// Pending returns how many messages wait for parts.
func (r *Reassembler) Pending() int { return len(r.pending) }

func (r *Reassembler) dropOldest() {
	var ok bool
	var oldest PartKey
	var t time.Time
	for k, p := range r.pending {
		if !ok || p.first.Before(t) {
			oldest, t, ok = k, p.first, true
		}
	}
	if ok {
		delete(r.pending, oldest)
	}
}
