package virtio

import (
	"sync/atomic"
	"unsafe"
)

// Ring index access. Go has no 16-bit atomics, so a 16-bit ring field is
// accessed through the naturally aligned 32-bit word that contains it. The
// views passed here start at a 4-aligned host address (checked by
// hostAligned4 when the Queue is made), and offsets are relative to that
// start, so off&^3 addresses an aligned word. The host is little-endian, like
// the rings, so the field at byte offset 2 of a word is its upper half.

// hostAligned4 reports whether b starts at a 4-aligned host address.
func hostAligned4(b []byte) bool {
	return len(b) > 0 && uintptr(unsafe.Pointer(unsafe.SliceData(b)))%4 == 0
}

// hostAligned8 reports whether b starts at an 8-aligned host address.
func hostAligned8(b []byte) bool {
	return len(b) > 0 && uintptr(unsafe.Pointer(unsafe.SliceData(b)))%8 == 0
}

// word returns the aligned 32-bit word at b[off:off+4]; off%4 == 0.
func word(b []byte, off int) *uint32 {
	w := b[off : off+4 : off+4] // bounds check without a (racy) load
	return (*uint32)(unsafe.Pointer(unsafe.SliceData(w)))
}

// load16 atomically loads the little-endian 16-bit field at b[off:off+2];
// off is even.
func load16(b []byte, off int) uint16 {
	w := atomic.LoadUint32(word(b, off&^3))
	return uint16(w >> (uint(off&2) * 8))
}

// store16 stores v into the 16-bit field at b[off:off+2], leaving the other
// half of its word as it is; off is even.
//
// The other half may be guest memory the guest writes at any time, so a
// compare-and-swap loop could be made to spin forever. Instead the field is
// cleared and then set with two wait-free atomic operations. A reader in
// between sees the field as 0; for avail_event (the only user) that is
// harmless, because the device re-reads avail idx after this store (see
// Queue.EnableNotify), so a kick the driver skipped on seeing the transient
// value is not needed.
func store16(b []byte, off int, v uint16) {
	p := word(b, off&^3)
	shift := uint(off&2) * 8
	_ = atomic.AndUint32(p, ^(uint32(0xffff) << shift))
	_ = atomic.OrUint32(p, uint32(v)<<shift)
}

// store32 atomically stores v into the aligned word at b[off:off+4].
func store32(b []byte, off int, v uint32) {
	atomic.StoreUint32(word(b, off), v)
}

// load32 atomically loads the aligned word at b[off:off+4].
func load32(b []byte, off int) uint32 {
	return atomic.LoadUint32(word(b, off))
}

// word64 returns the aligned 64-bit word at b[off:off+8]; b starts 8-aligned
// and off%8 == 0.
func word64(b []byte, off int) *uint64 {
	w := b[off : off+8 : off+8]
	return (*uint64)(unsafe.Pointer(unsafe.SliceData(w)))
}

// store64 atomically stores v into the aligned word at b[off:off+8].
func store64(b []byte, off int, v uint64) {
	atomic.StoreUint64(word64(b, off), v)
}

// load64 atomically loads the aligned word at b[off:off+8].
func load64(b []byte, off int) uint64 {
	return atomic.LoadUint64(word64(b, off))
}
