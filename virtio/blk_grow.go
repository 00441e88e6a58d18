package virtio

import (
	"errors"
	"fmt"
	"math/bits"
)

// Grower is a Disk whose capacity can grow while it is served.
type Grower interface {
	// Grow raises the capacity to n sectors; the new sectors read as
	// zeros. It returns only once the new capacity is what Sectors
	// reports, and is safe to call while requests run.
	Grow(n uint64) error
}

// Errors of BlockDevice.Grow.
var (
	// ErrShrink reports a Grow below the current size.
	ErrShrink = errors.New("virtio: the disk cannot shrink")
	// ErrGrowAlign reports a size that is not a whole number of the
	// disk's sectors.
	ErrGrowAlign = errors.New("virtio: size is not a multiple of the sector size")
	// ErrNotGrowable reports a disk that cannot grow.
	ErrNotGrowable = errors.New("virtio: the disk cannot grow")
)

// limitsNow returns the limits requests are checked against, with the
// current capacity.
func (b *BlockDevice) limitsNow() BlkLimits {
	l := b.limits
	l.Capacity = b.capacity.Load()
	return l
}

// Size returns the capacity the device reports, in bytes.
func (b *BlockDevice) Size() uint64 { return b.capacity.Load() * BlkSectorSize }

// SectorSize returns the disk's sector size in bytes.
func (b *BlockDevice) SectorSize() int { return b.sectorSz }

// ReadOnly reports whether the device refuses writes.
func (b *BlockDevice) ReadOnly() bool { return b.readOnly }

// Grow grows the disk to size bytes, then raises the capacity the
// configuration space reports and requests are checked against. Telling
// the driver is the transport's business (a configuration change
// notification). size must be a multiple of the disk's sector size and at
// least the current size; growing to the current size does nothing. Calls
// are serialised; queues keep running meanwhile.
func (b *BlockDevice) Grow(size uint64) error {
	g, ok := b.disk.(Grower)
	switch {
	case b.readOnly:
		return fmt.Errorf("%w: grow", ErrReadOnly)
	case !ok:
		return ErrNotGrowable
	case size%uint64(b.sectorSz) != 0:
		return fmt.Errorf("%w: %d bytes, sectors of %d", ErrGrowAlign, size, b.sectorSz)
	}
	b.growMu.Lock()
	defer b.growMu.Unlock()
	if cur := b.Size(); size < cur {
		return fmt.Errorf("%w: %d bytes below the current %d", ErrShrink, size, cur)
	}
	if err := g.Grow(size / uint64(b.sectorSz)); err != nil {
		return err
	}
	// The disk may round down (a trailing partial sector) but never
	// reports more than fits in 2^64 bytes once it accepted the size.
	c, ok := diskCapacity(b.disk, b.sectorSz)
	if !ok {
		return fmt.Errorf("%w: %d sectors", ErrNotGrowable, b.disk.Sectors())
	}
	b.capacity.Store(c)
	return nil
}

// Refresh raises the capacity the device reports to what the disk now
// holds, for a disk that grew behind the device's back (the other end of
// a live migration grew the image, and the disk re-read its size), and
// reports whether it grew. Telling the driver is the transport's business.
func (b *BlockDevice) Refresh() bool {
	b.growMu.Lock()
	defer b.growMu.Unlock()
	if c, ok := diskCapacity(b.disk, b.sectorSz); ok && c > b.capacity.Load() {
		b.capacity.Store(c)
		return true
	}
	return false
}

// diskCapacity returns what d holds now in 512-byte sectors, for sectors
// of ss bytes, and false when that many bytes do not fit in 2^64.
func diskCapacity(d Disk, ss int) (uint64, bool) {
	hi, lo := bits.Mul64(d.Sectors(), uint64(ss))
	return lo / BlkSectorSize, hi == 0
}
