package vhostuser

import (
	"fmt"
)

// setMemTable replaces the whole memory table. Every region is mapped
// before anything changes, so a bad table leaves the old one in place.
func (s *session) setMemTable(t memTable, fds []int) ([]byte, error) {
	maps := make([]*mapping, 0, len(t.regions))
	retiring := s.mem.mappedBytes()
	for i, r := range t.regions {
		m, err := mapRegion(r, take(fds, i), s.lim, retiring)
		if err != nil {
			unmapAll(maps)
			return nil, &ProtocolError{Req: SetMemTable, Reason: fmt.Sprintf("region %d", i), Err: err}
		}
		maps = append(maps, m)
	}
	g, err := newGuestMemory(maps)
	if err != nil {
		unmapAll(maps)
		return nil, &ProtocolError{Req: SetMemTable, Reason: "table", Err: err}
	}
	var old []*mapping
	if s.mem != nil {
		old = s.mem.maps
	}
	return nil, s.swapMemory(g, old)
}

// addMemReg maps one more region (CONFIGURE_MEM_SLOTS; QEMU 7.2 uses it
// instead of SET_MEM_TABLE once negotiated).
func (s *session) addMemReg(m memRegMsg, fds []int) ([]byte, error) {
	mp, err := mapRegion(m.region, take(fds, 0), s.lim, 0)
	if err != nil {
		return nil, &ProtocolError{Req: AddMemReg, Reason: "region", Err: err}
	}
	g, err := newGuestMemory(append(s.mem.without(), mp))
	if err != nil {
		mp.unmap()
		return nil, &ProtocolError{Req: AddMemReg, Reason: "table", Err: err}
	}
	return nil, s.swapMemory(g, nil)
}

// remMemReg unmaps the region matching GPA, size and front-end address
// (the mmap offset is not compared: QEMU sends 0 there). A descriptor some
// QEMU versions attach is closed by dispatch.
func (s *session) remMemReg(m memRegMsg, _ []int) ([]byte, error) {
	var victim *mapping
	if s.mem != nil {
		for _, mp := range s.mem.maps {
			r := mp.region
			if r.gpa == m.region.gpa && r.size == m.region.size && r.uaddr == m.region.uaddr {
				victim = mp
				break
			}
		}
	}
	if victim == nil {
		return nil, protoErr(RemMemReg, "no region at GPA %#x size %#x QVA %#x", m.region.gpa, m.region.size, m.region.uaddr)
	}
	g, err := newGuestMemory(s.mem.without(victim))
	if err != nil {
		return nil, &ProtocolError{Req: RemMemReg, Reason: "table", Err: err}
	}
	return nil, s.swapMemory(g, []*mapping{victim})
}

// swapMemory installs g: running rings are stopped (their in-flight
// requests complete against the old memory), the table is swapped, the
// rings restart from where they stopped, and only then are the retired
// mappings unmapped.
func (s *session) swapMemory(g *guestMemory, retired []*mapping) error {
	s.stopAll()
	s.mem = g
	if s.logging() {
		// QEMU grows the log before it adds memory.
		if err := s.checkLogCovers(s.logArea.covers()); err != nil {
			unmapAll(retired)
			return err
		}
	}
	err := s.reconcileAll()
	if len(s.abandoned) > 0 {
		s.retired = append(s.retired, retired...)
	} else {
		unmapAll(retired)
	}
	var total uint64
	for _, m := range g.maps {
		total += m.region.size
	}
	s.log.Infof("memory table: %d regions, %d KiB", len(g.maps), total>>10)
	return err
}
