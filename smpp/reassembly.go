package smpp

import (
	"errors"
	"fmt"
	"time"
)

// PartKey identifies the message a part belongs to: parts with the same key
// are joined. Bind keeps two SMSC links from mixing their references.
type PartKey struct {
	Bind, From, To string
	Ref            uint16
	Total          int
}

// ReassemblyLimits bound what a Reassembler holds in memory. Bytes are
// counted as the parts' user data plus a fixed overhead per message and per
// part slot, so many tiny parts cost memory too. Zero fields take the
// defaults below.
type ReassemblyLimits struct {
	// MaxMessages is how many incomplete messages are held; beyond it the
	// oldest is dropped. Default 10000.
	MaxMessages int
	// MaxPartBytes bounds one part's user data. A legitimate part is one
	// short message (at most 140 octets of user data); default 2 KiB.
	MaxPartBytes int
	// MaxSourceBytes bounds what one source (bind + source address) holds
	// across its incomplete messages. Default 256 KiB: several of the
	// longest legitimate messages (255 parts).
	MaxSourceBytes int
	// MaxTotalBytes bounds everything held. Default 32 MiB.
	MaxTotalBytes int
}

// Defaults of ReassemblyLimits.
const (
	DefaultMaxPartialMessages = 10000
	DefaultMaxPartBytes       = 2 << 10
	DefaultMaxSourceBytes     = 256 << 10
	DefaultMaxTotalBytes      = 32 << 20
)

// WithDefaults returns l with zero fields set to their defaults.
func (l ReassemblyLimits) WithDefaults() ReassemblyLimits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.MaxMessages, DefaultMaxPartialMessages)
	def(&l.MaxPartBytes, DefaultMaxPartBytes)
	def(&l.MaxSourceBytes, DefaultMaxSourceBytes)
	def(&l.MaxTotalBytes, DefaultMaxTotalBytes)
	return l
}

// Refusals of Reassembler.Put. The session answers ErrPartTooLarge with
// ESME_RX_P_APPN (the part can never fit) and the others with ESME_RMSGQFUL
// (the SMSC backs off and may retry once parts were completed or expired).
var (
	ErrPartTooLarge     = errors.New("reassembly: part larger than the per-part limit")
	ErrSourceFull       = errors.New("reassembly: the source holds too many bytes of incomplete messages")
	ErrReassemblyFull   = errors.New("reassembly: too many bytes of incomplete messages held")
	errPartInconsistent = errors.New("reassembly: part inconsistent with its key")
)

// Per-message and per-slot overheads counted against the byte limits.
const (
	msgOverhead  = 128
	slotOverhead = 24
)

// Reassembler joins the parts of concatenated messages (UDH with 8- or 16-bit
// references, or SAR TLVs). It is pure bookkeeping: time is passed in, it
// starts no goroutines, and it is safe for use by one goroutine at a time
// (the session guards it with a mutex). The replay engine uses it as is.
type Reassembler struct {
	ttl      time.Duration
	lim      ReassemblyLimits
	pending  map[PartKey]*partial
	bySource map[source]int // bytes held per source
	total    int            // bytes held in all
}

type source struct{ Bind, From string }

type partial struct {
	first  time.Time
	coding byte
	parts  [][]byte // index Seq-1; nil while missing
	have   int
	bytes  int // counted against the limits
}

// NewReassembler returns a Reassembler that forgets a message whose parts
// have not all arrived within ttl of its first part, and keeps at most max
// incomplete messages (the oldest is dropped beyond that; 0 means 10000).
// The byte limits take their defaults.
func NewReassembler(ttl time.Duration, max int) *Reassembler {
	return NewReassemblerLimits(ttl, ReassemblyLimits{MaxMessages: max})
}

// NewReassemblerLimits returns a Reassembler with the limits lim (zero
// fields take their defaults).
func NewReassemblerLimits(ttl time.Duration, lim ReassemblyLimits) *Reassembler {
	return &Reassembler{ttl: ttl, lim: lim.WithDefaults(), pending: map[PartKey]*partial{}, bySource: map[source]int{}}
}

// Add is Put for callers that need no reason when a part is refused (the
// replay engine, the simulator): a refused part is ignored.
func (r *Reassembler) Add(k PartKey, c Concat, coding byte, data []byte, now time.Time) (msg []byte, msgCoding byte, done bool) {
	msg, msgCoding, done, _ = r.Put(k, c, coding, data, now)
	return msg, msgCoding, done
}

// Put records part c.Seq of the message k (c.Total must equal k.Total and
// c.Seq lie in 1..Total). coding is the part's data_coding; data its user
// data without UDH, copied. When this part completes the message, Put
// returns the parts' data joined in order and the first part's coding, with
// done true. A repeated part replaces the earlier copy (the SMSC redelivers
// when an ack is lost).
//
// A part is refused, and nothing is held, when it is larger than
// MaxPartBytes (ErrPartTooLarge) or would take its source past
// MaxSourceBytes (ErrSourceFull) or everything past MaxTotalBytes
// (ErrReassemblyFull). Expired messages are dropped first.
//
// A completed message stays until Forget(k): a caller that fails to store it
// keeps the parts, so that the SMSC's redelivery of the last part completes
// it again. Callers that need no such retry call Forget right away.
func (r *Reassembler) Put(k PartKey, c Concat, coding byte, data []byte, now time.Time) (msg []byte, msgCoding byte, done bool, err error) {
	if err := c.Validate(); err != nil {
		return nil, 0, false, err
	}
	if c.Total != k.Total {
		return nil, 0, false, fmt.Errorf("%w: total %d, key total %d", errPartInconsistent, c.Total, k.Total)
	}
	if len(data) > r.lim.MaxPartBytes {
		return nil, 0, false, fmt.Errorf("%w: %d bytes, limit %d", ErrPartTooLarge, len(data), r.lim.MaxPartBytes)
	}
	r.Expire(now)
	src := source{k.Bind, k.From}
	p := r.pending[k]
	grow := len(data)
	if p == nil {
		grow += msgOverhead + slotOverhead*c.Total
	} else {
		grow -= len(p.parts[c.Seq-1])
	}
	if grow > 0 {
		if r.bySource[src]+grow > r.lim.MaxSourceBytes {
			return nil, 0, false, fmt.Errorf("%w: %d held, limit %d", ErrSourceFull, r.bySource[src], r.lim.MaxSourceBytes)
		}
		if r.total+grow > r.lim.MaxTotalBytes {
			return nil, 0, false, fmt.Errorf("%w: %d held, limit %d", ErrReassemblyFull, r.total, r.lim.MaxTotalBytes)
		}
	}
	if p == nil {
		if len(r.pending) >= r.lim.MaxMessages {
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
	p.parts[c.Seq-1] = append(make([]byte, 0, len(data)), data...)
	p.bytes += grow
	r.bySource[src] += grow
	r.total += grow
	if p.have < c.Total {
		return nil, 0, false, nil
	}
	n := 0
	for _, b := range p.parts {
		n += len(b)
	}
	msg = make([]byte, 0, n)
	for _, b := range p.parts {
		msg = append(msg, b...)
	}
	return msg, p.coding, true, nil
}

// Forget drops the parts of message k (after it was stored).
func (r *Reassembler) Forget(k PartKey) {
	if p := r.pending[k]; p != nil {
		r.drop(k, p)
	}
}

func (r *Reassembler) drop(k PartKey, p *partial) {
	delete(r.pending, k)
	src := source{k.Bind, k.From}
	r.total -= p.bytes
	if n := r.bySource[src] - p.bytes; n > 0 {
		r.bySource[src] = n
	} else {
		delete(r.bySource, src)
	}
	if len(r.pending) == 0 {
		// Go maps never shrink: start afresh so a burst's buckets go too.
		r.pending, r.bySource, r.total = map[PartKey]*partial{}, map[source]int{}, 0
	}
}

// Expire forgets incomplete messages older than the ttl and returns how
// many it dropped.
func (r *Reassembler) Expire(now time.Time) int {
	n := 0
	for k, p := range r.pending {
		if now.Sub(p.first) >= r.ttl {
			r.drop(k, p)
			n++
		}
	}
	return n
}

// Pending returns how many messages wait for parts.
func (r *Reassembler) Pending() int { return len(r.pending) }

// Bytes returns how many bytes the held parts count against the limits.
func (r *Reassembler) Bytes() int { return r.total }

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
		r.drop(oldest, r.pending[oldest])
	}
}
