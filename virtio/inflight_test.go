package virtio_test

import (
	"encoding/binary"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/ccmblk/ccmblk/virtio"
	"github.com/ccmblk/ccmblk/virtio/virtiotest"
)

// Offsets in a split queue's inflight region (QueueRegionSplit and
// DescStateSplit), spelled out here so that the tests check the layout
// rather than reuse it.
const (
	ifVersion   = 8
	ifDescNum   = 10
	ifLastBatch = 12
	ifUsedIdx   = 14
	ifEntries   = 16
	ifEntrySize = 16
	ifNext      = 6
	ifCounter   = 8
)

var hne = binary.NativeEndian

// inflightRegion returns a zeroed region for a queue of n descriptors.
// Go allocates it 8-aligned.
func inflightRegion(n uint16) []byte {
	return make([]byte, virtio.InflightQueueBytes(n))
}

func entryFlag(r []byte, h uint16) byte { return r[ifEntries+ifEntrySize*int(h)] }
func entryNext(r []byte, h uint16) uint16 {
	return hne.Uint16(r[ifEntries+ifEntrySize*int(h)+ifNext:])
}
func entryCounter(r []byte, h uint16) uint64 {
	return hne.Uint64(r[ifEntries+ifEntrySize*int(h)+ifCounter:])
}

// setMark marks head h in flight with counter c, as a device would have.
func setMark(r []byte, h uint16, c uint64) {
	r[ifEntries+ifEntrySize*int(h)] = 1
	hne.PutUint64(r[ifEntries+ifEntrySize*int(h)+ifCounter:], c)
}

// inflightQueue returns a queue of d with region as its inflight region,
// resuming at base as QEMU's SET_VRING_BASE says.
func inflightQueue(t *testing.T, d *virtiotest.Driver, region []byte, base uint16) *virtio.Queue {
	t.Helper()
	cfg := d.Config(false)
	cfg.Inflight, cfg.NextAvail = region, base
	q, err := virtio.NewQueue(d.Memory(), cfg)
	if err != nil {
		t.Fatalf("NewQueue: %v", err)
	}
	return q
}

// pop pops one chain and returns its head.
func pop(t *testing.T, q *virtio.Queue) uint16 {
	t.Helper()
	var c virtio.Chain
	ok, err := q.Pop(&c)
	if err != nil || !ok {
		t.Fatalf("Pop: %v, %v", ok, err)
	}
	return c.Head()
}

func publish(t *testing.T, q *virtio.Queue) {
	t.Helper()
	if err := q.PublishUsed(); err != nil {
		t.Fatal(err)
	}
}

func push(t *testing.T, q *virtio.Queue, h uint16) {
	t.Helper()
	if err := q.PushUsed(h, 1, nil); err != nil {
		t.Fatal(err)
	}
}

// TestInflightMarkAndClear checks what the region holds through a
// request's life: a fresh region is initialized, a popped head is marked
// with an increasing counter, a pushed head is linked into the last batch
// and stays marked until used.idx is published, then used_idx follows.
func TestInflightMarkAndClear(t *testing.T) {
	d := virtiotest.NewGuest(t, 1<<20, 8)
	r := inflightRegion(8)
	q := inflightQueue(t, d, r, 0)
	if v, n := hne.Uint16(r[ifVersion:]), hne.Uint16(r[ifDescNum:]); v != 1 || n != 8 {
		t.Fatalf("fresh region: version %d desc_num %d, want 1, 8", v, n)
	}
	heads := addChains(t, d, 3)
	var popped []uint16
	for range heads {
		popped = append(popped, pop(t, q))
	}
	for i, h := range popped {
		if entryFlag(r, h) != 1 || entryCounter(r, h) != uint64(i) {
			t.Errorf("popped head %d: flag %d counter %d, want 1, %d", h, entryFlag(r, h), entryCounter(r, h), i)
		}
	}
	push(t, q, popped[2])
	push(t, q, popped[0])
	if entryFlag(r, popped[2]) != 1 || entryFlag(r, popped[0]) != 1 {
		t.Errorf("pushed heads unmarked before used.idx is published")
	}
	if lbh := hne.Uint16(r[ifLastBatch:]); lbh != popped[0] || entryNext(r, popped[0]) != popped[2] {
		t.Errorf("last_batch_head %d, next %d; want %d -> %d", lbh, entryNext(r, popped[0]), popped[0], popped[2])
	}
	publish(t, q)
	if entryFlag(r, popped[2]) != 0 || entryFlag(r, popped[0]) != 0 || entryFlag(r, popped[1]) != 1 {
		t.Errorf("after publish: flags %d %d %d, want 0 1 0", entryFlag(r, popped[0]), entryFlag(r, popped[1]), entryFlag(r, popped[2]))
	}
	if u := hne.Uint16(r[ifUsedIdx:]); u != 2 || d.UsedIdx() != 2 {
		t.Errorf("region used_idx %d, used.idx %d, want 2", u, d.UsedIdx())
	}
	push(t, q, popped[1])
	publish(t, q)
	for i := range uint16(8) {
		if entryFlag(r, i) != 0 {
			t.Errorf("head %d still marked after every request completed", i)
		}
	}
}

// addChains adds and publishes n one-descriptor chains.
func addChains(t *testing.T, d *virtiotest.Driver, n int) []uint16 {
	t.Helper()
	var heads []uint16
	for range n {
		heads = append(heads, d.AddChain(virtiotest.Seg{Addr: d.Alloc(16), Len: 16}))
	}
	d.Publish(heads...)
	return heads
}

// poppedQueue starts a queue of 8 on a fresh inflight region and pops n
// requests.
func poppedQueue(t *testing.T, n int) (*virtiotest.Driver, []byte, *virtio.Queue, []uint16) {
	t.Helper()
	d := virtiotest.NewGuest(t, 1<<20, 8)
	r := inflightRegion(8)
	q := inflightQueue(t, d, r, 0)
	heads := addChains(t, d, n)
	for range heads {
		pop(t, q)
	}
	return d, r, q, heads
}

// TestInflightResubmitOrder kills a queue with requests completed out of
// order, one pushed but not published, and restarts it on the same region
// at the used index, as QEMU does after a back-end crash: the requests the
// driver has not seen completed come back first, oldest first, then the
// ring continues after the last popped entry.
func TestInflightResubmitOrder(t *testing.T) {
	d, r, q, heads := poppedQueue(t, 5)
	push(t, q, heads[3])
	push(t, q, heads[1])
	publish(t, q)
	push(t, q, heads[0]) // the crash comes before this is published

	// A request the driver made available after the crash.
	later := addChains(t, d, 1)
	q = inflightQueue(t, d, r, d.UsedIdx())
	if n := q.Resubmits(); n != 3 {
		t.Fatalf("%d resubmits, want 3", n)
	}
	var got []uint16
	for range 4 {
		got = append(got, pop(t, q))
	}
	want := []uint16{heads[0], heads[2], heads[4], later[0]}
	if !slices.Equal(got, want) {
		t.Fatalf("popped %v after the restart, want %v", got, want)
	}
	var c virtio.Chain
	if ok, err := q.Pop(&c); ok || err != nil {
		t.Fatalf("a fifth pop: %v, %v", ok, err)
	}
	// Counters continue past the restart: the new request is the newest.
	if entryCounter(r, later[0]) <= entryCounter(r, heads[4]) {
		t.Errorf("counter %d after %d", entryCounter(r, later[0]), entryCounter(r, heads[4]))
	}
	for _, h := range got {
		push(t, q, h)
	}
	publish(t, q)
	if d.UsedIdx() != 6 {
		t.Errorf("used.idx %d, want 6: every request completed once", d.UsedIdx())
	}
	seen := map[uint32]int{}
	for _, u := range d.Used() {
		seen[u.ID]++
	}
	for _, h := range append(heads, later...) {
		if seen[uint32(h)] != 1 {
			t.Errorf("head %d completed %d times", h, seen[uint32(h)])
		}
	}
}

// TestInflightLastBatch restarts a queue that died after publishing
// used.idx but before clearing the batch: the batch, found through
// last_batch_head and next, is not resubmitted.
func TestInflightLastBatch(t *testing.T) {
	d, r, q, heads := poppedQueue(t, 3)
	push(t, q, heads[2])
	push(t, q, heads[0])
	publish(t, q)
	// Undo what the publish did after its store of used.idx.
	setMark(r, heads[2], 2)
	setMark(r, heads[0], 0)
	hne.PutUint16(r[ifUsedIdx:], 0)

	q = inflightQueue(t, d, r, d.UsedIdx())
	if n := q.Resubmits(); n != 1 || pop(t, q) != heads[1] {
		t.Fatalf("%d resubmits, want only head %d", n, heads[1])
	}
	if u := hne.Uint16(r[ifUsedIdx:]); u != 2 || entryFlag(r, heads[0]) != 0 || entryFlag(r, heads[2]) != 0 {
		t.Errorf("last batch not cleared: used_idx %d", u)
	}
}

// TestInflightHostileRegion starts queues on regions a front end tampered
// with: each is refused with ErrInflight, or read within bounds, without
// a panic or a hang.
func TestInflightHostileRegion(t *testing.T) {
	inUse := func(n uint16) []byte {
		r := inflightRegion(n)
		hne.PutUint16(r[ifVersion:], 1)
		hne.PutUint16(r[ifDescNum:], n)
		return r
	}
	cases := []struct {
		name   string
		region func() []byte
		ring   uint16
		// resubmits is the number of requests to pop again when the
		// region is accepted, or -1 if it is refused.
		resubmits int
	}{
		{"version 2", func() []byte { r := inUse(8); hne.PutUint16(r[ifVersion:], 2); return r }, 8, -1},
		{"desc_num beyond the region", func() []byte { r := inUse(8); hne.PutUint16(r[ifDescNum:], 9); return r }, 8, -1},
		{"region smaller than the ring", func() []byte { return inUse(4) }, 8, -1},
		{"region of a partial entry", func() []byte { return inUse(8)[:ifEntries+8*ifEntrySize-1] }, 8, -1},
		{"region without a header", func() []byte { return make([]byte, 8) }, 8, -1},
		{"last batch larger than the ring", func() []byte { r := inUse(8); hne.PutUint16(r[ifUsedIdx:], 0xfff0); return r }, 8, -1},
		{"last batch head out of range", func() []byte {
			r := inUse(8)
			hne.PutUint16(r[ifUsedIdx:], 0xffff)
			hne.PutUint16(r[ifLastBatch:], 8)
			return r
		}, 8, -1},
		{"inflight flag 2", func() []byte { r := inUse(8); r[ifEntries+3*ifEntrySize] = 2; return r }, 8, -1},
		{"mark beyond the ring size", func() []byte { r := inUse(16); setMark(r, 12, 0); return r }, 8, -1},
		{"last batch looping on itself", func() []byte {
			r := inUse(8)
			setMark(r, 5, 0)
			hne.PutUint16(r[ifEntries+5*ifEntrySize+ifNext:], 5)
			hne.PutUint16(r[ifLastBatch:], 5)
			hne.PutUint16(r[ifUsedIdx:], 0xfffd) // a batch of 3 up to used.idx 0
			return r
		}, 8, 0},
		{"every head marked, equal counters", func() []byte {
			r := inUse(8)
			for h := range uint16(8) {
				setMark(r, h, 7)
			}
			return r
		}, 8, 8},
		{"junk in the padding", func() []byte {
			r := inUse(8)
			for h := range 8 {
				copy(r[ifEntries+ifEntrySize*h+1:], []byte{0xff, 0xff, 0xff, 0xff, 0xff})
			}
			return r
		}, 8, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := virtiotest.NewGuest(t, 1<<20, c.ring)
			cfg := d.Config(false)
			cfg.Inflight = c.region()
			// The driver made available what the region says was popped.
			d.SetAvailIdx(uint16(max(c.resubmits, 0)))
			q, err := virtio.NewQueue(d.Memory(), cfg)
			if c.resubmits < 0 {
				if !errors.Is(err, virtio.ErrInflight) {
					t.Fatalf("NewQueue: %v, want ErrInflight", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewQueue: %v", err)
			}
			if q.Resubmits() != c.resubmits {
				t.Fatalf("%d resubmits, want %d", q.Resubmits(), c.resubmits)
			}
			got := popAll(t, q)
			want := make([]uint16, c.resubmits)
			for i := range want {
				want[i] = uint16(i)
			}
			if !slices.Equal(got, want) {
				t.Errorf("popped %v, want %v", got, want)
			}
		})
	}
}

// FuzzInflightRegion starts a queue of 8 on fuzzed region contents (the
// header and the first entries; the region is for 16 descriptors) and
// pops what it resubmits. Invariants: no panic, an accepted region
// resubmits distinct heads below the ring size, and a refused one is
// refused with ErrInflight.
func FuzzInflightRegion(f *testing.F) {
	good := inflightRegion(16)
	hne.PutUint16(good[ifVersion:], 1)
	hne.PutUint16(good[ifDescNum:], 16)
	setMark(good, 3, 9)
	setMark(good, 1, 4)
	f.Add(good[:ifEntries+8*ifEntrySize], uint16(0))
	f.Add([]byte{}, uint16(0))
	f.Add(good[:ifEntries], uint16(0xffff))
	f.Fuzz(func(t *testing.T, head []byte, usedIdx uint16) {
		d := virtiotest.NewGuest(t, 1<<20, 8)
		r := inflightRegion(16)
		copy(r, head)
		cfg := d.Config(false)
		cfg.Inflight = r
		// used.idx as the driver left it.
		binary.LittleEndian.PutUint16(d.Bytes(cfg.Used+2, 2), usedIdx)
		q, err := virtio.NewQueue(d.Memory(), cfg)
		if err != nil {
			if !errors.Is(err, virtio.ErrInflight) {
				t.Fatalf("NewQueue: %v", err)
			}
			return
		}
		n := q.Resubmits()
		seen := map[uint16]bool{}
		for range n {
			var c virtio.Chain
			ok, err := q.Pop(&c)
			if err != nil || !ok {
				t.Fatalf("resubmit pop: %v, %v", ok, err)
			}
			if c.Head() >= 8 || seen[c.Head()] {
				t.Fatalf("resubmitted head %d (seen %v)", c.Head(), seen[c.Head()])
			}
			seen[c.Head()] = true
		}
	})
}

// TestServeInflight serves rounds of writes on a slow disk, so that they
// overlap and complete out of order on the workers, with every head made
// available again as soon as it is used: the device's marks, links and
// clears interleave with the driver recycling heads. Once the queue is
// stopped, every request has been completed once and the region holds no
// mark, with used_idx at used.idx.
func TestServeInflight(t *testing.T) {
	disk := virtiotest.NewMemDisk(512, 1024)
	disk.SetDelay(time.Millisecond)
	r := inflightRegion(testOpts.QueueSize)
	h := startDeviceOn(t, disk, testOpts, true, func(c *virtio.QueueConfig) { c.Inflight = r })
	heads := make([]uint16, 32)
	for i := range heads {
		heads[i] = h.d.AddBlk(virtio.BlkTOut, uint64(i*8), 4096, i%2 == 0).Head
	}
	const rounds = 20
	for range rounds {
		batch(t, h, heads)
	}
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	if got := h.d.UsedIdx(); got != rounds*32 {
		t.Errorf("used.idx %d, want %d", got, rounds*32)
	}
	if got := hne.Uint16(r[ifUsedIdx:]); got != h.d.UsedIdx() {
		t.Errorf("region used_idx %d, used.idx %d", got, h.d.UsedIdx())
	}
	for i := range testOpts.QueueSize {
		if entryFlag(r, i) != 0 {
			t.Errorf("head %d still marked after the queue drained", i)
		}
	}
}
