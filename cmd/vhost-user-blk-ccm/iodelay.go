package main

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/ccmblk/ccmblk/virtio"
)

// ioDelay is the range of --x-io-delay: every disk call of the data path
// first sleeps a random time in [min, max]. It is a testing aid: requests
// stay in flight long enough to be caught by a crash, a migration or a
// ring stop, and complete out of order.
type ioDelay struct {
	min, max time.Duration
}

// maxIODelay bounds --x-io-delay, so that a typo cannot stall the guest's
// disk for hours.
const maxIODelay = 10 * time.Second

// parseIODelay parses "MIN-MAX" with one unit at the end, as in "0-20ms"
// or "1-2s" (units of time.ParseDuration). The empty string means no
// delay.
func parseIODelay(s string) (ioDelay, error) {
	if s == "" {
		return ioDelay{}, nil
	}
	lo, hi, ok := strings.Cut(s, "-")
	i := strings.IndexFunc(hi, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if !ok || lo == "" || i <= 0 {
		return ioDelay{}, fmt.Errorf("--x-io-delay %q: want MIN-MAX with one unit at the end, as in 0-20ms", s)
	}
	unit := hi[i:]
	maxD, err := time.ParseDuration(hi)
	if err != nil {
		return ioDelay{}, fmt.Errorf("--x-io-delay %q: %v", s, err)
	}
	if _, err := strconv.ParseFloat(lo, 64); err != nil {
		return ioDelay{}, fmt.Errorf("--x-io-delay %q: MIN %q is not a number (one unit, at the end)", s, lo)
	}
	minD, err := time.ParseDuration(lo + unit)
	if err != nil {
		return ioDelay{}, fmt.Errorf("--x-io-delay %q: %v", s, err)
	}
	if minD > maxD || maxD > maxIODelay {
		return ioDelay{}, fmt.Errorf("--x-io-delay %q: want MIN <= MAX <= %v", s, maxIODelay)
	}
	return ioDelay{min: minD, max: maxD}, nil
}

// String formats d as the flag takes it.
func (d ioDelay) String() string {
	return fmt.Sprintf("%v-%v", d.min, d.max)
}

// delayedDisk is a disk whose every call (reads, writes, flushes, zeroing,
// discards, growth) first sleeps a random time of its ioDelay. The sleep runs on
// the caller's goroutine, so concurrent calls sleep, and finish, in any
// order.
type delayedDisk struct {
	closingDisk
	delay ioDelay
	sleep func(time.Duration)
}

// withIODelay wraps d in a delayedDisk.
func withIODelay(d closingDisk, delay ioDelay) *delayedDisk {
	return &delayedDisk{closingDisk: d, delay: delay, sleep: time.Sleep}
}

// wait sleeps a random time in [min, max].
func (d *delayedDisk) wait() {
	d.sleep(d.delay.min + rand.N(d.delay.max-d.delay.min+1))
}

func (d *delayedDisk) ReadSectors(start uint64, bufs [][]byte) error {
	d.wait()
	return d.closingDisk.ReadSectors(start, bufs)
}

func (d *delayedDisk) WriteSectors(start uint64, bufs [][]byte) error {
	d.wait()
	return d.closingDisk.WriteSectors(start, bufs)
}

func (d *delayedDisk) Flush() error {
	d.wait()
	return d.closingDisk.Flush()
}

// WriteZeroes is the wrapped disk's; the device offers WRITE_ZEROES only
// if the wrapped disk is a virtio.Zeroer.
func (d *delayedDisk) WriteZeroes(start, n uint64, unmap bool) error {
	z, ok := d.closingDisk.(virtio.Zeroer)
	if !ok {
		return virtio.ErrUnsupported
	}
	d.wait()
	return z.WriteZeroes(start, n, unmap)
}

// Discard is the wrapped disk's; the device offers DISCARD only if the
// wrapped disk is a virtio.Discarder.
func (d *delayedDisk) Discard(start, n uint64) error {
	x, ok := d.closingDisk.(virtio.Discarder)
	if !ok {
		return virtio.ErrUnsupported
	}
	d.wait()
	return x.Discard(start, n)
}

// Grow is the wrapped disk's, so that block_resize works under the delay
// too.
func (d *delayedDisk) Grow(n uint64) error {
	g, ok := d.closingDisk.(virtio.Grower)
	if !ok {
		return virtio.ErrNotGrowable
	}
	d.wait()
	return g.Grow(n)
}
