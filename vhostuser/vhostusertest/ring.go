package vhostusertest

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/ccmblk/ccmblk/virtio"
)

// virtio rings are little-endian (virtio 1.2 §2.7).
var le = binary.LittleEndian

const (
	descFNext     = 1
	descFWrite    = 2
	descFIndirect = 4
)

// Ring is a split virtqueue driven from the driver side in guest RAM.
// Descriptors are handed out round-robin; a test must not have more
// descriptors outstanding than the ring holds.
type Ring struct {
	f *Frontend
	// Index is the queue index and Size the number of descriptors.
	Index int
	Size  uint16
	// Desc, Avail and Used are the guest physical addresses of the three
	// areas.
	Desc, Avail, Used virtio.GuestAddr
	base              uint16
	free              uint16
	availIdx          uint16
	usedIdx           uint16
}

// Buf is one buffer of a descriptor chain.
type Buf struct {
	GPA   virtio.GuestAddr
	Len   uint32
	Write bool // device-writable
}

// Used is one used-ring element.
type Used struct {
	ID  uint32
	Len uint32
}

// NewRing lays out a ring of size entries at gpa (16-aligned) in guest RAM
// and zeroes it.
func (f *Frontend) NewRing(index int, size uint16, gpa virtio.GuestAddr) (*Ring, error) {
	r := &Ring{f: f, Index: index, Size: size, Desc: gpa}
	r.Avail = r.Desc + virtio.GuestAddr(16*uint64(size))
	r.Used = (r.Avail + virtio.GuestAddr(6+2*uint64(size)) + 3) &^ 3
	end := uint64(r.Used) + 6 + 8*uint64(size)
	b, err := f.Host(gpa, end-uint64(gpa))
	if err != nil {
		return nil, err
	}
	clear(b)
	return r, nil
}

// End returns the first guest physical address after the ring.
func (r *Ring) End() virtio.GuestAddr {
	return r.Used + virtio.GuestAddr(6+8*uint64(r.Size))
}

// AvailIdx returns the driver's avail index.
func (r *Ring) AvailIdx() uint16 { return r.availIdx }

func (r *Ring) put16(gpa virtio.GuestAddr, v uint16) error {
	b, err := r.f.Host(gpa, 2)
	if err != nil {
		return err
	}
	le.PutUint16(b, v)
	return nil
}

// Post writes bufs as one chain, publishes its head in the avail ring and
// returns the head. It does not kick.
func (r *Ring) Post(bufs ...Buf) (uint16, error) {
	if len(bufs) == 0 || len(bufs) > int(r.Size) {
		return 0, fmt.Errorf("vhostusertest: chain of %d buffers in a ring of %d", len(bufs), r.Size)
	}
	head := r.free
	for i, buf := range bufs {
		idx := (r.free + uint16(i)) % r.Size
		if err := r.f.putDesc(r.Desc+virtio.GuestAddr(16*uint64(idx)), buf, 0, i < len(bufs)-1, (idx+1)%r.Size); err != nil {
			return 0, err
		}
	}
	r.free = (r.free + uint16(len(bufs))) % r.Size
	return head, r.publish(head)
}

// PostIndirect writes bufs as an indirect table at table (16-aligned, 16
// bytes per buffer), posts one descriptor pointing to it, and returns its
// head. It does not kick. Several chains may share one table.
func (r *Ring) PostIndirect(table virtio.GuestAddr, bufs ...Buf) (uint16, error) {
	if len(bufs) == 0 || len(bufs) > virtio.MaxQueueSize {
		return 0, fmt.Errorf("vhostusertest: indirect table of %d buffers", len(bufs))
	}
	for i, buf := range bufs {
		if err := r.f.putDesc(table+virtio.GuestAddr(16*i), buf, 0, i < len(bufs)-1, uint16(i+1)); err != nil {
			return 0, err
		}
	}
	head := r.free
	ind := Buf{GPA: table, Len: uint32(16 * len(bufs))}
	if err := r.f.putDesc(r.Desc+virtio.GuestAddr(16*uint64(head)), ind, descFIndirect, false, 0); err != nil {
		return 0, err
	}
	r.free = (r.free + 1) % r.Size
	return head, r.publish(head)
}

// putDesc writes the descriptor of buf at gpa, with extra flags, and with
// next as its successor if chained.
func (f *Frontend) putDesc(gpa virtio.GuestAddr, buf Buf, flags uint16, chained bool, next uint16) error {
	if chained {
		flags |= descFNext
	}
	if buf.Write {
		flags |= descFWrite
	}
	d, err := f.Host(gpa, 16)
	if err != nil {
		return err
	}
	le.PutUint64(d[0:], uint64(buf.GPA))
	le.PutUint32(d[8:], buf.Len)
	le.PutUint16(d[12:], flags)
	le.PutUint16(d[14:], next)
	return nil
}

// publish puts head in the avail ring and advances its index.
func (r *Ring) publish(head uint16) error {
	slot := r.Avail + 4 + virtio.GuestAddr(2*uint64(r.availIdx%r.Size))
	if err := r.put16(slot, head); err != nil {
		return err
	}
	r.availIdx++
	// used_event (virtio 1.2 §2.7.10): ask for a call at the next element.
	if err := r.put16(r.Avail+4+virtio.GuestAddr(2*uint64(r.Size)), r.usedIdx); err != nil {
		return err
	}
	return r.put16(r.Avail+2, r.availIdx)
}

// Poll returns the next used element if the device has published one.
func (r *Ring) Poll() (Used, bool, error) {
	b, err := r.f.Host(r.Used, 4)
	if err != nil {
		return Used{}, false, err
	}
	if le.Uint16(b[2:]) == r.usedIdx {
		return Used{}, false, nil
	}
	e, err := r.f.Host(r.Used+4+virtio.GuestAddr(8*uint64(r.usedIdx%r.Size)), 8)
	if err != nil {
		return Used{}, false, err
	}
	r.usedIdx++
	return Used{ID: le.Uint32(e), Len: le.Uint32(e[4:])}, true, r.put16(r.Avail+4+virtio.GuestAddr(2*uint64(r.Size)), r.usedIdx)
}

// Wait returns the next used element, waiting up to d for the device to
// publish it and signal the call eventfd.
func (r *Ring) Wait(d time.Duration) (Used, error) {
	deadline := time.Now().Add(d)
	for {
		u, ok, err := r.Poll()
		if err != nil || ok {
			return u, err
		}
		if time.Now().After(deadline) {
			return Used{}, fmt.Errorf("vhostusertest: queue %d: nothing used within %v", r.Index, d)
		}
		// A short wait, so that a suppressed notification only costs time.
		_ = r.f.WaitCall(r.Index, 20*time.Millisecond)
	}
}

// Write copies p into guest RAM at gpa.
func (f *Frontend) Write(gpa virtio.GuestAddr, p []byte) error {
	b, err := f.Host(gpa, uint64(len(p)))
	if err != nil {
		return err
	}
	copy(b, p)
	return nil
}

// Read returns a copy of n bytes of guest RAM at gpa.
func (f *Frontend) Read(gpa virtio.GuestAddr, n uint64) ([]byte, error) {
	b, err := f.Host(gpa, n)
	if err != nil {
		return nil, err
	}
	return append([]byte(nil), b...), nil
}
