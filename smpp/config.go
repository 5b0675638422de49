package smpp

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/carrierbill/carrierbill/clock"
)

// Mode is how a bind talks to the SMSC.
type Mode string

// Bind modes.
const (
	// ModeTransceiver: one connection carries MTs and MOs (the default).
	ModeTransceiver Mode = "transceiver"
	// ModeTxRx: a transmitter connection for MTs and a receiver for MOs.
	ModeTxRx Mode = "transmitter+receiver"
)

// BindConfig is one bind to one SMSC. Several BindConfigs may point at the
// same SMSC (more throughput) or at different SMSCs.
type BindConfig struct {
	Name       string // unique; shows in MO.Bind, logs and Stats
	Addr       string // host:port
	SystemID   string
	Password   string
	SystemType string
	AddrTON    byte // bind addr_ton
	AddrNPI    byte // bind addr_npi
	Mode       Mode // default ModeTransceiver
	TLS        *tls.Config

	// SourceTON/NPI and DestTON/NPI go into every submit_sm.
	SourceTON, SourceNPI byte
	DestTON, DestNPI     byte

	Window       int // submit_sm in flight per connection; default 10
	MaxPerSecond int // submit_sm per second for this bind; 0 means no cap

	EnquireLink        time.Duration // interval; default 30s
	EnquireLinkTimeout time.Duration // the link is torn down after it; default 10s
	RespTimeout        time.Duration // for bind, submit_sm, unbind; default 10s
	ReconnectMin       time.Duration // first backoff; default 1s
	ReconnectMax       time.Duration // backoff cap; default 60s
	RetryDelay         time.Duration // before resubmitting a throttled MT; default 1s
	PartTimeout        time.Duration // reassembly expiry of concatenated MOs; default 5m

	// Parts bounds the memory of incomplete concatenated MOs on this bind
	// (zero fields: the defaults of ReassemblyLimits). A part beyond
	// MaxPartBytes is answered ESME_RX_P_APPN; one that would take its
	// source or the bind past the byte caps ESME_RMSGQFUL.
	Parts ReassemblyLimits

	// StoreTimeout bounds Consumer.ConsumeMO and ConsumeReceipt: when it
	// passes (a database that stopped answering without closing the
	// connection) the message is answered ESME_RX_T_APPN so the SMSC
	// redelivers. Keep it well under the SMSC's response timeout; default 2s.
	StoreTimeout time.Duration

	// RegisteredDelivery is the registered_delivery of every submit_sm on
	// this bind (0: no receipt, 1: receipt on success and failure, 2: on
	// failure only); MT.RegisteredDelivery asks for 1 on a single MT.
	RegisteredDelivery byte
}

// WithDefaults returns c with zero fields set to their defaults.
func (c BindConfig) WithDefaults() BindConfig {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if c.Mode == "" {
		c.Mode = ModeTransceiver
	}
	if c.Window == 0 {
		c.Window = 10
	}
	def(&c.EnquireLink, 30*time.Second)
	def(&c.EnquireLinkTimeout, 10*time.Second)
	def(&c.RespTimeout, 10*time.Second)
	def(&c.ReconnectMin, time.Second)
	def(&c.ReconnectMax, time.Minute)
	def(&c.RetryDelay, time.Second)
	def(&c.PartTimeout, 5*time.Minute)
	def(&c.StoreTimeout, 2*time.Second)
	c.Parts = c.Parts.WithDefaults()
	return c
}

// Validate reports the first field that is wrong, by name.
func (c BindConfig) Validate() error {
	switch {
	case c.Name == "":
		return errors.New("smpp bind: name is required")
	case c.Addr == "":
		return fmt.Errorf("smpp bind %q: addr is required", c.Name)
	case c.SystemID == "" || len(c.SystemID) > 15:
		return fmt.Errorf("smpp bind %q: system_id must be 1..15 characters", c.Name)
	case len(c.Password) > 8:
		return fmt.Errorf("smpp bind %q: password is longer than 8 characters", c.Name)
	case len(c.SystemType) > 12:
		return fmt.Errorf("smpp bind %q: system_type is longer than 12 characters", c.Name)
	case c.Mode != "" && c.Mode != ModeTransceiver && c.Mode != ModeTxRx:
		return fmt.Errorf("smpp bind %q: mode must be %q or %q", c.Name, ModeTransceiver, ModeTxRx)
	case c.Window < 0 || c.Window > 1000:
		return fmt.Errorf("smpp bind %q: window must be 1..1000", c.Name)
	case c.MaxPerSecond < 0:
		return fmt.Errorf("smpp bind %q: max_per_second must not be negative", c.Name)
	case c.EnquireLink < 0 || c.EnquireLinkTimeout < 0 || c.RespTimeout < 0 || c.ReconnectMin < 0 ||
		c.ReconnectMax < 0 || c.RetryDelay < 0 || c.PartTimeout < 0 || c.StoreTimeout < 0:
		return fmt.Errorf("smpp bind %q: durations must not be negative", c.Name)
	case c.ReconnectMax != 0 && c.ReconnectMax < c.ReconnectMin:
		return fmt.Errorf("smpp bind %q: reconnect_max is below reconnect_min", c.Name)
	case c.Parts.MaxMessages < 0 || c.Parts.MaxPartBytes < 0 || c.Parts.MaxSourceBytes < 0 || c.Parts.MaxTotalBytes < 0:
		return fmt.Errorf("smpp bind %q: reassembly limits must not be negative", c.Name)
	case c.RegisteredDelivery > 0x1F:
		return fmt.Errorf("smpp bind %q: registered_delivery must be 0..31", c.Name)
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("smpp bind %q: addr: %w", c.Name, err)
	}
	return nil
}

// Options are the Client's dependencies.
type Options struct {
	Logger *slog.Logger // default: discard
	Clock  clock.Clock  // default: clock.Real
	MaxPDU int          // largest command_length accepted; default DefaultMaxPDU
	// Observer is told MO ack latencies and throttles (observe.go); nil: none.
	Observer Observer
	// USSD takes deliver_sm with ussd_service_op (ussd.go); nil: handled as MOs.
	USSD USSDConsumer
}
