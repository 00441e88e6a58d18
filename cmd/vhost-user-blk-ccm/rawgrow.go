package main

import (
	"fmt"
	"io"
	"math"

	"golang.org/x/sys/unix"
)

// Grow raises the capacity to n sectors: a regular file is extended (the
// new sectors are a hole that reads as zeros) and the new size made
// durable; a block device must already hold n sectors. Requests in flight
// keep working; the new sectors are served once Grow returns.
func (d *rawDisk) Grow(n uint64) error {
	if d.readOnly {
		return errRawReadOnly
	}
	d.growMu.Lock()
	defer d.growMu.Unlock()
	old := d.sectors.Load()
	ss := uint64(d.sectorSize)
	switch {
	case n < old:
		return fmt.Errorf("raw: grow to %d sectors, capacity %d: shrinking is not supported", n, old)
	case n == old:
		return nil
	case n > math.MaxInt64/ss:
		return fmt.Errorf("raw: grow to %d sectors: beyond the largest file", n)
	}
	if d.holes.IsBlockDevice() {
		have, err := d.sectorsHeld()
		if err != nil {
			return err
		}
		if have < n {
			return fmt.Errorf("raw: grow to %d sectors: the block device holds %d", n, have)
		}
	} else {
		if err := d.f.Truncate(int64(n * ss)); err != nil {
			return fmt.Errorf("raw: %w", err)
		}
		if err := unix.Fsync(int(d.f.Fd())); err != nil {
			return fmt.Errorf("raw: %w", err)
		}
	}
	d.sectors.Store(n)
	return nil
}

// Refresh re-reads the capacity from the size of the file or device, for
// an image the other end of a live migration may have grown while this
// daemon did not serve it. The capacity only grows; a smaller image is an
// error and the capacity is kept.
func (d *rawDisk) Refresh() error {
	d.growMu.Lock()
	defer d.growMu.Unlock()
	n, err := d.sectorsHeld()
	if err != nil {
		return err
	}
	if old := d.sectors.Load(); n < old {
		return fmt.Errorf("raw: the image now holds %d sectors, fewer than its capacity of %d", n, old)
	}
	d.sectors.Store(n)
	return nil
}

// sectorsHeld returns how many whole sectors the file or block device
// holds now.
func (d *rawDisk) sectorsHeld() (uint64, error) {
	size, err := d.f.Seek(0, io.SeekEnd)
	if err != nil {
		return 0, fmt.Errorf("raw: %w", err)
	}
	return uint64(size) / uint64(d.sectorSize), nil
}
