package virtiotest

import (
	"sync/atomic"
	"unsafe"
)

// The driver side of the ring-index protocol: 16-bit ring fields are
// accessed through the aligned 32-bit word that contains them (Go has no
// 16-bit atomics). b starts at a 4-aligned host address.

func word(b []byte, off int) *uint32 {
	w := b[off : off+4 : off+4] // bounds check without a (racy) load
	return (*uint32)(unsafe.Pointer(unsafe.SliceData(w)))
}

func hostAligned4(b []byte) bool {
	return len(b) > 0 && uintptr(unsafe.Pointer(unsafe.SliceData(b)))%4 == 0
}

func load16(b []byte, off int) uint16 {
	return uint16(atomic.LoadUint32(word(b, off&^3)) >> (uint(off&2) * 8))
}

func store16(b []byte, off int, v uint16) {
	p := word(b, off&^3)
	shift := uint(off&2) * 8
	for {
		old := atomic.LoadUint32(p)
		if atomic.CompareAndSwapUint32(p, old, old&^(0xffff<<shift)|uint32(v)<<shift) {
			return
		}
	}
}
