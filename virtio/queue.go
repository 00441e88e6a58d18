package virtio

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"sync/atomic"
)

// Ring layout (virtio 1.2 section 2.7): the available ring is flags, idx,
// ring[size] and used_event, 2 bytes each; the used ring is flags, idx
// (2 bytes each), ring[size] of {id, len} (4 bytes each) and avail_event.
const (
	availFNoInterrupt = 1 // VIRTQ_AVAIL_F_NO_INTERRUPT
	usedElemSize      = 8
)

// QueueConfig describes a split virtqueue as the driver set it up.
type QueueConfig struct {
	// Size is the number of descriptors: a power of two in [1, MaxQueueSize].
	Size uint16
	// Desc, Avail and Used are the guest addresses of the descriptor table
	// (16-aligned), the available ring (2-aligned) and the used ring
	// (4-aligned).
	Desc, Avail, Used GuestAddr
	// EventIdx reports that VIRTIO_F_RING_EVENT_IDX was negotiated.
	EventIdx bool
	// NextAvail is the first available ring index to process (from
	// SET_VRING_BASE; 0 for a fresh queue). With Inflight it is ignored.
	NextAvail uint16
	// Log is the dirty log every write of the queue into guest memory
	// marks while it is on (shared by the device's queues); nil for none.
	Log *DirtyLog
	// LogUsed says whether writes to the used ring are logged, and
	// UsedLogAddr is the guest-physical address they are logged at (the
	// front end's view of the used ring). See SetUsedLog.
	LogUsed     bool
	UsedLogAddr GuestAddr
	// Inflight is the queue's inflight region (InflightQueueBytes of its
	// descriptor count, 8-aligned), or nil. A fresh region is initialized;
	// a region in use, kept by the front end across a back-end restart,
	// decides where the queue resumes: the requests it marks are popped
	// again first, oldest first, and the next available index is the used
	// index plus their number.
	Inflight []byte
}

// Queue is the device side of one split virtqueue. Its methods fall on two
// sides. The available side (Pop, EnableNotify, NextAvail) belongs to one
// goroutine, the popper. The used side (PushUsed, PublishUsed, NeedsNotify)
// has one writer at a time: its callers serialize those calls, for example
// with a mutex, so the used ring keeps one logical writer while completions
// come from several goroutines. The two sides may run concurrently: they
// share only the bitmap of heads in flight, which is updated atomically, so a
// head pushed by one goroutine can be popped again by the popper. See the
// package documentation for the memory ordering of ring accesses.
type Queue struct {
	mem      *Memory
	size     uint16
	eventIdx bool

	descAddr GuestAddr
	desc     []byte // descriptor table, 16*size bytes
	avail    []byte // available ring, widened to 4-aligned words
	availOff int    // offset of the available ring in avail (0 or 2)
	used     []byte // used ring, widened to 4-aligned words

	// Available side: the popper's.
	nextAvail uint16   // next available ring entry to pop
	availIdx  uint16   // last avail.idx read
	resubmit  []uint16 // heads to pop again before the available ring

	// inflight is the shared inflight region, or nil.
	inflight *inflight

	// Used side: one writer at a time.
	nextUsed  uint16 // next used ring entry to fill
	published uint16 // used.idx last stored
	usedFlags uint16 // shadow of used.flags (the device is its only writer)

	signalled      uint16 // used.idx at the last notification decision
	signalledValid bool

	// inFlight is the bitmap of heads popped and not yet pushed, set by Pop
	// and cleared by PushUsed with atomic operations. Clearing a bit
	// happens before the popper sees it clear, so whatever the completer
	// did with the request before PushUsed happens before its head is
	// popped again.
	inFlight []atomic.Uint64

	// log and usedLog: see QueueConfig.Log and SetUsedLog. Every write
	// into guest memory goes through PushUsed, PublishUsed or
	// EnableNotify, which mark the log after writing.
	log     *DirtyLog
	usedLog atomic.Uint64 // used ring's logged address | 1, or 0 for off
}

// NewQueue checks cfg against mem and returns the queue. Each ring must lie
// inside a single region (with its 16-bit fields' enclosing 32-bit words),
// aligned as the specification requires, in a region whose host mapping
// keeps that alignment. The next used index is read from the used ring, so a
// queue resumed after a reconnect continues where the device left off.
func NewQueue(mem *Memory, cfg QueueConfig) (*Queue, error) {
	n := int(cfg.Size)
	if n == 0 || n > MaxQueueSize || n&(n-1) != 0 {
		return nil, fmt.Errorf("%w: %d", ErrQueueSize, cfg.Size)
	}
	if cfg.Desc%16 != 0 || cfg.Avail%2 != 0 || cfg.Used%4 != 0 {
		return nil, fmt.Errorf("%w: desc %#x avail %#x used %#x", ErrRingAlign, uint64(cfg.Desc), uint64(cfg.Avail), uint64(cfg.Used))
	}
	q := &Queue{mem: mem, size: cfg.Size, eventIdx: cfg.EventIdx, descAddr: cfg.Desc}
	q.availOff = int(cfg.Avail % 4)
	var err error
	if q.desc, err = ringView(mem, "descriptor table", cfg.Desc, descSize*n, false); err != nil {
		return nil, err
	}
	if q.avail, err = ringView(mem, "available ring", cfg.Avail-GuestAddr(q.availOff), alignUp4(q.availOff+6+2*n), false); err != nil {
		return nil, err
	}
	if q.used, err = ringView(mem, "used ring", cfg.Used, alignUp4(6+usedElemSize*n), true); err != nil {
		return nil, err
	}
	w := load32(q.used, 0)
	q.usedFlags = uint16(w)
	q.nextUsed = uint16(w >> 16)
	q.published = q.nextUsed
	q.signalled = q.nextUsed
	q.nextAvail = cfg.NextAvail
	if cfg.Inflight != nil {
		if q.inflight, q.resubmit, err = recoverInflight(cfg.Inflight, cfg.Size, q.nextUsed); err != nil {
			return nil, err
		}
		// Every request popped before the restart is either published
		// (counted in used.idx) or still marked.
		q.nextAvail = q.nextUsed + uint16(len(q.resubmit))
	}
	q.availIdx = q.nextAvail
	q.inFlight = make([]atomic.Uint64, (n+63)/64)
	q.log = cfg.Log
	q.SetUsedLog(cfg.LogUsed, cfg.UsedLogAddr)
	return q, nil
}

// ringView returns the host view of a ring of n bytes at gpa (4-aligned).
func ringView(mem *Memory, what string, gpa GuestAddr, n int, write bool) ([]byte, error) {
	b, err := mem.contiguous(gpa, uint64(n), write)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrRingNotInMemory, what, err)
	}
	if !hostAligned4(b) {
		return nil, fmt.Errorf("%w: %s host mapping not 4-aligned", ErrRingAlign, what)
	}
	return b, nil
}

// Size returns the number of descriptors in the queue.
func (q *Queue) Size() uint16 { return q.size }

// Resubmits returns the number of requests from before a back-end restart
// that Pop has yet to return again.
func (q *Queue) Resubmits() int { return len(q.resubmit) }

// NextAvail returns the index of the next available ring entry the device
// will process, the value GET_VRING_BASE reports. Call it only while no
// goroutine is serving the queue.
func (q *Queue) NextAvail() uint16 { return q.nextAvail }

// InFlight returns the number of heads popped and not yet pushed. It is
// safe to call from any goroutine; while the queue is served the answer is
// a snapshot.
func (q *Queue) InFlight() int {
	n := 0
	for i := range q.inFlight {
		n += bits.OnesCount64(q.inFlight[i].Load())
	}
	return n
}

// loadAvailIdx reads avail.idx and checks that it moved by at most the
// queue size from the next entry to pop.
func (q *Queue) loadAvailIdx() (uint16, error) {
	idx := load16(q.avail, q.availOff+2)
	if d := idx - q.nextAvail; d > q.size {
		return 0, fmt.Errorf("%w: avail.idx %d, next %d, size %d", ErrAvailIdx, idx, q.nextAvail, q.size)
	}
	return idx, nil
}

// Pop takes the next available chain and sets c up to walk it: first the
// requests to resubmit after a back-end restart, then the available ring.
// It reports false when there is nothing to pop. An error means the driver
// (or the inflight region) broke the queue (ErrAvailIdx, ErrHeadIndex,
// ErrHeadInFlight); the caller must stop popping. Every popped head must be
// returned with PushUsed exactly once.
func (q *Queue) Pop(c *Chain) (bool, error) {
	head, ok, err := q.nextHead()
	if !ok || err != nil {
		return false, err
	}
	w, bit := &q.inFlight[head/64], uint64(1)<<(head%64)
	if w.Load()&bit != 0 {
		return false, fmt.Errorf("%w: head %d before avail entry %d", ErrHeadInFlight, head, q.nextAvail)
	}
	w.Or(bit)
	if q.inflight != nil {
		q.inflight.mark(head)
	}
	*c = Chain{
		mem:       q.mem,
		head:      head,
		table:     q.desc,
		tableAddr: q.descAddr,
		tableLen:  uint32(q.size),
		next:      head,
		ttl:       uint32(q.size),
	}
	return true, nil
}

// SetUsedLog turns logging of the used ring's writes on or off (the
// VHOST_VRING_F_LOG flag) and sets the guest-physical address of the used
// ring they are logged at. It may be called while the queue is served.
func (q *Queue) SetUsedLog(on bool, addr GuestAddr) {
	var v uint64
	if on {
		v = uint64(addr) | 1 // the used ring is 4-aligned: bit 0 is free
	}
	q.usedLog.Store(v)
}

// logUsed marks the n bytes at offset off of the used ring in the log, if
// used ring logging is on.
func (q *Queue) logUsed(off, n int) error {
	v := q.usedLog.Load()
	if v == 0 {
		return nil
	}
	addr, ok := GuestAddr(v &^ 1).Add(uint64(off))
	if !ok {
		return fmt.Errorf("%w: used ring at %#x", ErrLogRange, v&^1)
	}
	return q.log.Mark(addr, uint64(n))
}

// nextHead takes the next head to pop, checked against the queue size.
func (q *Queue) nextHead() (uint16, bool, error) {
	if len(q.resubmit) > 0 {
		// Checked below the ring size by recoverInflight.
		head := q.resubmit[0]
		q.resubmit = q.resubmit[1:]
		return head, true, nil
	}
	if q.nextAvail == q.availIdx {
		idx, err := q.loadAvailIdx()
		if err != nil {
			return 0, false, err
		}
		q.availIdx = idx
		if idx == q.nextAvail {
			return 0, false, nil
		}
	}
	// The atomic load of avail.idx above orders this plain read after the
	// driver's write of the entry.
	off := q.availOff + 4 + 2*int(q.nextAvail&(q.size-1))
	head := binary.LittleEndian.Uint16(q.avail[off:])
	if head >= q.size {
		return 0, false, fmt.Errorf("%w: head %d at avail entry %d", ErrHeadIndex, head, q.nextAvail)
	}
	q.nextAvail++
	return head, true, nil
}

// PushUsed writes the used element {head, n} (n is the number of bytes the
// device wrote into the chain). It becomes visible to the driver at the
// next PublishUsed. written are the chain's descriptors as walked (or
// those walked before it failed): while the dirty log is on, their
// device-writable buffers, where the device wrote the request's data and
// status, are marked, and then the used element. An ErrLogRange error
// reports a write the log could not record; the element is pushed anyway.
func (q *Queue) PushUsed(head uint16, n uint32, written []Desc) error {
	if head >= q.size {
		return fmt.Errorf("%w: head %d", ErrNotInFlight, head)
	}
	w, bit := &q.inFlight[head/64], uint64(1)<<(head%64)
	if w.Load()&bit == 0 {
		return fmt.Errorf("%w: head %d", ErrNotInFlight, head)
	}
	off := 4 + usedElemSize*int(q.nextUsed&(q.size-1))
	binary.LittleEndian.PutUint32(q.used[off:], uint32(head))
	binary.LittleEndian.PutUint32(q.used[off+4:], n)
	q.nextUsed++
	err := q.log.markWritable(q.mem, written)
	if e := q.logUsed(off, usedElemSize); err == nil {
		err = e
	}
	if q.inflight != nil {
		q.inflight.link(head)
	}
	// Last: once the bit is clear the popper may pop head again and reuse
	// whatever the caller keeps for it.
	w.And(^bit)
	return err
}

// PublishUsed makes the pushed used elements visible to the driver with one
// atomic store of used.flags and used.idx, after the plain stores of the
// elements, and logs used.idx. An ErrLogRange error reports a store the
// dirty log could not record.
func (q *Queue) PublishUsed() error {
	if q.published == q.nextUsed {
		return nil
	}
	if q.inflight != nil {
		// The marks of the batch are cleared only once the driver can
		// see its completions.
		q.inflight.publish(q.nextUsed, q.storeUsedIdx)
	} else {
		q.storeUsedIdx()
	}
	q.published = q.nextUsed
	return q.logUsed(2, 2)
}

// storeUsedIdx publishes used.idx = nextUsed.
func (q *Queue) storeUsedIdx() {
	store32(q.used, 0, uint32(q.usedFlags)|uint32(q.nextUsed)<<16)
}

// NeedsNotify reports whether the driver wants a notification for the used
// elements published since the previous call. With EVENT_IDX it applies the
// vring_need_event test to used_event; without, it honours
// VIRTQ_AVAIL_F_NO_INTERRUPT.
func (q *Queue) NeedsNotify() bool {
	newIdx, old, valid := q.published, q.signalled, q.signalledValid
	q.signalled, q.signalledValid = newIdx, true
	if newIdx == old {
		return false
	}
	// The atomic store in PublishUsed and the atomic loads below are
	// sequentially consistent: the driver either sees the new used.idx or
	// we see its new used_event / flags.
	if !q.eventIdx {
		return load16(q.avail, q.availOff)&availFNoInterrupt == 0
	}
	if !valid {
		return true
	}
	usedEvent := load16(q.avail, q.availOff+4+2*int(q.size))
	return newIdx-usedEvent-1 < newIdx-old
}

// EnableNotify asks the driver to kick for the next available chain and
// reports whether chains became available meanwhile (then the caller must
// pop them instead of waiting for a kick). With EVENT_IDX it publishes
// avail_event = next avail index, then re-reads avail.idx; the store and the
// load are sequentially consistent atomics, so a chain made available
// concurrently is either seen here or kicked. Without EVENT_IDX the device
// never suppresses kicks. An error breaks the queue as for Pop.
func (q *Queue) EnableNotify() (bool, error) {
	if q.eventIdx {
		off := 4 + usedElemSize*int(q.size)
		store16(q.used, off, q.nextAvail)
		if err := q.logUsed(off, 2); err != nil {
			return false, err
		}
	}
	idx, err := q.loadAvailIdx()
	if err != nil {
		return false, err
	}
	q.availIdx = idx
	return idx != q.nextAvail, nil
}
