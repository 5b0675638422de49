package smpp

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// This file is the SMPP side of operations (issue 16): the Observer a
// metrics exporter implements (smpp never imports Prometheus), and the
// operator's suspend and resume of a bind. Counts that Stats already keeps
// (state, binds, reconnects, PDUs by command and status, window) are read
// from Stats on scrape; the Observer carries what a snapshot cannot: every
// MO acknowledgement's latency and every throttle.

// Observer is told about events of the binds. Its methods are called on
// the session's goroutines and must return at once.
type Observer interface {
	// MOAcked: a deliver_sm or data_sm of bind was answered d after it was
	// read (the MO stored first, or refused with a temporary error).
	MOAcked(bind string, d time.Duration)
	// Throttled: the SMSC answered a submit_sm of bind with
	// ESME_RTHROTTLED or ESME_RMSGQFUL; the part is retried after
	// RetryDelay.
	Throttled(bind string)
}

// NoObserver observes nothing (the default).
type NoObserver struct{}

// MOAcked implements Observer.
func (NoObserver) MOAcked(string, time.Duration) {}

// Throttled implements Observer.
func (NoObserver) Throttled(string) {}

func (c *Client) observer() Observer {
	if c.obs == nil {
		return NoObserver{}
	}
	return c.obs
}

// ErrUnknownBind: no bind has that name.
var ErrUnknownBind = errors.New("smpp: no such bind")

// bindControl is a bind's operator switch: suspended binds unbind and do
// not reconnect until resumed.
type bindControl struct {
	mu  sync.Mutex
	off bool
	// offCh is closed while the bind is suspended, onCh while it is not.
	offCh, onCh chan struct{}
}

func newBindControl() *bindControl {
	c := &bindControl{offCh: make(chan struct{}), onCh: make(chan struct{})}
	close(c.onCh)
	return c
}

func (c *bindControl) set(off bool) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.off == off {
		return false
	}
	c.off = off
	if off {
		close(c.offCh)
		c.onCh = make(chan struct{})
	} else {
		close(c.onCh)
		c.offCh = make(chan struct{})
	}
	return true
}

// suspended returns a channel closed while the bind is suspended.
func (c *bindControl) suspended() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.offCh
}

func (c *bindControl) isSuspended() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.off
}

// waitActive blocks while the bind is suspended; false when ctx ended.
func (c *bindControl) waitActive(ctx context.Context, s *linkStats) bool {
	c.mu.Lock()
	on := c.onCh
	off := c.off
	c.mu.Unlock()
	if !off {
		return true
	}
	s.setState("suspended")
	select {
	case <-on:
		return true
	case <-ctx.Done():
		return false
	}
}

func (c *Client) bindNamed(name string) (*bind, error) {
	for _, b := range c.binds {
		if b.cfg.Name == name {
			return b, nil
		}
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownBind, name)
}

// Suspend unbinds every link of the bind name gracefully (in-flight MOs
// are acknowledged first) and keeps it down until Resume. MTs go out on
// the other binds meanwhile. It returns at once; changed is false when the
// bind was already suspended.
func (c *Client) Suspend(name string) (changed bool, err error) {
	b, err := c.bindNamed(name)
	if err != nil {
		return false, err
	}
	if b.ctl.set(true) {
		c.log.Info("smpp: bind suspended by the operator", "bind", name)
		return true, nil
	}
	return false, nil
}

// Resume lets a suspended bind connect again at once.
func (c *Client) Resume(name string) (changed bool, err error) {
	b, err := c.bindNamed(name)
	if err != nil {
		return false, err
	}
	if b.ctl.set(false) {
		c.log.Info("smpp: bind resumed by the operator", "bind", name)
		return true, nil
	}
	return false, nil
}
