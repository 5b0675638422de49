package smsc

import (
	"context"

	"github.com/fiorix/go-smpp/smpp/pdu"

	"github.com/carrierbill/carrierbill/smpp"
)

// The fault knobs of the fault suite (issue 17) beyond the older ones in
// smsc.go (Throttle, Nack, Hold, DropLinks, IgnoreEnquireLink, MO.ReuseSeq):
// an SMSC that loses the ESME's deliver_sm_resp and so delivers the same
// MO again, and one whose sequence counter repeats numbers.

// deliverFaults are the armed deliver_sm faults; guarded by Server.mu.
type deliverFaults struct {
	lostAcks    int    // deliver_sm whose response is "lost" and redelivered
	reuseSeqs   int    // deliver_sm that reuse the previous sequence number
	lastSeq     uint32 // the previous deliver_sm's sequence number
	redelivered int
	reused      int
}

// LoseAcks makes the next n deliver_sm behave as if their deliver_sm_resp
// were lost on the way back: the simulator delivers the same message again
// (same content, a new sequence number), as an SMSC does when it does not
// hear the ack, and reports the redelivery's status. The ESME must not act
// on the MO twice (it stored it twice; the engine decides once).
func (s *Server) LoseAcks(n int) { s.mu.Lock(); s.faults.lostAcks = n; s.mu.Unlock() }

// ReuseSeqs makes the next n deliver_sm carry the sequence number of the
// deliver_sm before them (an SMSC whose counter repeats), so two deliver_sm
// of one connection may be in flight under one number.
func (s *Server) ReuseSeqs(n int) { s.mu.Lock(); s.faults.reuseSeqs = n; s.mu.Unlock() }

// FaultCounts returns how many deliver_sm were redelivered for a lost ack
// and how many reused a sequence number.
func (s *Server) FaultCounts() (redelivered, reused int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults.redelivered, s.faults.reused
}

// deliverSeq picks the sequence number of a deliver_sm on c.
func (s *Server) deliverSeq(c *session) uint32 {
	s.mu.Lock()
	if s.faults.reuseSeqs > 0 && s.faults.lastSeq != 0 {
		s.faults.reuseSeqs--
		s.faults.reused++
		seq := s.faults.lastSeq
		s.mu.Unlock()
		return seq
	}
	s.mu.Unlock()
	seq := c.nextSeq()
	s.mu.Lock()
	s.faults.lastSeq = seq
	s.mu.Unlock()
	return seq
}

// ackLost reports whether the response just received counts as lost.
func (s *Server) ackLost() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.faults.lostAcks <= 0 {
		return false
	}
	s.faults.lostAcks--
	s.faults.redelivered++
	return true
}

// redeliver sends sm again on c under a new sequence number.
func (s *Server) redeliver(ctx context.Context, c *session, sm *smpp.SM) (pdu.Status, error) {
	seq := c.nextSeq()
	s.mu.Lock()
	s.faults.lastSeq = seq
	s.mu.Unlock()
	f, err := sm.EncodeDeliverSM(seq)
	if err != nil {
		return 0, err
	}
	return c.call(ctx, f)
}
