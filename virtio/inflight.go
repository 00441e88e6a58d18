package virtio

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
)

// Inflight I/O tracking (vhost-user spec "Inflight I/O tracking", split
// rings). The front end keeps a shared area across a back-end restart; each
// queue's part is a QueueRegionSplit: a 16-byte header followed by one
// 16-byte DescStateSplit per descriptor. The layout is native-endian C.
const (
	// InflightHeaderSize is the size of QueueRegionSplit's header.
	InflightHeaderSize = 16
	// InflightDescSize is the size of DescStateSplit.
	InflightDescSize = 16

	inflightVersionOff     = 8  // u16 version: 0 fresh, 1 in use
	inflightDescNumOff     = 10 // u16 desc_num
	inflightLastBatchOff   = 12 // u16 last_batch_head, then u16 used_idx
	inflightEntryFlagOff   = 0  // u8 inflight, then padding[5]
	inflightEntryNextOff   = 4  // the word holding u16 next at 6
	inflightEntryCounterOf = 8  // u64 counter
	inflightVersion        = 1
)

// InflightQueueBytes is the size of one queue's inflight region for a
// queue of size descriptors: the header and one entry per descriptor.
func InflightQueueBytes(size uint16) int {
	return InflightHeaderSize + InflightDescSize*int(size)
}

// inflight is a queue's view of its inflight region.
//
// The popper marks a request when it pops it; the used side links each
// pushed head into the last batch and, once used.idx is stored, clears the
// batch and records used_idx. A SIGKILL keeps every store already made
// (the front end holds the memory), so the stores are atomic and in that
// order: the region never claims less than what the driver has not seen
// completed.
//
// Memory ordering: the used side holds mu from its store of used.idx to
// its store of used_idx, and the popper marks under mu, so a head the
// driver recycles the moment it sees used.idx is marked again only after
// its previous mark is cleared. All region stores are sequentially
// consistent atomics.
type inflight struct {
	region []byte // header plus entries; 8-aligned host address

	mu sync.Mutex
	// counter orders pops; the next request gets counter.
	// +checklocks:mu
	counter uint64

	// Used side: one writer at a time (see Queue).
	batch         []uint16 // heads pushed since the last publish
	lastBatchHead uint16
	usedIdx       uint16 // the used_idx stored in the region
}

// recoverInflight takes over region for a queue of size descriptors whose
// used.idx is usedIdx. A fresh region (version 0) is initialized. A region
// in use is repaired and read: the last batch, if published but not yet
// cleared, is cleared, and every request still marked is returned, oldest
// first, for resubmission.
//
// The region is front-end memory: every value read from it is checked,
// each is read once, and nothing it says can make the device touch memory
// outside region or loop beyond the ring size.
func recoverInflight(region []byte, size, usedIdx uint16) (*inflight, []uint16, error) {
	if len(region) < InflightHeaderSize || (len(region)-InflightHeaderSize)%InflightDescSize != 0 ||
		(len(region)-InflightHeaderSize)/InflightDescSize > MaxQueueSize {
		return nil, nil, fmt.Errorf("%w: %d bytes", ErrInflight, len(region))
	}
	if !hostAligned8(region) {
		return nil, nil, fmt.Errorf("%w: host mapping not 8-aligned", ErrInflight)
	}
	descNum := uint16((len(region) - InflightHeaderSize) / InflightDescSize)
	if size > descNum {
		return nil, nil, fmt.Errorf("%w: ring of %d descriptors, region for %d", ErrInflight, size, descNum)
	}
	f := &inflight{region: region, usedIdx: usedIdx}
	ne := binary.NativeEndian
	switch v := ne.Uint16(region[inflightVersionOff:]); v {
	case 0:
		// A fresh region (the front end got it from GET_INFLIGHT_FD). It
		// should be zero; make sure no stale mark survives.
		for i := range int(descNum) {
			store32(region, f.entry(uint16(i))+inflightEntryFlagOff, 0)
		}
		store32(region, inflightLastBatchOff, uint32(usedIdx)<<16)
		store32(region, inflightVersionOff, uint32(inflightVersion)|uint32(descNum)<<16)
		return f, nil, nil
	case inflightVersion:
	default:
		return nil, nil, fmt.Errorf("%w: version %d", ErrInflight, v)
	}
	if n := ne.Uint16(region[inflightDescNumOff:]); n != descNum {
		return nil, nil, fmt.Errorf("%w: desc_num %d in a region for %d", ErrInflight, n, descNum)
	}
	w := load32(region, inflightLastBatchOff)
	f.lastBatchHead = uint16(w)
	if err := f.clearLastBatch(size, uint16(w>>16)); err != nil {
		return nil, nil, err
	}
	heads, err := f.marked(size, descNum)
	if err != nil {
		return nil, nil, err
	}
	return f, heads, nil
}

// clearLastBatch clears the marks of the batch whose used.idx store the
// region's used_idx (regionUsed) has not caught up with: the
// usedIdx-regionUsed heads linked from last_batch_head.
func (f *inflight) clearLastBatch(size, regionUsed uint16) error {
	n := f.usedIdx - regionUsed
	if n > size {
		return fmt.Errorf("%w: last batch of %d requests in a ring of %d (used_idx %d, used.idx %d)", ErrInflight, n, size, regionUsed, f.usedIdx)
	}
	h := f.lastBatchHead
	for range n {
		if h >= size {
			return fmt.Errorf("%w: last batch head %d in a ring of %d", ErrInflight, h, size)
		}
		e := f.entry(h)
		store32(f.region, e+inflightEntryFlagOff, 0)
		h = uint16(load32(f.region, e+inflightEntryNextOff) >> 16)
	}
	store32(f.region, inflightLastBatchOff, uint32(f.lastBatchHead)|uint32(f.usedIdx)<<16)
	return nil
}

// marked returns the heads still marked in flight, by counter, and sets
// the next counter past the largest.
func (f *inflight) marked(size, descNum uint16) ([]uint16, error) {
	type mark struct {
		head    uint16
		counter uint64
	}
	var ms []mark
	for i := range descNum {
		e := f.entry(i)
		switch flag := f.region[e+inflightEntryFlagOff]; {
		case flag == 0:
			continue
		case flag != 1:
			return nil, fmt.Errorf("%w: entry %d inflight flag %d", ErrInflight, i, flag)
		case i >= size:
			return nil, fmt.Errorf("%w: entry %d marked in a ring of %d", ErrInflight, i, size)
		}
		ms = append(ms, mark{i, load64(f.region, e+inflightEntryCounterOf)})
	}
	// Equal counters (only a tampered region has them) keep head order.
	slices.SortStableFunc(ms, func(a, b mark) int { return cmp.Compare(a.counter, b.counter) })
	heads := make([]uint16, len(ms))
	for i, m := range ms {
		heads[i] = m.head
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(ms) > 0 {
		// A counter at the top of its range wraps: order is lost only
		// after 2^64 requests.
		f.counter = ms[len(ms)-1].counter + 1
	}
	return heads, nil
}

// entry returns the offset of head's DescStateSplit.
// Preconditions: head < desc_num.
func (f *inflight) entry(head uint16) int {
	return InflightHeaderSize + InflightDescSize*int(head)
}

// mark records head as popped: its counter, then its flag.
func (f *inflight) mark(head uint16) {
	e := f.entry(head)
	f.mu.Lock()
	defer f.mu.Unlock()
	store64(f.region, e+inflightEntryCounterOf, f.counter)
	f.counter++
	store32(f.region, e+inflightEntryFlagOff, 1)
}

// link adds a pushed head to the batch: its next is the previous
// last_batch_head, and it becomes last_batch_head.
func (f *inflight) link(head uint16) {
	store32(f.region, f.entry(head)+inflightEntryNextOff, uint32(f.lastBatchHead)<<16)
	f.lastBatchHead = head
	store32(f.region, inflightLastBatchOff, uint32(head)|uint32(f.usedIdx)<<16)
	f.batch = append(f.batch, head)
}

// publish runs storeUsedIdx, which publishes used.idx = usedIdx, then
// clears the batch's marks and records usedIdx as the region's used_idx.
func (f *inflight) publish(usedIdx uint16, storeUsedIdx func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	storeUsedIdx()
	for _, h := range f.batch {
		store32(f.region, f.entry(h)+inflightEntryFlagOff, 0)
	}
	f.batch = f.batch[:0]
	f.usedIdx = usedIdx
	store32(f.region, inflightLastBatchOff, uint32(f.lastBatchHead)|uint32(usedIdx)<<16)
}
