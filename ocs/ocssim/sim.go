// Package ocssim is an Online Charging System simulator speaking Diameter
// credit control (RFC 4006) over TCP, for tests, demos and benchmarks: it
// answers CER, DWR and DPR, keeps prepaid balances in fen, reserves on
// CCR-Initial, debits on CCR-Terminate, refunds on CCR-Event
// REFUND_ACCOUNT, knows suspended and unknown numbers, answers a repeated
// request (same Session-Id, CC-Request-Number and type) with its first
// answer without acting twice, and refuses a CCR-Initial on a Session-Id
// already spent. Fault knobs make it stay silent, answer late, answer
// 3004 DIAMETER_TOO_BUSY, drop the connection right after a debit, drop
// the first request after a CEA, grant half of a reservation, or send a
// malformed answer.
//
// It keeps everything in memory and must never be used to move real
// money; it never logs a phone number in clear.
package ocssim

import (
	"bufio"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"
	"github.com/fiorix/go-diameter/v4/diam/dict"

	"github.com/carrierbill/carrierbill/ocs"
	"github.com/carrierbill/carrierbill/redact"
)

// Faults are the simulator's fault knobs; the zero value is a healthy OCS.
type Faults struct {
	// Silent: answer nothing at all, not even DWR (a hung OCS).
	Silent bool
	// NoAnswer: credit-control requests are processed but never answered.
	NoAnswer bool
	// Delay: every credit-control answer is sent this late.
	Delay time.Duration
	// TooBusy: credit-control requests are answered 3004 DIAMETER_TOO_BUSY
	// and not processed.
	TooBusy bool
	// DropAfterDebit: the next this many debits (CCR-T using money) are
	// processed, then the connection is closed without an answer.
	DropAfterDebit int
	// DropFirstAfterCEA: the first request after each CEA is read and
	// silently dropped, unprocessed (a behaviour of some OCS peers).
	DropFirstAfterCEA bool
	// PartialGrant: a reservation grants half of what was asked.
	PartialGrant bool
	// Malformed: credit-control answers carry a Failed-AVP holding a
	// zero-filled grouped AVP (go-diameter v4.1.0 panics decoding it); the
	// request is processed.
	Malformed bool
}

// Rating is what a CCR-Initial asked to be rated as.
type Rating struct {
	MSISDN            string // E.164 digits
	ServiceIdentifier uint32
	RatingGroup       uint32
	// Merchant and Product as found in Service-Information/Service-
	// Specific-Info or in Service-Parameter-Info (types 1 and 2).
	Merchant, Product string
}

// Account is one prepaid account.
type Account struct {
	Balance   int64 // fen
	Suspended bool
}

type session struct {
	msisdn   string
	reserved int64
	open     bool
}

// Server is the simulator.
type Server struct {
	host, realm string
	log         *slog.Logger

	mu       sync.Mutex
	accounts map[string]*Account // by E.164 digits, no "+"
	sessions map[string]*session
	held     map[string]int64  // reserved fen by number
	autoOpen int64             // > 0: an unknown number opens with this balance
	answered map[string]uint32 // "sid/type/num" -> result code, for duplicates
	faults   Faults
	ratings  []Rating
	debits   int
	refunds  int
	requests int

	ln    net.Listener
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

// New returns a simulator with no accounts (every number unknown).
func New(originHost, originRealm string, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{host: originHost, realm: originRealm, log: log,
		accounts: map[string]*Account{}, sessions: map[string]*session{}, held: map[string]int64{}, answered: map[string]uint32{}, conns: map[net.Conn]bool{}}
}

func digits(msisdn string) string { return strings.TrimPrefix(msisdn, "+") }

// SetAccount opens or replaces the account of msisdn.
func (s *Server) SetAccount(msisdn string, a Account) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cp := a
	s.accounts[digits(msisdn)] = &cp
}

// Account returns msisdn's account and whether it exists.
func (s *Server) Account(msisdn string) (Account, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.accounts[digits(msisdn)]
	if !ok {
		return Account{}, false
	}
	return *a, true
}

// SetFaults replaces the fault knobs.
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	s.faults = f
	s.mu.Unlock()
}

// Debits counts the debits done (CCR-T using money, duplicates excluded).
func (s *Server) Debits() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.debits
}

// Refunds counts the refunds done.
func (s *Server) Refunds() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refunds
}

// Requests counts the credit-control requests received (duplicates and
// dropped ones included).
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// Ratings lists what each new CCR-Initial asked to be rated as, in order.
func (s *Server) Ratings() []Rating {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Rating(nil), s.ratings...)
}

// OpenSessions counts the credit-control sessions holding a reservation.
func (s *Server) OpenSessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, ss := range s.sessions {
		if ss.open {
			n++
		}
	}
	return n
}

// Listen starts serving on addr (127.0.0.1:0 in tests).
func (s *Server) Listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	s.Serve(ln)
	return nil
}

// Serve serves connections from ln (a TLS listener for TLS).
func (s *Server) Serve(ln net.Listener) {
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns[c] = true
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serveConn(c)
			}()
		}
	}()
}

// Addr is where the simulator listens.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// DropConnections closes every open connection (the listener stays).
func (s *Server) DropConnections() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.Close()
	}
}

// Close stops listening, closes every connection and waits.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.ln != nil {
		s.ln.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

func (s *Server) serveConn(c net.Conn) {
	defer func() {
		c.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
	var wmu sync.Mutex
	write := func(m *diam.Message) error {
		wmu.Lock()
		defer wmu.Unlock()
		b, err := m.Serialize()
		if err != nil {
			return err
		}
		_, err = c.Write(b)
		return err
	}
	dropNext := false
	var late sync.WaitGroup
	defer late.Wait()
	r := bufio.NewReaderSize(c, 16<<10)
	for {
		raw, err := ocs.ReadRaw(r)
		if err != nil {
			return
		}
		m, err := ocs.Decode(raw)
		if err != nil {
			s.log.Warn("ocssim: undecodable request", "err", err)
			continue
		}
		if m.Header.CommandFlags&diam.RequestFlag == 0 {
			continue // answers to our nothing
		}
		s.mu.Lock()
		f := s.faults
		s.mu.Unlock()
		if f.Silent {
			continue
		}
		switch m.Header.CommandCode {
		case diam.CapabilitiesExchange:
			a := s.answer(m, ocs.CodeSuccess)
			a.NewAVP(avp.HostIPAddress, avp.Mbit, 0, datatype.Address(net.ParseIP("127.0.0.1")))
			a.NewAVP(avp.VendorID, avp.Mbit, 0, datatype.Unsigned32(0))
			a.NewAVP(avp.ProductName, 0, 0, datatype.UTF8String("carrierbill ocssim"))
			a.NewAVP(avp.AuthApplicationID, avp.Mbit, 0, datatype.Unsigned32(ocs.AppCreditControl))
			if write(a) != nil {
				return
			}
			dropNext = f.DropFirstAfterCEA
			continue
		case diam.DeviceWatchdog:
			if write(s.answer(m, ocs.CodeSuccess)) != nil {
				return
			}
			continue
		case diam.DisconnectPeer:
			_ = write(s.answer(m, ocs.CodeSuccess))
			return
		case diam.CreditControl:
		default:
			a := s.answer(m, ocs.CodeCommandUnsupported)
			a.Header.CommandFlags |= diam.ErrorFlag
			if write(a) != nil {
				return
			}
			continue
		}
		s.mu.Lock()
		s.requests++
		s.mu.Unlock()
		if dropNext {
			dropNext = false
			continue
		}
		if f.TooBusy {
			if write(s.answer(m, ocs.CodeTooBusy)) != nil {
				return
			}
			continue
		}
		a, debited := s.creditControl(m)
		if debited && f.DropAfterDebit > 0 {
			s.mu.Lock()
			s.faults.DropAfterDebit--
			s.mu.Unlock()
			return // debited, never answered
		}
		if f.NoAnswer {
			continue
		}
		if f.Malformed {
			a.AddAVP(diam.NewAVP(avp.FailedAVP, avp.Mbit, 0, datatype.Grouped(make([]byte, 12))))
		}
		if f.Delay > 0 {
			late.Add(1)
			time.AfterFunc(f.Delay, func() { // the fault itself: an OCS answering late
				defer late.Done()
				_ = write(a)
			})
			continue
		}
		if write(a) != nil {
			return
		}
	}
}

// answer starts the answer to request m.
func (s *Server) answer(m *diam.Message, code uint32) *diam.Message {
	a := diam.NewMessage(m.Header.CommandCode, m.Header.CommandFlags&diam.ProxiableFlag, m.Header.ApplicationID,
		m.Header.HopByHopID, m.Header.EndToEndID, dict.Default)
	if sid := ocs.Find(m.AVP, avp.SessionID); sid != nil {
		a.NewAVP(avp.SessionID, avp.Mbit, 0, sid.Data)
	}
	a.NewAVP(avp.ResultCode, avp.Mbit, 0, datatype.Unsigned32(code))
	a.NewAVP(avp.OriginHost, avp.Mbit, 0, datatype.DiameterIdentity(s.host))
	a.NewAVP(avp.OriginRealm, avp.Mbit, 0, datatype.DiameterIdentity(s.realm))
	return a
}

// creditControl processes a CCR and returns its CCA; debited reports a
// debit done now (not a duplicate).
func (s *Server) creditControl(m *diam.Message) (*diam.Message, bool) {
	sid := ocs.Text(ocs.Find(m.AVP, avp.SessionID))
	typ, _ := ocs.Uint(ocs.Find(m.AVP, avp.CCRequestType))
	num, _ := ocs.Uint(ocs.Find(m.AVP, avp.CCRequestNumber))
	var msisdn string
	sub := ocs.Children(ocs.Find(m.AVP, avp.SubscriptionID))
	if t, ok := ocs.Uint(ocs.Find(sub, avp.SubscriptionIDType)); ok && t == 0 {
		msisdn = ocs.Text(ocs.Find(sub, avp.SubscriptionIDData))
	}
	mscc := ocs.Children(ocs.Find(m.AVP, avp.MultipleServicesCreditControl))
	finish := func(code uint32, grant int64) *diam.Message {
		a := s.answer(m, code)
		a.NewAVP(avp.CCRequestType, avp.Mbit, 0, datatype.Enumerated(typ))
		a.NewAVP(avp.CCRequestNumber, avp.Mbit, 0, datatype.Unsigned32(num))
		if grant > 0 {
			a.NewAVP(avp.MultipleServicesCreditControl, avp.Mbit, 0, &diam.GroupedAVP{AVP: []*diam.AVP{
				diam.NewAVP(avp.GrantedServiceUnit, avp.Mbit, 0, &diam.GroupedAVP{AVP: []*diam.AVP{ocs.Money(grant)}}),
				diam.NewAVP(avp.ResultCode, avp.Mbit, 0, datatype.Unsigned32(code)),
			}})
		}
		return a
	}
	if sid == "" {
		return finish(ocs.CodeUnableToComply, 0), false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	dup := fmt.Sprintf("%s/%d/%d", sid, typ, num)
	if code, ok := s.answered[dup]; ok {
		grant := int64(0)
		if ss := s.sessions[sid]; code == ocs.CodeSuccess && typ == 1 && ss != nil {
			grant = ss.reserved
		}
		return finish(code, grant), false
	}
	if typ == 1 {
		s.ratings = append(s.ratings, rating(m, msisdn, mscc))
	}
	code, grant, debited := s.apply(sid, int(typ), msisdn, mscc)
	s.answered[dup] = code
	return finish(code, grant), debited
}

// rating reads how a CCR-Initial asks to be rated.
func rating(m *diam.Message, msisdn string, mscc []*diam.AVP) Rating {
	r := Rating{MSISDN: msisdn}
	if v, ok := ocs.Uint(ocs.Find(mscc, avp.ServiceIdentifier)); ok {
		r.ServiceIdentifier = uint32(v)
	}
	if v, ok := ocs.Uint(ocs.Find(mscc, avp.RatingGroup)); ok {
		r.RatingGroup = uint32(v)
	}
	set := func(typ uint64, data string) {
		switch typ {
		case 1:
			r.Merchant = data
		case 2:
			r.Product = data
		}
	}
	for _, a := range ocs.Children(ocs.Find(m.AVP, avp.ServiceInformation)) {
		if a != nil && a.Code == avp.ServiceSpecificInfo {
			t, _ := ocs.Uint(ocs.Find(ocs.Children(a), avp.ServiceSpecificType))
			set(t, ocs.Text(ocs.Find(ocs.Children(a), avp.ServiceSpecificData)))
		}
	}
	for _, a := range m.AVP {
		if a != nil && a.Code == avp.ServiceParameterInfo {
			t, _ := ocs.Uint(ocs.Find(ocs.Children(a), avp.ServiceParameterType))
			set(t, ocs.Text(ocs.Find(ocs.Children(a), avp.ServiceParameterValue)))
		}
	}
	return r
}

// apply acts on one new credit-control request; s.mu is held.
func (s *Server) apply(sid string, typ int, msisdn string, mscc []*diam.AVP) (code uint32, grant int64, debited bool) {
	amount := func(unit uint32) (int64, bool) {
		return ocs.Fen(ocs.Find(mscc, unit))
	}
	switch typ {
	case 1: // INITIAL: reserve
		if _, spent := s.sessions[sid]; spent {
			return ocs.CodeUnableToComply, 0, false
		}
		ss := &session{msisdn: msisdn}
		s.sessions[sid] = ss
		want, ok := amount(avp.RequestedServiceUnit)
		if !ok || want <= 0 {
			return ocs.CodeUnableToComply, 0, false
		}
		acc := s.accounts[msisdn]
		if acc == nil && s.autoOpen > 0 && msisdn != "" {
			acc = &Account{Balance: s.autoOpen}
			s.accounts[msisdn] = acc
		}
		switch {
		case acc == nil:
			return ocs.CodeUserUnknown, 0, false
		case acc.Suspended:
			return ocs.CodeEndUserServiceDenied, 0, false
		case acc.Balance-s.held[msisdn] < want:
			return ocs.CodeCreditLimitReached, 0, false
		}
		if s.faults.PartialGrant {
			want /= 2
		}
		ss.reserved, ss.open = want, true
		s.held[msisdn] += want
		return ocs.CodeSuccess, want, false
	case 3: // TERMINATION: debit what was used, release the rest
		ss := s.sessions[sid]
		if ss == nil || !ss.open {
			if ss == nil {
				s.sessions[sid] = &session{msisdn: msisdn} // spent
			}
			return ocs.CodeUnknownSessionID, 0, false
		}
		used, _ := amount(avp.UsedServiceUnit)
		ss.open = false
		s.held[ss.msisdn] -= ss.reserved
		if s.held[ss.msisdn] <= 0 {
			delete(s.held, ss.msisdn)
		}
		acc := s.accounts[ss.msisdn]
		if used <= 0 {
			return ocs.CodeSuccess, 0, false
		}
		if used > ss.reserved || acc == nil || acc.Balance < used {
			return ocs.CodeCreditLimitReached, 0, false
		}
		acc.Balance -= used
		s.debits++
		s.log.Info("ocssim: debited", "msisdn", redact.Phone("+"+ss.msisdn), "fen", used, "balance", acc.Balance)
		return ocs.CodeSuccess, 0, true
	case 4: // EVENT: REFUND_ACCOUNT
		s.sessions[sid] = &session{msisdn: msisdn}
		want, ok := amount(avp.RequestedServiceUnit)
		acc := s.accounts[msisdn]
		switch {
		case !ok || want <= 0:
			return ocs.CodeUnableToComply, 0, false
		case acc == nil:
			return ocs.CodeUserUnknown, 0, false
		}
		acc.Balance += want
		s.refunds++
		return ocs.CodeSuccess, 0, false
	}
	return ocs.CodeUnableToComply, 0, false
}

// SetAutoOpen makes a number the simulator does not know open an account
// with balance fen at its first reservation (0, the default: unknown
// numbers are answered DIAMETER_USER_UNKNOWN).
func (s *Server) SetAutoOpen(fen int64) {
	s.mu.Lock()
	s.autoOpen = fen
	s.mu.Unlock()
}
