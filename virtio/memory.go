package virtio

import (
	"cmp"
	"fmt"
	"slices"
)

// Region is one contiguous piece of guest RAM: a guest physical address and
// the host view (usually an mmap of the front end's memory file) that backs
// it.
type Region struct {
	gpa      GuestAddr
	host     []byte
	readOnly bool
}

// NewRegion returns a writable region backing guest addresses
// [gpa, gpa+len(host)) with host. The Memory that holds it keeps host; the
// owner of the mapping must not unmap it while that Memory is in use.
func NewRegion(gpa GuestAddr, host []byte) Region {
	return Region{gpa: gpa, host: host[:len(host):len(host)]}
}

// NewReadOnlyRegion is like NewRegion, but WriteAt and writable Slices
// refuse the region.
func NewReadOnlyRegion(gpa GuestAddr, host []byte) Region {
	r := NewRegion(gpa, host)
	r.readOnly = true
	return r
}

// GPA returns the guest physical address of the region's first byte.
func (r Region) GPA() GuestAddr { return r.gpa }

// Len returns the size of the region in bytes.
func (r Region) Len() uint64 { return uint64(len(r.host)) }

// Memory is an immutable set of guest RAM regions, sorted by address,
// non-empty and non-overlapping. It is the only way this package touches
// guest memory. All methods are safe for concurrent use. Views returned by
// Slices stay valid as long as the owner keeps the regions mapped.
type Memory struct {
	regions []Region
}

// NewMemory validates rs once and returns the Memory they form. Regions may
// come in any order; they must be non-empty, must not wrap around the
// address space and must not overlap.
func NewMemory(rs []Region) (*Memory, error) {
	if len(rs) == 0 {
		return nil, ErrNoRegions
	}
	rs = slices.Clone(rs)
	slices.SortFunc(rs, func(a, b Region) int { return cmp.Compare(a.gpa, b.gpa) })
	for i, r := range rs {
		end, ok := r.gpa.Add(r.Len())
		if r.Len() == 0 || !ok {
			return nil, fmt.Errorf("%w: region %d [%#x, +%#x) empty or wraps", ErrBadRegion, i, uint64(r.gpa), r.Len())
		}
		if i+1 < len(rs) && end > rs[i+1].gpa {
			return nil, fmt.Errorf("%w: region at %#x overlaps region at %#x", ErrBadRegion, uint64(r.gpa), uint64(rs[i+1].gpa))
		}
	}
	return &Memory{regions: rs}, nil
}

// Regions returns a copy of the regions, sorted by address.
func (m *Memory) Regions() []Region {
	return slices.Clone(m.regions)
}

// find returns the index of the region containing gpa and gpa's offset in
// it.
func (m *Memory) find(gpa GuestAddr) (int, uint64, bool) {
	lo, hi := 0, len(m.regions)
	for lo < hi { // first region with gpa < region start
		mid := int(uint(lo+hi) >> 1)
		if m.regions[mid].gpa <= gpa {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	i := lo - 1
	if i < 0 {
		return 0, 0, false
	}
	off := uint64(gpa - m.regions[i].gpa)
	if off >= m.regions[i].Len() {
		return 0, 0, false
	}
	return i, off, true
}

// Slices appends to dst the host views covering guest range [gpa, gpa+n),
// one per region crossed, and returns the extended slice. Each view's
// capacity equals its length, so appending to it cannot reach into
// neighbouring memory. write says whether the caller will write through
// the views; read-only regions then fail. On error dst is returned
// unextended.
func (m *Memory) Slices(gpa GuestAddr, n uint64, write bool, dst [][]byte) ([][]byte, error) {
	if _, ok := gpa.Add(n); !ok {
		return dst, &AddrError{GPA: gpa, Len: n, Err: ErrAddrOverflow}
	}
	orig := len(dst)
	addr, left := gpa, n
	for left > 0 {
		i, off, ok := m.find(addr)
		if !ok {
			return dst[:orig], &AddrError{GPA: gpa, Len: n, Err: ErrNotInMemory}
		}
		r := &m.regions[i]
		if write && r.readOnly {
			return dst[:orig], &AddrError{GPA: gpa, Len: n, Err: ErrReadOnlyMemory}
		}
		k := min(left, r.Len()-off)
		dst = append(dst, r.host[off:off+k:off+k])
		addr += GuestAddr(k)
		left -= k
	}
	return dst, nil
}

// contiguous returns the host view of [gpa, gpa+n) if that range lies
// inside one region. n must be positive.
func (m *Memory) contiguous(gpa GuestAddr, n uint64, write bool) ([]byte, error) {
	if _, ok := gpa.Add(n); !ok {
		return nil, &AddrError{GPA: gpa, Len: n, Err: ErrAddrOverflow}
	}
	i, off, ok := m.find(gpa)
	if !ok || n > m.regions[i].Len()-off {
		return nil, &AddrError{GPA: gpa, Len: n, Err: ErrNotInMemory}
	}
	if write && m.regions[i].readOnly {
		return nil, &AddrError{GPA: gpa, Len: n, Err: ErrReadOnlyMemory}
	}
	return m.regions[i].host[off : off+n : off+n], nil
}

// covers reports whether every byte of [gpa, gpa+n) is backed by a region.
func (m *Memory) covers(gpa GuestAddr, n uint64) bool {
	if _, ok := gpa.Add(n); !ok {
		return false
	}
	for n > 0 {
		i, off, ok := m.find(gpa)
		if !ok {
			return false
		}
		k := min(n, m.regions[i].Len()-off)
		gpa += GuestAddr(k)
		n -= k
	}
	return true
}

// ReadAt copies len(p) bytes of guest memory at gpa into p. It fails
// without copying anything if the range is not entirely backed.
func (m *Memory) ReadAt(p []byte, gpa GuestAddr) error {
	if !m.covers(gpa, uint64(len(p))) {
		return &AddrError{GPA: gpa, Len: uint64(len(p)), Err: ErrNotInMemory}
	}
	for len(p) > 0 {
		i, off, _ := m.find(gpa)
		k := copy(p, m.regions[i].host[off:])
		p = p[k:]
		gpa += GuestAddr(k)
	}
	return nil
}

// WriteAt copies p into guest memory at gpa. It fails without writing
// anything if the range is not entirely backed by writable regions.
func (m *Memory) WriteAt(p []byte, gpa GuestAddr) error {
	if !m.covers(gpa, uint64(len(p))) {
		return &AddrError{GPA: gpa, Len: uint64(len(p)), Err: ErrNotInMemory}
	}
	for a, left := gpa, uint64(len(p)); left > 0; {
		i, off, _ := m.find(a)
		if m.regions[i].readOnly {
			return &AddrError{GPA: gpa, Len: uint64(len(p)), Err: ErrReadOnlyMemory}
		}
		k := min(left, m.regions[i].Len()-off)
		a += GuestAddr(k)
		left -= k
	}
	for len(p) > 0 {
		i, off, _ := m.find(gpa)
		k := copy(m.regions[i].host[off:], p)
		p = p[k:]
		gpa += GuestAddr(k)
	}
	return nil
}
