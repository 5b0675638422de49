package smsc

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"

	"github.com/fiorix/go-smpp/smpp/pdu"
	"github.com/fiorix/go-smpp/smpp/pdu/pdutlv"

	"github.com/carrierbill/carrierbill/smpp"
)

// Split says how InjectMO sends a text too long for one message.
type Split int

// Ways to send a long MO.
const (
	SplitUDH8    Split = iota // UDH, IEI 0x00, 8-bit reference (the common case)
	SplitUDH16                // UDH, IEI 0x08, 16-bit reference
	SplitSAR                  // sar_msg_ref_num / sar_total_segments / sar_segment_seqnum TLVs
	SplitPayload              // one deliver_sm with message_payload
)

// MO is an MO to inject.
type MO struct {
	SystemID string `json:"system_id,omitempty"` // bind to deliver on; "" any
	From     string `json:"from"`
	To       string `json:"to"`
	Text     string `json:"text"`
	Split    Split  `json:"split,omitempty"`
	// ReuseSeq sends the first part with the sequence number of a submit_sm
	// the simulator holds unanswered (see Hold), as some SMSCs do.
	ReuseSeq bool `json:"-"`
}

var moRef atomic.Uint32

// InjectMO sends an MO to the ESME the way an SMSC would: GSM 7-bit when it
// fits, else UCS2; long text split per mo.Split. It returns once every part
// was answered, with the status of each part's deliver_sm_resp.
func (s *Server) InjectMO(ctx context.Context, mo MO) ([]pdu.Status, error) {
	ref := uint16(moRef.Add(1))
	coding, parts, err := smpp.SplitText(mo.Text, uint8(ref))
	if err != nil {
		return nil, err
	}
	var sms []*smpp.SM
	base := smpp.SM{Src: mo.From, Dst: mo.To, DataCoding: coding}
	switch {
	case len(parts) == 1:
		sm := base
		sm.ShortMessage = parts[0]
		sms = append(sms, &sm)
	case mo.Split == SplitPayload:
		sm := base
		var all []byte
		for _, p := range parts {
			_, ud, _ := smpp.ParseUDH(p)
			all = append(all, ud...)
		}
		sm.TLVs = pdutlv.Map{}
		sm.TLVs.Set(pdutlv.TagMessagePayload, all)
		sms = append(sms, &sm)
	default:
		for i, p := range parts {
			sm := base
			_, ud, _ := smpp.ParseUDH(p)
			switch mo.Split {
			case SplitUDH16:
				sm.ESMClass = 0x40
				sm.ShortMessage = append(smpp.ConcatUDH16(ref+0x100, len(parts), i+1), ud...)
			case SplitSAR:
				sm.ShortMessage = ud
				sm.TLVs = pdutlv.Map{}
				sm.TLVs.Set(pdutlv.TagSarMsgRefNum, binary.BigEndian.AppendUint16(nil, ref))
				sm.TLVs.Set(pdutlv.TagSarTotalSegments, uint8(len(parts)))
				sm.TLVs.Set(pdutlv.TagSarSegmentSeqnum, uint8(i+1))
			default:
				sm.ESMClass = 0x40
				sm.ShortMessage = p
			}
			sms = append(sms, &sm)
		}
	}
	var sts []pdu.Status
	for i, sm := range sms {
		var seq uint32
		if i == 0 && mo.ReuseSeq {
			held := s.HeldSeqs(mo.SystemID)
			if len(held) == 0 {
				return nil, fmt.Errorf("smsc: ReuseSeq without a held submit_sm")
			}
			seq = held[0]
		}
		st, err := s.Deliver(ctx, mo.SystemID, sm, seq)
		if err != nil {
			return sts, fmt.Errorf("smsc: delivering part %d/%d: %w", i+1, len(sms), err)
		}
		sts = append(sts, st)
	}
	return sts, nil
}

// InjectFile injects one MO per JSON line of r ({"from","to","text",
// "system_id","split"}), in order, and stops at the first error.
func (s *Server) InjectFile(ctx context.Context, r io.Reader) (int, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	n, line := 0, 0
	for sc.Scan() {
		line++
		if len(sc.Bytes()) == 0 {
			continue
		}
		var mo MO
		if err := json.Unmarshal(sc.Bytes(), &mo); err != nil {
			return n, fmt.Errorf("smsc: MO file line %d: %w", line, err)
		}
		if _, err := s.InjectMO(ctx, mo); err != nil {
			return n, fmt.Errorf("smsc: MO file line %d: %w", line, err)
		}
		n++
	}
	if err := sc.Err(); err != nil {
		return n, fmt.Errorf("smsc: reading MO file: %w", err)
	}
	return n, nil
}

// Handler serves the HTTP control endpoint:
//
//	POST /mo       body {"from","to","text","system_id","split"} → {"statuses":[0]}
//	POST /receipt  body {"message_id","from","to","state","system_id"} → {"status":0}
//	GET  /mts      → the MTs received so far
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /mo", func(w http.ResponseWriter, r *http.Request) {
		var mo MO
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&mo); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		sts, err := s.InjectMO(r.Context(), mo)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"statuses": sts})
	})
	mux.HandleFunc("POST /receipt", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			SystemID  string `json:"system_id"`
			MessageID string `json:"message_id"`
			From, To  string
			State     string `json:"state"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if req.State == "" {
			req.State = "DELIVRD"
		}
		st, err := s.SendReceipt(r.Context(), req.SystemID, req.MessageID, req.From, req.To, req.State)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"status": st})
	})
	mux.HandleFunc("GET /mts", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(s.MTs())
	})
	return mux
}
