package main

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/golang/glog"

	"github.com/ccmblk/ccmblk/cmd/internal/imagelock"
	"github.com/ccmblk/ccmblk/vhostuser"
	"github.com/ccmblk/ccmblk/virtio"
)

// owner decides when the daemon may serve its image: only while it holds
// the image lock. In a live migration two daemons open one image; the
// source holds the lock until QEMU stops its rings (GET_VRING_BASE), then
// flushes and releases it; the destination, started with --incoming,
// takes it when its first ring starts, which QEMU does only after the
// source's rings stopped. So at no moment do two daemons serve writes.
//
// It implements vhostuser.Activator for the block device it wraps.
type owner struct {
	*virtio.BlockDevice
	name     string
	path     string
	readOnly bool
	// wait bounds how long the first activation of an --incoming daemon
	// retries while the source still holds the lock.
	wait time.Duration
	// recheck re-reads, under the lock, what the daemon read from the
	// image before it held it (its size, the key check of sector 0):
	// nothing read before activation is trusted afterwards.
	recheck func() error
	// grown is called when the image grew while another daemon held it,
	// so that the guest is told at the device start under way; run sets
	// it to the server's MarkConfigChanged before serving.
	grown func()

	mu sync.Mutex
	// lock is the held image lock, nil while inactive.
	lock *os.File
	// waited says the bounded wait was spent: every later activation
	// (a cancelled migration, a later front end) tries once.
	waited bool
}

var _ vhostuser.Activator = (*owner)(nil)

// lockRetry is the first pause between lock attempts of an --incoming
// daemon; it doubles up to lockRetryMax.
const (
	lockRetry    = 20 * time.Millisecond
	lockRetryMax = 500 * time.Millisecond
)

// newOwner returns the owner of dev's image: active, holding lock, or
// inactive (incoming) when lock is nil.
func newOwner(dev *virtio.BlockDevice, o *options, name string, lock *os.File, recheck func() error) *owner {
	return &owner{
		BlockDevice: dev, name: name, path: o.blkFile, readOnly: o.readOnly,
		wait: o.incomingLockWait, recheck: recheck, lock: lock, waited: lock != nil,
	}
}

// Activate takes the image lock if the daemon does not hold it: waiting a
// bounded time the first time on an --incoming daemon, trying once
// otherwise (after a migration the destination may hold it, and then
// this daemon must not serve).
func (w *owner) Activate() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.lock != nil {
		return nil
	}
	deadline := time.Now().Add(w.wait)
	pause := lockRetry
	for attempt := 1; ; attempt++ {
		f, err := imagelock.Lock(w.path, w.readOnly)
		if err == nil {
			if err := w.recheck(); err != nil {
				_ = f.Close()
				return fmt.Errorf("image %s changed while this daemon did not hold it: %w", w.path, err)
			}
			w.lock, w.waited = f, true
			glog.Infof("dev=%s image lock taken (attempt %d): serving %s", w.name, attempt, w.path)
			if w.Refresh() {
				glog.Infof("dev=%s %s grew to %d bytes while another daemon held it; the guest is told at this device start", w.name, w.path, w.Size())
				w.grown()
			}
			return nil
		}
		if w.waited || time.Now().After(deadline) {
			w.waited = true
			return fmt.Errorf("not serving: %w (another daemon, the other end of a migration, serves it)", err)
		}
		if attempt == 1 {
			glog.Warningf("dev=%s %v: waiting up to %v for the migration source to release it", w.name, err, w.wait)
		}
		time.Sleep(min(pause, time.Until(deadline)))
		pause = min(2*pause, lockRetryMax)
	}
}

// Deactivate makes every acknowledged write durable (fdatasync) and then
// releases the image lock, so that the migration destination can take it.
// If the flush fails the lock is kept: the destination must not serve an
// image whose last writes may be lost.
func (w *owner) Deactivate() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.lock == nil {
		return nil
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("flush before releasing the image: %w", err)
	}
	err := w.lock.Close()
	w.lock = nil
	glog.Infof("dev=%s rings stopped, image flushed and lock released: another daemon may take %s over", w.name, w.path)
	return err
}

// whileActive runs f, which changes the image outside the guest's requests
// (a resize), while the daemon holds the image, and refuses otherwise.
// Deactivate waits for f.
func (w *owner) whileActive(f func() error) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.lock == nil {
		return errors.New("this daemon does not hold the image now (--incoming before the guest started, or a migration handed it to another daemon)")
	}
	return f()
}

// Close releases the lock if held.
func (w *owner) Close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.lock != nil {
		_ = w.lock.Close()
		w.lock = nil
	}
}
