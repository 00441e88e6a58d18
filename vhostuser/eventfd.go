package vhostuser

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// prepareSignalFD checks that fd is an eventfd and makes it non-blocking,
// for use as a call or err descriptor. A front end may hand over a blocking
// eventfd whose counter it has already raised to the maximum; a blocking
// write to it would then hang the ring, and through GET_VRING_BASE the
// session, forever. O_NONBLOCK belongs to the open file description, which
// the front end shares; QEMU creates its eventfds non-blocking anyway.
func prepareSignalFD(fd int) error {
	if err := checkEventFD(fd); err != nil {
		return err
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		return fmt.Errorf("make descriptor non-blocking: %w", err)
	}
	return nil
}

// kick is one run's view of a vring's kick eventfd. It wraps a duplicate
// of the descriptor in non-blocking mode, so os.File makes it pollable and
// close, called by the control goroutine, wakes a reader blocked in Wait.
// It implements virtio.Kick.
type kick struct {
	f *os.File
}

func newKick(fd int) (*kick, error) {
	d, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("vhostuser: dup kick: %w", err)
	}
	if err := unix.SetNonblock(d, true); err != nil {
		_ = unix.Close(d)
		return nil, fmt.Errorf("vhostuser: kick non-blocking: %w", err)
	}
	return &kick{f: os.NewFile(uintptr(d), "vhost-user-kick")}, nil
}

// Wait blocks until the front end kicks the ring and consumes the kick. It
// returns an error once close has been called.
func (k *kick) Wait() error {
	var b [8]byte
	_, err := k.f.Read(b[:])
	if errors.Is(err, os.ErrClosed) {
		return errStopped
	}
	return err
}

func (k *kick) close() { _ = k.f.Close() }

// eventSlot holds a vring's call or err eventfd. The descriptor can be
// replaced (SET_VRING_CALL) while a ring goroutine signals it. A call slot
// is the virtio.Notifier handed to Backend.ServeQueue.
type eventSlot struct {
	mu sync.RWMutex
	// fd is the eventfd, or -1 when the front end gave none.
	// +checklocks:mu
	fd int
}

func newEventSlot() *eventSlot { return &eventSlot{fd: -1} }

// Notify adds one to the eventfd. With no descriptor it does nothing: the
// front end then polls the used ring.
func (e *eventSlot) Notify() error {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.fd < 0 {
		return nil
	}
	var one [8]byte
	ne.PutUint64(one[:], 1)
	_, err := unix.Write(e.fd, one[:])
	if errors.Is(err, unix.EAGAIN) {
		// The counter is saturated: the front end has a signal pending.
		return nil
	}
	if err != nil {
		return fmt.Errorf("vhostuser: signal eventfd: %w", err)
	}
	return nil
}

// set installs fd (or -1) and closes the previous descriptor. Once set
// returns, no Notify uses the old descriptor.
func (e *eventSlot) set(fd int) {
	e.mu.Lock()
	old := e.fd
	e.fd = fd
	e.mu.Unlock()
	if old >= 0 {
		_ = unix.Close(old)
	}
}
