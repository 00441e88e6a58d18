package vhostuser

import (
	"fmt"
	"math"

	"golang.org/x/sys/unix"

	"github.com/ccmblk/ccmblk/virtio"
)

// mapping is one guest RAM region shared by the front end and mapped here.
type mapping struct {
	region memRegion  // as the front end described it; front-end controlled
	whole  []byte     // the mmap, from file offset 0, for munmap
	view   []byte     // whole[mmapOffset:], the region's guest RAM
	lim    *memLimits // accounts for whole
}

// guestMemory is a session's current memory table: the mappings, the
// virtio.Memory built from them, and the QVA to GPA translation that
// SET_VRING_ADDR needs. It is immutable; changes build a new one.
type guestMemory struct {
	maps []*mapping
	mem  *virtio.Memory // nil when maps is empty
}

// checkRegion validates a region description before anything is mapped.
func checkRegion(r memRegion) error {
	if r.size == 0 {
		return fmt.Errorf("empty region at GPA %#x", r.gpa)
	}
	if uint64(r.gpa) > math.MaxUint64-r.size || uint64(r.uaddr) > math.MaxUint64-r.size {
		return fmt.Errorf("region [GPA %#x, QVA %#x, +%#x) overflows", r.gpa, r.uaddr, r.size)
	}
	// The mmap length is size+mmapOffset and must fit an int.
	if r.size > math.MaxInt64 || r.mmapOffset > math.MaxInt64-r.size {
		return fmt.Errorf("region mmap offset %#x + size %#x overflows", r.mmapOffset, r.size)
	}
	// Guest alignment of ring indices (used ring 4-aligned) must carry over
	// to the host view, which starts at mmapOffset in a page-aligned mmap.
	if r.gpa%4 != 0 || r.mmapOffset%4 != 0 {
		return fmt.Errorf("region GPA %#x or mmap offset %#x not 4-aligned", r.gpa, r.mmapOffset)
	}
	return nil
}

// mapRegion maps r from fd within the limits of lim; retiring bytes
// count as free (see memLimits.reserve). It always closes fd: the mapping
// keeps the memory alive (spec: the back-end may close the descriptor
// after mmap).
func mapRegion(r memRegion, fd int, lim *memLimits, retiring uint64) (*mapping, error) {
	defer func() { _ = unix.Close(fd) }()
	if err := checkRegion(r); err != nil {
		return nil, err
	}
	length := r.size + r.mmapOffset
	if err := checkMemoryFile(fd, length, lim.anyFile); err != nil {
		return nil, err
	}
	if err := lim.reserve(length, retiring); err != nil {
		return nil, err
	}
	whole, err := unix.Mmap(fd, 0, int(length), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		lim.release(length)
		return nil, fmt.Errorf("mmap %#x bytes: %w", length, err)
	}
	return &mapping{region: r, whole: whole, view: whole[r.mmapOffset:length:length], lim: lim}, nil
}

func (m *mapping) unmap() {
	if err := unix.Munmap(m.whole); err != nil {
		panic(fmt.Sprintf("vhostuser: munmap of a region this package mapped: %v", err))
	}
	m.lim.release(uint64(len(m.whole)))
}

func unmapAll(maps []*mapping) {
	for _, m := range maps {
		m.unmap()
	}
}

// mappedBytes is the length of every mapping of g.
func (g *guestMemory) mappedBytes() uint64 {
	var n uint64
	if g != nil {
		for _, m := range g.maps {
			n += uint64(len(m.whole))
		}
	}
	return n
}

func (m *mapping) gpaEnd() uint64 { return uint64(m.region.gpa) + m.region.size }
func (m *mapping) qvaEnd() uint64 { return uint64(m.region.uaddr) + m.region.size }

// newGuestMemory checks that maps neither overlap in guest physical nor in
// front-end virtual addresses and builds the virtio.Memory over them.
func newGuestMemory(maps []*mapping) (*guestMemory, error) {
	if len(maps) > MaxMemSlots {
		return nil, fmt.Errorf("%d regions, at most %d", len(maps), MaxMemSlots)
	}
	for i, a := range maps {
		for _, b := range maps[i+1:] {
			if uint64(a.region.gpa) < b.gpaEnd() && uint64(b.region.gpa) < a.gpaEnd() {
				return nil, fmt.Errorf("regions at GPA %#x and %#x overlap", a.region.gpa, b.region.gpa)
			}
			// Overlapping QVAs would make SET_VRING_ADDR ambiguous.
			if uint64(a.region.uaddr) < b.qvaEnd() && uint64(b.region.uaddr) < a.qvaEnd() {
				return nil, fmt.Errorf("regions at QVA %#x and %#x overlap", a.region.uaddr, b.region.uaddr)
			}
		}
	}
	g := &guestMemory{maps: maps}
	if len(maps) == 0 {
		return g, nil
	}
	rs := make([]virtio.Region, len(maps))
	for i, m := range maps {
		rs[i] = virtio.NewRegion(m.region.gpa, m.view)
	}
	mem, err := virtio.NewMemory(rs)
	if err != nil {
		return nil, err
	}
	g.mem = mem
	return g, nil
}

// translate returns the guest physical address of the front-end range
// [a, a+n), which must lie inside one region.
func (g *guestMemory) translate(a qva, n uint64) (virtio.GuestAddr, bool) {
	if g == nil {
		return 0, false
	}
	for _, m := range g.maps {
		off := uint64(a) - uint64(m.region.uaddr)
		// Unsigned wrap makes off huge when a < uaddr.
		if uint64(a) >= uint64(m.region.uaddr) && off <= m.region.size && n <= m.region.size-off {
			return m.region.gpa + virtio.GuestAddr(off), true
		}
	}
	return 0, false
}

// without returns the mappings of g except those in drop.
func (g *guestMemory) without(drop ...*mapping) []*mapping {
	var keep []*mapping
	if g == nil {
		return keep
	}
	for _, m := range g.maps {
		found := false
		for _, d := range drop {
			found = found || d == m
		}
		if !found {
			keep = append(keep, m)
		}
	}
	return keep
}
