package virtiotest

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// ErrKickClosed is returned by Kick.Wait after Close.
var ErrKickClosed = errors.New("virtiotest: kick closed")

// Kick is an in-memory virtio.Kick: Kick rings it, Close stops the queue.
type Kick struct {
	ch     chan struct{}
	closed chan struct{}
	once   sync.Once
}

// NewKick returns an open Kick.
func NewKick() *Kick {
	return &Kick{ch: make(chan struct{}, 1), closed: make(chan struct{})}
}

// Kick rings the doorbell; kicks not yet consumed coalesce, like an eventfd.
func (k *Kick) Kick() {
	select {
	case k.ch <- struct{}{}:
	default:
	}
}

// Close makes Wait return ErrKickClosed.
func (k *Kick) Close() { k.once.Do(func() { close(k.closed) }) }

// Wait blocks until a kick or Close.
func (k *Kick) Wait() error {
	select {
	case <-k.closed:
		return ErrKickClosed
	default:
	}
	select {
	case <-k.ch:
		return nil
	case <-k.closed:
		return ErrKickClosed
	}
}

// Call is an in-memory virtio.Notifier that counts notifications.
type Call struct {
	n  atomic.Int64
	ch chan struct{}
}

// NewCall returns a Call with no notifications.
func NewCall() *Call { return &Call{ch: make(chan struct{}, 1)} }

// Notify records a notification.
func (c *Call) Notify() error {
	c.n.Add(1)
	select {
	case c.ch <- struct{}{}:
	default:
	}
	return nil
}

// Count returns the number of notifications so far.
func (c *Call) Count() int64 { return c.n.Load() }

// Wait waits up to d for a notification not yet waited for and reports
// whether one came.
func (c *Call) Wait(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-c.ch:
		return true
	case <-t.C:
		return false
	}
}
