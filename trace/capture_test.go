package trace

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"
)

// forBoth runs a capture test on the pcap and the pcapng rendering.
func forBoth(t *testing.T, f func(t *testing.T, ng bool)) {
	t.Helper()
	for _, ng := range []bool{false, true} {
		name := "pcap"
		if ng {
			name = "pcapng"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f(t, ng)
		})
	}
}

const (
	alice = "8613800000001"
	bob   = "8613800000002"
)

func TestCaptureFraming(t *testing.T) {
	t.Parallel()
	mo1 := moText(1, alice, "10")
	mo2 := moText(2, bob, "CX")
	mo3 := moText(3, alice, "482913")
	forBoth(t, func(t *testing.T, ng bool) {
		c := newConn(40000).handshake()
		c.send(0, pduBytes(idBindTRX, 1, []byte("esme\x00secret\x00\x00\x34\x00\x00\x00")))
		c.send(1, pduBytes(0x80000009, 1, []byte("smsc\x00")))
		c.send(1, mo1[:20]) // packet 5: a PDU split across two segments…
		c.send(1, mo1[20:]) // packet 6: …completed here
		c.send(1, mo2, mo3) // packet 7: two PDUs in one segment
		c.send(0, pduBytes(idDeliverSMResp, 1, []byte{0}), pduBytes(idDeliverSMResp, 2, []byte{0}))
		c.send(1, pduBytes(idEnquireLink, 4, nil))
		c.fin(0).fin(1)
		recs, errs, st := readAll(t, render(t, ng, c), "gen", Auto, Options{})
		if len(errs) != 0 {
			t.Fatalf("errors %v", errs)
		}
		if got := texts(recs, MO); !reflect.DeepEqual(got, []string{"10", "CX", "482913"}) {
			t.Fatalf("texts %q", got)
		}
		smsc := "10.0.0.1:2775->10.0.0.2:40000"
		want := []Position{
			{File: "gen", Packet: 6, Stream: smsc, Offset: 21},
			{File: "gen", Packet: 7, Stream: smsc, Offset: int64(21 + len(mo1))},
			{File: "gen", Packet: 7, Stream: smsc, Offset: int64(21 + len(mo1) + len(mo2))},
		}
		for i, r := range recs {
			if r.Pos != want[i] {
				t.Errorf("record %d at %v, want %v", i, r.Pos, want[i])
			}
			if r.SeqNum != uint32(i+1) || r.Coding != 3 || r.From == "" || r.To != "106580088001" {
				t.Errorf("record %d: %+v", i, r)
			}
		}
		// The split PDU takes the time of the packet that completed it.
		if want := captureStart.Add(5 * 10 * time.Millisecond); !recs[0].At.Equal(want) {
			t.Errorf("at %v, want %v", recs[0].At, want)
		}
		wantIgnored := map[string]int{"pdu_bindtransceiver": 1, "pdu_bindtransceiverresp": 1, "pdu_deliversmresp": 2, "pdu_enquirelink": 1}
		if !reflect.DeepEqual(st.Ignored, wantIgnored) {
			t.Errorf("ignored %v", st.Ignored)
		}
	})
}

func TestCaptureRetransmissionAndReordering(t *testing.T) {
	t.Parallel()
	mo1, mo2, mo3 := moText(1, alice, "a"), moText(2, alice, "b"), moText(3, alice, "c")
	forBoth(t, func(t *testing.T, ng bool) {
		c := newConn(40001).handshake()
		c.send(1, mo1) // 2
		c.send(1, mo2) // 3
		c.send(1, mo3) // 4
		c.fin(1)       // 5
		// SYNs, mo1, mo1 again (retransmitted), mo3 before mo2, FIN.
		order := [][2]int{{0, 0}, {0, 1}, {0, 2}, {0, 2}, {0, 4}, {0, 3}, {0, 5}}
		recs, errs, _ := readAll(t, renderOrder(t, ng, []*tcpConn{c}, order), "gen", Auto, Options{})
		if len(errs) != 0 {
			t.Fatalf("errors %v", errs)
		}
		if got := texts(recs, MO); !reflect.DeepEqual(got, []string{"a", "b", "c"}) {
			t.Fatalf("texts %q", got)
		}
	})
}

func TestCaptureTruncated(t *testing.T) {
	t.Parallel()
	forBoth(t, func(t *testing.T, ng bool) {
		c := newConn(40002).handshake()
		c.send(1, moText(1, alice, "10"))
		c.send(1, moText(2, alice, "482913"))
		full := render(t, ng, c)
		cut := full[:len(full)-25] // inside the last packet
		t.Run("lenient", func(t *testing.T) {
			recs, errs, st := readAll(t, cut, "cut", Auto, Options{})
			if got := texts(recs, MO); !reflect.DeepEqual(got, []string{"10"}) {
				t.Errorf("texts %q", got)
			}
			if len(errs) != 1 || errs[0].Reason != ReasonTruncatedCapture || errs[0].Pos.Packet != 4 {
				t.Errorf("errors %v, want truncated at packet 4", errs)
			}
			if st.Skipped[ReasonTruncatedCapture] != 1 {
				t.Errorf("stats %+v", st)
			}
		})
		t.Run("strict", func(t *testing.T) {
			r, err := NewReader(bytes.NewReader(cut), "cut", Auto, Options{Strict: true})
			if err != nil {
				t.Fatal(err)
			}
			if rec, err := r.Next(); err != nil || rec.Text != "10" {
				t.Fatalf("first: %v, %v", rec, err)
			}
			_, err = r.Next()
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Reason != ReasonTruncatedCapture || pe.Pos.String() != "cut: packet 4" {
				t.Fatalf("second: %v", err)
			}
		})
	})
}

func TestCaptureBrokenStreams(t *testing.T) {
	t.Parallel()
	mo1, mo2, mo3 := moText(1, alice, "a"), moText(2, alice, "b"), moText(3, alice, "c")
	smsc := "10.0.0.1:2775->10.0.0.2:40003"
	tests := []struct {
		name   string
		build  func() ([]*tcpConn, [][2]int)
		opts   Options
		texts  []string
		errs   []string // reason@packet
		ignore map[string]int
	}{
		{
			name: "lost segment: gap reported, next PDU found",
			build: func() ([]*tcpConn, [][2]int) {
				c := newConn(40003).handshake().send(1, mo1).send(1, mo2[:10]).send(1, mo2[10:], mo3).fin(1)
				return []*tcpConn{c}, [][2]int{{0, 0}, {0, 1}, {0, 2}, {0, 4}, {0, 5}} // packet with mo2[:10] lost
			},
			texts: []string{"a", "c"},
			errs:  []string{ReasonStreamGap + "@4"},
		},
		{
			name: "capture starts mid-stream",
			build: func() ([]*tcpConn, [][2]int) {
				c := newConn(40003).handshake().send(1, mo1[:30]).send(1, mo1[30:], mo2).send(1, mo3)
				return []*tcpConn{c}, [][2]int{{0, 3}, {0, 4}}
			},
			texts: []string{"b", "c"},
		},
		{
			name: "stream ends inside a PDU",
			build: func() ([]*tcpConn, [][2]int) {
				c := newConn(40003).handshake().send(1, mo1).send(1, mo2[:25]).fin(1)
				return []*tcpConn{c}, [][2]int{{0, 0}, {0, 1}, {0, 2}, {0, 3}, {0, 4}}
			},
			texts: []string{"a"},
			errs:  []string{ReasonIncompletePDU + "@5"},
		},
		{
			name: "garbage inside an SMPP stream: reported, resynchronized",
			build: func() ([]*tcpConn, [][2]int) {
				junk := []byte{0xff, 0xff, 0xff, 0xff, 1, 2, 3}
				c := newConn(40003).handshake().send(1, mo1).send(1, junk, mo2).fin(1)
				return []*tcpConn{c}, [][2]int{{0, 0}, {0, 1}, {0, 2}, {0, 3}, {0, 4}}
			},
			texts: []string{"a", "b"},
			errs:  []string{ReasonBadPDU + "@4"},
		},
		{
			name: "a PDU the codec rejects",
			build: func() ([]*tcpConn, [][2]int) {
				bad := deliverSM(2, sm{src: alice, dst: "1", esm: 0x40, msg: []byte{9, 0, 3}}) // UDH longer than the message
				c := newConn(40003).handshake().send(1, mo1, bad, mo3).fin(1)
				return []*tcpConn{c}, [][2]int{{0, 0}, {0, 1}, {0, 2}, {0, 3}}
			},
			texts: []string{"a", "c"},
			errs:  []string{ReasonBadPDU + "@3"},
		},
		{
			name: "a stream that is not SMPP is ignored",
			build: func() ([]*tcpConn, [][2]int) {
				web := newConn(40004).handshake().send(0, []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")).send(1, []byte("HTTP/1.1 200 OK\r\n\r\n"))
				smpp := newConn(40003).handshake().send(1, mo1)
				return []*tcpConn{web, smpp}, [][2]int{{0, 0}, {0, 1}, {1, 0}, {1, 1}, {0, 2}, {0, 3}, {1, 2}}
			},
			texts:  []string{"a"},
			ignore: map[string]int{"non_smpp_stream": 2},
		},
		{
			name: "--port: other streams ignored",
			build: func() ([]*tcpConn, [][2]int) {
				other := newConn(40005).handshake().send(1, mo2)
				other.ports[1] = 2776
				smpp := newConn(40003).handshake().send(1, mo1)
				return []*tcpConn{other, smpp}, [][2]int{{0, 0}, {0, 1}, {0, 2}, {1, 0}, {1, 1}, {1, 2}}
			},
			opts:   Options{Port: 2775},
			texts:  []string{"a"},
			ignore: map[string]int{"other_port_packet": 3},
		},
		{
			name: "--port: a stream there that is not SMPP is an error",
			build: func() ([]*tcpConn, [][2]int) {
				c := newConn(40003).handshake().send(1, []byte("220 smtp.example ESMTP ready\r\n"))
				return []*tcpConn{c}, [][2]int{{0, 0}, {0, 1}, {0, 2}}
			},
			opts: Options{Port: 2775},
			errs: []string{ReasonBadPDU + "@3"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forBoth(t, func(t *testing.T, ng bool) {
				conns, order := tt.build()
				recs, errs, st := readAll(t, renderOrder(t, ng, conns, order), "gen", Auto, tt.opts)
				if got := texts(recs, MO); !reflect.DeepEqual(got, tt.texts) {
					t.Errorf("texts %q, want %q", got, tt.texts)
				}
				var got []string
				for _, e := range errs {
					got = append(got, fmt.Sprintf("%s@%d", e.Reason, e.Pos.Packet))
					if e.Pos.File != "gen" || (e.Reason != ReasonTruncatedCapture && e.Pos.Stream == "") {
						t.Errorf("position %v", e.Pos)
					}
				}
				if !reflect.DeepEqual(got, tt.errs) {
					t.Errorf("errors %v (%v), want %v", got, errs, tt.errs)
				}
				for k, v := range tt.ignore {
					if st.Ignored[k] != v {
						t.Errorf("ignored %v, want %s=%d", st.Ignored, k, v)
					}
				}
				if len(errs) > 0 && errs[0].Pos.Stream != smsc && tt.opts.Port == 0 {
					t.Errorf("error stream %q, want %q", errs[0].Pos.Stream, smsc)
				}
			})
		})
	}
}

func TestCaptureMessages(t *testing.T) {
	t.Parallel()
	udh16 := []byte{6, 8, 4, 0xbe, 0xef, 2, 1}
	sar := append(append(tlv(0x020C, []byte{0, 42}), tlv(0x020E, []byte{3})...), tlv(0x020F, []byte{2})...)
	tests := []struct {
		name string
		pdu  []byte
		want Record // Pos, At ignored
	}{
		{"gsm 7-bit with @ and escapes", deliverSM(1, sm{src: "+" + alice, dst: "106580088001", dc: 0, msg: []byte{0x00, 'a', 0x1b, 0x65, 0x02}}),
			Record{Kind: MO, From: alice, To: "106580088001", Text: "@a€$", Coding: 0, Payload: []byte{0x00, 'a', 0x1b, 0x65, 0x02}, SeqNum: 1}},
		{"latin-1", deliverSM(2, sm{src: alice, dst: "1", dc: 3, msg: []byte{'c', 'a', 'f', 0xe9}}),
			Record{Kind: MO, From: alice, To: "1", Text: "café", Coding: 3, Payload: []byte{'c', 'a', 'f', 0xe9}, SeqNum: 2}},
		{"ucs2", deliverSM(3, sm{src: alice, dst: "1", dc: 8, msg: []byte{0x67, 0xe5, 0x8b, 0xe2}}),
			Record{Kind: MO, From: alice, To: "1", Text: "查询", Coding: 8, Payload: []byte{0x67, 0xe5, 0x8b, 0xe2}, SeqNum: 3}},
		{"udh part", deliverSM(4, sm{src: alice, dst: "1", dc: 8, esm: 0x40, msg: append(append([]byte(nil), udh16...), 0x67, 0xe5)}),
			Record{Kind: MO, From: alice, To: "1", Text: "查", Coding: 8, UDH: udh16, Payload: append(append([]byte(nil), udh16...), 0x67, 0xe5), SeqNum: 4}},
		{"sar part", deliverSM(5, sm{src: alice, dst: "1", dc: 0, msg: []byte("lo"), tlvs: sar}),
			Record{Kind: MO, From: alice, To: "1", Text: "lo", SAR: &SAR{Ref: 42, Total: 3, Seq: 2}, Payload: []byte("lo"), SeqNum: 5}},
		{"message_payload with udh", deliverSM(6, sm{src: alice, dst: "1", dc: 0, esm: 0x40, tlvs: tlv(0x0424, []byte{5, 0, 3, 7, 2, 2, 'h', 'i'})}),
			Record{Kind: MO, From: alice, To: "1", Text: "hi", UDH: []byte{5, 0, 3, 7, 2, 2}, Payload: []byte{5, 0, 3, 7, 2, 2, 'h', 'i'}, SeqNum: 6}},
		{"binary", deliverSM(7, sm{src: alice, dst: "1", dc: 4, msg: []byte{1, 2}}),
			Record{Kind: MO, From: alice, To: "1", Coding: 4, Payload: []byte{1, 2}, SeqNum: 7}},
		{"submit_sm with udh", submitSM(8, sm{src: "106580088001", dst: alice, dc: 8, esm: 0x43, msg: []byte{5, 0, 3, 9, 2, 1, 0x4e, 0x2d}}),
			Record{Kind: MT, From: "106580088001", To: alice, Text: "中", Coding: 8, UDH: []byte{5, 0, 3, 9, 2, 1}, Payload: []byte{5, 0, 3, 9, 2, 1, 0x4e, 0x2d}, SeqNum: 8}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newConn(40010).handshake().send(1, tt.pdu)
			recs, errs, _ := readAll(t, render(t, false, c), "gen", PCAP, Options{})
			if len(errs) != 0 || len(recs) != 1 {
				t.Fatalf("records %v, errors %v", recs, errs)
			}
			got := recs[0]
			got.Pos, got.At = Position{}, time.Time{}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestCaptureDeliveryReceiptIgnored(t *testing.T) {
	t.Parallel()
	dlr := deliverSM(1, sm{src: alice, dst: "106580088001", esm: 0x04, msg: []byte("id:1 sub:001 dlvrd:001 submit date:2611211000 done date:2611211000 stat:DELIVRD err:000 text:")})
	c := newConn(40011).handshake().send(1, dlr, moText(2, alice, "10"))
	recs, errs, st := readAll(t, render(t, true, c), "gen", Auto, Options{})
	if len(errs) != 0 || len(recs) != 1 || recs[0].Text != "10" || st.Ignored["delivery_receipt"] != 1 {
		t.Fatalf("records %v errors %v stats %+v", recs, errs, st)
	}
}

func TestCaptureIPv6(t *testing.T) {
	t.Parallel()
	// An IPv6 loopback capture: the same stream code path with another
	// network layer. Built on the IPv4 helper by swapping addresses.
	c := newConn(40012).handshake().send(1, moText(1, alice, "10"))
	c.addrs[0], c.addrs[1] = ipv6(2), ipv6(1)
	recs, errs, _ := readAll(t, render(t, false, c), "gen6", Auto, Options{})
	if len(errs) != 0 || len(recs) != 1 || recs[0].Pos.Stream != "[::1]:2775->[::2]:40012" {
		t.Fatalf("records %v errors %v", recs, errs)
	}
}
