package main

import (
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/ccmblk/ccmblk/virtio"
)

// TestParseIODelay checks the MIN-MAX syntax of --x-io-delay: one unit at
// the end, MIN <= MAX, a bounded MAX.
func TestParseIODelay(t *testing.T) {
	good := []struct {
		in       string
		min, max time.Duration
	}{
		{"", 0, 0},
		{"0-20ms", 0, 20 * time.Millisecond},
		{"5-5ms", 5 * time.Millisecond, 5 * time.Millisecond},
		{"1.5-2s", 1500 * time.Millisecond, 2 * time.Second},
		{"100-250us", 100 * time.Microsecond, 250 * time.Microsecond},
	}
	for _, c := range good {
		d, err := parseIODelay(c.in)
		if err != nil || d.min != c.min || d.max != c.max {
			t.Errorf("parseIODelay(%q) = %v, %v; want %v-%v", c.in, d, err, c.min, c.max)
		}
	}
	for _, in := range []string{"20ms", "0-20", "-20ms", "0-ms", "0ms-20ms", "x-20ms", "20-10ms", "0-11s", "0-20parsecs", "1-2-3ms", "0--20ms"} {
		if d, err := parseIODelay(in); err == nil {
			t.Errorf("parseIODelay(%q) = %v, want an error", in, d)
		}
	}
}

// fakeDisk records the calls made on it, after the delayedDisk's sleep.
type fakeDisk struct {
	mu    sync.Mutex
	calls []string
}

func (d *fakeDisk) record(c string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, c)
	return nil
}

func (d *fakeDisk) SectorSize() int                           { return 512 }
func (d *fakeDisk) Sectors() uint64                           { return 8 }
func (d *fakeDisk) ReadOnly() bool                            { return false }
func (d *fakeDisk) ReadSectors(uint64, [][]byte) error        { return d.record("read") }
func (d *fakeDisk) WriteSectors(uint64, [][]byte) error       { return d.record("write") }
func (d *fakeDisk) Flush() error                              { return d.record("flush") }
func (d *fakeDisk) Close() error                              { return nil }
func (d *fakeDisk) WriteZeroes(start, n uint64, _ bool) error { return d.record("zeroes") }
func (d *fakeDisk) Discard(start, n uint64) error             { return d.record("discard") }
func (d *fakeDisk) Grow(n uint64) error                       { return d.record("grow") }

// TestDelayedDiskSleepsFirst checks that every kind of disk call, flushes
// included, sleeps once, for a time in the range, before it reaches the
// disk, and that Close does not sleep.
func TestDelayedDiskSleepsFirst(t *testing.T) {
	inner := &fakeDisk{}
	d := withIODelay(inner, ioDelay{min: 3 * time.Millisecond, max: 7 * time.Millisecond})
	var slept []time.Duration
	d.sleep = func(x time.Duration) {
		if x < 3*time.Millisecond || x > 7*time.Millisecond {
			t.Errorf("slept %v, outside 3-7ms", x)
		}
		_ = inner.record("sleep")
		slept = append(slept, x)
	}
	calls := []func() error{
		func() error { return d.ReadSectors(0, nil) },
		func() error { return d.WriteSectors(0, nil) },
		d.Flush,
		func() error { return d.WriteZeroes(0, 1, false) },
		func() error { return d.Discard(0, 1) },
		func() error { return d.Grow(1) },
	}
	for range 40 {
		for _, c := range calls {
			if err := c(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	for i, c := range inner.calls {
		if (i%2 == 0) != (c == "sleep") {
			t.Fatalf("calls %q: want a sleep before every disk call", inner.calls)
		}
	}
	if len(inner.calls) != 2*40*len(calls) {
		t.Errorf("%d calls, want %d", len(inner.calls), 2*40*len(calls))
	}
	// The sleeps are random: 200 draws from 4000001 values are not all equal.
	distinct := map[time.Duration]bool{}
	for _, x := range slept {
		distinct[x] = true
	}
	if len(distinct) < 2 {
		t.Errorf("every sleep lasted %v", slept[0])
	}
}

// TestDelayedDiskConcurrent checks that the sleeps of concurrent calls
// overlap: no lock serializes the delayed calls.
func TestDelayedDiskConcurrent(t *testing.T) {
	const n = 8
	inner := &fakeDisk{}
	d := withIODelay(inner, ioDelay{max: time.Millisecond})
	var (
		arrived sync.WaitGroup
		release = make(chan struct{})
	)
	arrived.Add(n)
	d.sleep = func(time.Duration) {
		arrived.Done()
		<-release
	}
	var done sync.WaitGroup
	for i := range n {
		done.Go(func() {
			if i%2 == 0 {
				_ = d.WriteSectors(0, nil)
			} else {
				_ = d.Flush()
			}
		})
	}
	all := make(chan struct{})
	go func() { arrived.Wait(); close(all) }()
	select {
	case <-all:
	case <-time.After(10 * time.Second):
		t.Fatal("the delayed calls do not sleep at the same time")
	}
	close(release)
	done.Wait()
	if len(inner.calls) != n {
		t.Errorf("%d disk calls, want %d", len(inner.calls), n)
	}
}

// TestDelayedDiskPassesErrors checks that a disk without zeroing or
// discard support refuses them through the wrapper.
func TestDelayedDiskPassesErrors(t *testing.T) {
	type plain struct{ closingDisk }
	d := withIODelay(plain{&fakeDisk{}}, ioDelay{max: time.Millisecond})
	d.sleep = func(time.Duration) {}
	if err := d.WriteZeroes(0, 1, false); !errors.Is(err, virtio.ErrUnsupported) {
		t.Errorf("WriteZeroes on a disk without it: %v", err)
	}
	if err := d.Discard(0, 1); !errors.Is(err, virtio.ErrUnsupported) {
		t.Errorf("Discard on a disk without it: %v", err)
	}
}

// TestIODelayOutOfOrder serves a raw image with --x-io-delay 0-20ms and
// posts a ring's worth of writes at once: they are in flight together and
// complete out of order, each with its data on the disk. (Without the
// delay, a queue that has measured its disk as fast serves a batch inline,
// in order.)
func TestIODelayOutOfOrder(t *testing.T) {
	path := rawImage(t, maxSlots)
	d, sock := serve(t, "--blk-file", path, "--format", "raw", "--x-io-delay", "0-20ms")
	c := connect(t, sock)
	for range 40 {
		c.write(0, sectorData(1, 0))
	}
	heads := map[uint16]int{}
	for s := range maxSlots {
		heads[c.post(s, virtio.BlkTOut, uint64(s), sectorData(1, s), 0)] = s
	}
	c.must(c.fe.Kick(0))
	inOrder := true
	for i := range maxSlots {
		u, err := c.ring.Wait(ioWait)
		c.must(err)
		s, ok := heads[uint16(u.ID)]
		if !ok {
			t.Fatalf("used id %d is no posted head (or completed twice)", u.ID)
		}
		delete(heads, uint16(u.ID))
		inOrder = inOrder && s == i
		if st := c.status(s); st != virtio.BlkSOK {
			t.Errorf("write of slot %d: status %d", s, st)
		}
	}
	if inOrder {
		t.Errorf("%d delayed writes completed in the order posted", maxSlots)
	}
	d.stopOK()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	checkSectors(t, "file", b, 1, 0)
}
