package virtio

import (
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"
)

// LogPageSize is the guest memory covered by one bit of a DirtyLog.
const LogPageSize = 4096

// logWordBytes is the size of the words the log is updated in.
const logWordBytes = 8

// LogBytesFor returns the size of a log that covers guest addresses
// [0, end): one bit per page, rounded up to whole 8-byte words (the unit
// QEMU sizes and reads the log in).
func LogBytesFor(end uint64) uint64 {
	pages := end/LogPageSize + min(end%LogPageSize, 1)
	return (pages + 63) / 64 * logWordBytes
}

// DirtyLog is the dirty page log of live migration: a bitmap shared with
// the front end, one bit per 4 KiB guest-physical page. Page p is bit p%8
// of byte p/8, which on this little-endian host is bit p%64 of the 64-bit
// word p/64, the unit the front end reads and clears the log in (with an
// atomic exchange). The device sets bits with atomic OR, after the write
// they stand for: a bit set before the write could be cleared and its page
// sent before the data lands.
//
// A DirtyLog is off (Mark does nothing) until Swap installs a bitmap.
// Queues share one DirtyLog; all methods are safe for concurrent use.
type DirtyLog struct {
	on atomic.Bool // a bitmap is installed; read without mu on every Mark
	mu sync.RWMutex
	// words views the bitmap; Mark holds mu for reading while it uses it,
	// so Swap, which holds mu for writing, knows when it is free.
	// +checklocks:mu
	words []uint64
	// +checklocks:mu
	bitmap []byte
}

// Swap installs bitmap as the log and returns the previous one (nil if the
// log was off). A nil bitmap turns logging off. When Swap returns, no Mark
// touches the previous bitmap any more, so the caller may unmap it. The
// bitmap must start 8-aligned and hold a whole number of 8-byte words.
func (l *DirtyLog) Swap(bitmap []byte) ([]byte, error) {
	var words []uint64
	if bitmap != nil {
		p := unsafe.Pointer(unsafe.SliceData(bitmap))
		if len(bitmap) == 0 || len(bitmap)%logWordBytes != 0 || uintptr(p)%logWordBytes != 0 {
			return nil, fmt.Errorf("%w: %d bytes at %p", ErrLogBitmap, len(bitmap), p)
		}
		words = unsafe.Slice((*uint64)(p), len(bitmap)/logWordBytes)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	old := l.bitmap
	l.words, l.bitmap = words, bitmap
	l.on.Store(bitmap != nil)
	return old, nil
}

// Mark sets the bits of every page that [gpa, gpa+n) touches. With
// logging off it does nothing. A range past the end of the log, or one
// that wraps, marks the pages the log has and reports ErrLogRange: the
// front end would miss the rest.
func (l *DirtyLog) Mark(gpa GuestAddr, n uint64) error {
	if n == 0 || l == nil || !l.on.Load() {
		return nil
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.markLocked(gpa, n)
}

// markWritable marks the device-writable buffers of descs that lie in
// mem: the only ones the device can have written.
func (l *DirtyLog) markWritable(mem *Memory, descs []Desc) error {
	if l == nil || !l.on.Load() {
		return nil
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	for _, d := range descs {
		if !d.IsWriteOnly() || !mem.covers(d.Addr, uint64(d.Len)) {
			continue
		}
		if err := l.markLocked(d.Addr, uint64(d.Len)); err != nil {
			return err
		}
	}
	return nil
}

// markLocked is Mark with mu held for reading.
//
// +checklocksread:l.mu
func (l *DirtyLog) markLocked(gpa GuestAddr, n uint64) error {
	if len(l.words) == 0 || n == 0 {
		return nil
	}
	first := uint64(gpa) / LogPageSize
	last := first
	end, ok := gpa.Add(n - 1)
	if ok {
		last = uint64(end) / LogPageSize
	}
	limit := uint64(len(l.words)) * 64 // pages covered
	var err error
	if !ok || last >= limit {
		err = fmt.Errorf("%w: [%#x, +%#x) with a log of %d pages", ErrLogRange, uint64(gpa), n, limit)
		if first >= limit {
			return err
		}
		last = limit - 1
	}
	for p := first; p <= last; {
		w := p / 64
		lo := p % 64
		hi := min(last-w*64, 63)
		mask := (^uint64(0) >> (63 - hi)) &^ (uint64(1)<<lo - 1)
		atomic.OrUint64(&l.words[w], mask)
		p = (w + 1) * 64
	}
	return err
}
