package virtiotest

import (
	"encoding/binary"
	"testing"

	"github.com/ccmblk/ccmblk/virtio"
)

const (
	pageSize     = 4096
	descSize     = 16
	usedElemSize = 8
)

// Seg is one buffer of a chain the Driver builds.
type Seg struct {
	Addr  virtio.GuestAddr
	Len   uint32
	Write bool // device-writable
}

// UsedElem is one element of the used ring.
type UsedElem struct {
	ID  uint32
	Len uint32
}

// Driver is the driver side of one split virtqueue. The rings sit at the
// start of guest memory: the descriptor table at the base, the available
// ring right after it, the used ring on the next page; the rest is a heap
// for buffers (Alloc). Driver methods are not safe for concurrent use, but
// a device may serve the queue concurrently with them.
type Driver struct {
	t    testing.TB
	mem  []byte
	base virtio.GuestAddr
	size uint16

	desc, avail, used uint64 // ring offsets in mem

	free     []uint16            // free descriptor indices
	chains   map[uint16][]uint16 // head -> descriptors it holds
	availIdx uint16
	lastUsed uint16
	heap     uint64 // offset of the first heap byte
	brk      uint64 // next free heap offset
}

// New lays out a queue of size descriptors in mem, which backs guest
// addresses starting at base (4-aligned, like mem's host address). It calls
// t.Fatal on a layout that does not fit.
func New(t testing.TB, mem []byte, base virtio.GuestAddr, size uint16) *Driver {
	t.Helper()
	n := uint64(size)
	d := &Driver{t: t, mem: mem, base: base, size: size, chains: map[uint16][]uint16{}}
	d.desc = 0
	d.avail = descSize * n
	d.used = alignUp(d.avail+6+2*n, pageSize)
	d.heap = alignUp(d.used+6+usedElemSize*n, pageSize)
	d.brk = d.heap
	if base%4 != 0 || !hostAligned4(mem) || d.heap > uint64(len(mem)) {
		t.Fatalf("virtiotest: queue of %d does not fit %d bytes at %#x", size, len(mem), uint64(base))
	}
	d.Reset()
	return d
}

// NewGuest allocates memSize bytes of guest memory at guest address 0 and
// lays out a queue of size descriptors in it.
func NewGuest(t testing.TB, memSize int, size uint16) *Driver {
	t.Helper()
	return New(t, make([]byte, memSize), 0, size)
}

func alignUp(n, a uint64) uint64 { return (n + a - 1) &^ (a - 1) }

// Reset clears the rings, frees every descriptor and the heap.
func (d *Driver) Reset() {
	clear(d.mem[:d.heap])
	d.free = d.free[:0]
	for i := int(d.size) - 1; i >= 0; i-- {
		d.free = append(d.free, uint16(i))
	}
	clear(d.chains)
	d.availIdx, d.lastUsed = 0, 0
	d.brk = d.heap
}

// Memory returns a virtio.Memory with the whole guest memory as one region.
func (d *Driver) Memory() *virtio.Memory {
	m, err := virtio.NewMemory([]virtio.Region{virtio.NewRegion(d.base, d.mem)})
	if err != nil {
		d.t.Fatalf("virtiotest: %v", err)
	}
	return m
}

// Config returns the queue's configuration for virtio.NewQueue.
func (d *Driver) Config(eventIdx bool) virtio.QueueConfig {
	return virtio.QueueConfig{
		Size:     d.size,
		Desc:     d.addr(d.desc),
		Avail:    d.addr(d.avail),
		Used:     d.addr(d.used),
		EventIdx: eventIdx,
	}
}

// Queue returns a device-side queue over Memory() and Config(eventIdx).
func (d *Driver) Queue(eventIdx bool) *virtio.Queue {
	q, err := virtio.NewQueue(d.Memory(), d.Config(eventIdx))
	if err != nil {
		d.t.Fatalf("virtiotest: %v", err)
	}
	return q
}

func (d *Driver) addr(off uint64) virtio.GuestAddr { return d.base + virtio.GuestAddr(off) }

// Bytes returns the host view of guest range [gpa, gpa+n).
func (d *Driver) Bytes(gpa virtio.GuestAddr, n int) []byte {
	off := uint64(gpa - d.base)
	if gpa < d.base || off+uint64(n) > uint64(len(d.mem)) {
		d.t.Fatalf("virtiotest: [%#x, +%d) outside guest memory", uint64(gpa), n)
	}
	return d.mem[off : off+uint64(n)]
}

// Alloc returns n zeroed heap bytes, 16-aligned.
func (d *Driver) Alloc(n int) virtio.GuestAddr {
	off := alignUp(d.brk, 16)
	if off+uint64(n) > uint64(len(d.mem)) {
		d.t.Fatalf("virtiotest: heap exhausted allocating %d bytes", n)
	}
	d.brk = off + uint64(n)
	clear(d.mem[off:d.brk])
	return d.addr(off)
}

// FreeHeap releases every heap allocation.
func (d *Driver) FreeHeap() { d.brk = d.heap }

// WriteDesc writes descriptor i of the table as is (for malformed chains).
func (d *Driver) WriteDesc(i uint16, desc virtio.Desc) {
	desc.Encode(d.mem[d.desc+descSize*uint64(i):])
}

// FreeDescs returns the number of unused descriptors.
func (d *Driver) FreeDescs() int { return len(d.free) }

// AddChain writes segs as a chain of direct descriptors and returns its
// head. The chain is not yet available (see Publish).
func (d *Driver) AddChain(segs ...Seg) uint16 {
	if len(segs) == 0 || len(segs) > len(d.free) {
		d.t.Fatalf("virtiotest: chain of %d descriptors, %d free", len(segs), len(d.free))
	}
	idx := make([]uint16, len(segs))
	for i := range segs {
		idx[i] = d.free[len(d.free)-1]
		d.free = d.free[:len(d.free)-1]
	}
	for i, s := range segs {
		desc := virtio.Desc{Addr: s.Addr, Len: s.Len, Flags: flags(s)}
		if i+1 < len(segs) {
			desc.Flags |= virtio.DescFNext
			desc.Next = idx[i+1]
		}
		d.WriteDesc(idx[i], desc)
	}
	d.chains[idx[0]] = idx
	return idx[0]
}

// AddIndirect writes segs into a new indirect table on the heap and returns
// the head of a one-descriptor chain pointing to it.
func (d *Driver) AddIndirect(segs ...Seg) uint16 {
	table := d.Alloc(descSize * len(segs))
	b := d.Bytes(table, descSize*len(segs))
	for i, s := range segs {
		desc := virtio.Desc{Addr: s.Addr, Len: s.Len, Flags: flags(s)}
		if i+1 < len(segs) {
			desc.Flags |= virtio.DescFNext
			desc.Next = uint16(i + 1)
		}
		desc.Encode(b[descSize*i:])
	}
	head := d.AddChain(Seg{Addr: table, Len: uint32(descSize * len(segs))})
	d.WriteDesc(head, virtio.Desc{Addr: table, Len: uint32(descSize * len(segs)), Flags: virtio.DescFIndirect})
	return head
}

func flags(s Seg) uint16 {
	if s.Write {
		return virtio.DescFWrite
	}
	return 0
}

// Publish puts heads on the available ring and publishes the new avail.idx
// with an atomic store after the entries.
func (d *Driver) Publish(heads ...uint16) {
	for _, h := range heads {
		off := d.avail + 4 + 2*uint64(d.availIdx%d.size)
		binary.LittleEndian.PutUint16(d.mem[off:], h)
		d.availIdx++
	}
	store16(d.mem, int(d.avail+2), d.availIdx)
}

// SetAvailIdx stores avail.idx as is (for index-jump tests).
func (d *Driver) SetAvailIdx(idx uint16) {
	d.availIdx = idx
	store16(d.mem, int(d.avail+2), idx)
}

// AvailIdx returns the driver's avail.idx.
func (d *Driver) AvailIdx() uint16 { return d.availIdx }

// UsedIdx returns used.idx as the device published it.
func (d *Driver) UsedIdx() uint16 { return load16(d.mem, int(d.used+2)) }

// Used returns the used elements published since the previous call and
// frees the descriptors of their chains.
func (d *Driver) Used() []UsedElem {
	idx := d.UsedIdx()
	var out []UsedElem
	for ; d.lastUsed != idx; d.lastUsed++ {
		off := d.used + 4 + usedElemSize*uint64(d.lastUsed%d.size)
		e := UsedElem{ID: binary.LittleEndian.Uint32(d.mem[off:]), Len: binary.LittleEndian.Uint32(d.mem[off+4:])}
		out = append(out, e)
		d.release(e.ID)
	}
	return out
}

// Reap consumes the used elements published since the previous call, like
// Used, and returns how many there were; it does not allocate.
func (d *Driver) Reap() int {
	idx := d.UsedIdx()
	n := int(idx - d.lastUsed)
	for ; d.lastUsed != idx; d.lastUsed++ {
		off := d.used + 4 + usedElemSize*uint64(d.lastUsed%d.size)
		d.release(binary.LittleEndian.Uint32(d.mem[off:]))
	}
	return n
}

// release frees the descriptors of the chain with head id, if Driver built
// it.
func (d *Driver) release(id uint32) {
	if id > 0xffff {
		return
	}
	if idx, ok := d.chains[uint16(id)]; ok {
		d.free = append(d.free, idx...)
		delete(d.chains, uint16(id))
	}
}

// SetUsedEvent stores used_event (EVENT_IDX): the device should notify once
// used.idx passes v.
func (d *Driver) SetUsedEvent(v uint16) {
	store16(d.mem, int(d.avail+4+2*uint64(d.size)), v)
}

// AvailEvent returns avail_event as the device published it (EVENT_IDX).
func (d *Driver) AvailEvent() uint16 {
	return load16(d.mem, int(d.used+4+usedElemSize*uint64(d.size)))
}

// SetNoInterrupt sets or clears VIRTQ_AVAIL_F_NO_INTERRUPT in avail.flags.
func (d *Driver) SetNoInterrupt(on bool) {
	var v uint16
	if on {
		v = 1
	}
	store16(d.mem, int(d.avail), v)
}
