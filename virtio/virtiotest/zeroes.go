package virtiotest

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/ccmblk/ccmblk/virtio"
)

// Zeroing is one WriteZeroes or Discard call MemDisk received.
type Zeroing struct {
	Discard    bool
	Start, Len uint64
	Unmap      bool
}

// WriteZeroes implements virtio.Zeroer: the sectors become zeros.
func (m *MemDisk) WriteZeroes(start, n uint64, unmap bool) error {
	return m.zero(Zeroing{Start: start, Len: n, Unmap: unmap})
}

// Discard implements virtio.Discarder: the sectors become zeros, as a hole
// punched in a file reads.
func (m *MemDisk) Discard(start, n uint64) error {
	return m.zero(Zeroing{Discard: true, Start: start, Len: n})
}

func (m *MemDisk) zero(z Zeroing) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.zeroings) < maxRecordedIOs {
		m.zeroings = append(m.zeroings, z)
	}
	if m.readOnly {
		return errors.New("virtiotest: zeroing a read-only disk")
	}
	if z.Start > m.sectors || z.Len > m.sectors-z.Start {
		return fmt.Errorf("virtiotest: sectors [%d, +%d) out of range", z.Start, z.Len)
	}
	ss := uint64(m.sectorSize)
	clear(m.data[z.Start*ss : (z.Start+z.Len)*ss])
	m.writesSince++
	return nil
}

// Zeroings returns the first WriteZeroes and Discard calls received.
func (m *MemDisk) Zeroings() []Zeroing {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Zeroing(nil), m.zeroings...)
}

// BlkSegments allocates the segments of a DISCARD or WRITE_ZEROES request
// on the heap, in their wire layout, and returns their address and size.
func (d *Driver) BlkSegments(segs ...virtio.Segment) (virtio.GuestAddr, int) {
	n := len(segs) * virtio.BlkSegmentSize
	a := d.Alloc(n)
	b := d.Bytes(a, n)
	for i, s := range segs {
		e := b[i*virtio.BlkSegmentSize:]
		binary.LittleEndian.PutUint64(e[0:], s.Sector)
		binary.LittleEndian.PutUint32(e[8:], s.Sectors)
		binary.LittleEndian.PutUint32(e[12:], s.Flags)
	}
	return a, n
}

// AddBlkSegments builds a DISCARD or WRITE_ZEROES request as Linux lays it
// out: the header, the segments (device-readable), the status byte. It is
// not yet published.
func (d *Driver) AddBlkSegments(typ uint32, segs ...virtio.Segment) BlkReq {
	r := BlkReq{Header: d.BlkHeader(typ, 0)}
	r.Data, r.DataLen = d.BlkSegments(segs...)
	r.Status = d.BlkStatusByte()
	r.Head = d.AddChain(
		Seg{Addr: r.Header, Len: virtio.BlkHeaderSize},
		Seg{Addr: r.Data, Len: uint32(r.DataLen)},
		Seg{Addr: r.Status, Len: 1, Write: true})
	return r
}
