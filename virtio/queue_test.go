package virtio_test

import (
	"errors"
	"testing"

	"github.com/ccmblk/ccmblk/virtio"
	"github.com/ccmblk/ccmblk/virtio/virtiotest"
)

func TestNewQueueRejects(t *testing.T) {
	d := virtiotest.NewGuest(t, 1<<16, testQueueSize)
	good := d.Config(false)
	mem := d.Memory()
	tests := []struct {
		name string
		mem  *virtio.Memory
		cfg  func(c *virtio.QueueConfig)
		want error
	}{
		{"size 0", mem, func(c *virtio.QueueConfig) { c.Size = 0 }, virtio.ErrQueueSize},
		{"size 3", mem, func(c *virtio.QueueConfig) { c.Size = 3 }, virtio.ErrQueueSize},
		{"size above max", mem, func(c *virtio.QueueConfig) { c.Size = virtio.MaxQueueSize + 1 }, virtio.ErrQueueSize},
		{"size 0xffff", mem, func(c *virtio.QueueConfig) { c.Size = 0xffff }, virtio.ErrQueueSize},
		{"desc misaligned", mem, func(c *virtio.QueueConfig) { c.Desc += 8 }, virtio.ErrRingAlign},
		{"avail odd", mem, func(c *virtio.QueueConfig) { c.Avail++ }, virtio.ErrRingAlign},
		{"used 2-aligned", mem, func(c *virtio.QueueConfig) { c.Used += 2 }, virtio.ErrRingAlign},
		{"desc not in memory", mem, func(c *virtio.QueueConfig) { c.Desc = 1 << 20 }, virtio.ErrRingNotInMemory},
		{"desc wraps", mem, func(c *virtio.QueueConfig) { c.Desc = ^virtio.GuestAddr(0xf) }, virtio.ErrRingNotInMemory},
		{"avail past end", mem, func(c *virtio.QueueConfig) { c.Avail = 1<<16 - 8 }, virtio.ErrRingNotInMemory},
		{"used past end", mem, func(c *virtio.QueueConfig) { c.Used = 1<<16 - 64 }, virtio.ErrRingNotInMemory},
		{"used at end", mem, func(c *virtio.QueueConfig) { c.Used = 1<<16 - (8 + 8*testQueueSize) }, nil},
		// The ring ends with its region, so the 32-bit word holding
		// avail_event would reach 2 bytes outside: refused.
		{"used word past region", trimmedMemory(t, d, 2), func(c *virtio.QueueConfig) { c.Used = 1<<16 - (8 + 8*testQueueSize) }, virtio.ErrRingNotInMemory},
		{"used across regions", splitMemory(t, d, 0x3000+0x40), func(c *virtio.QueueConfig) { c.Used = 0x3000 }, virtio.ErrRingNotInMemory},
		{"used read-only", readOnlyMemory(t, d), nil, virtio.ErrRingNotInMemory},
		{"host misaligned", misalignedMemory(t), func(c *virtio.QueueConfig) {}, virtio.ErrRingAlign},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			_, err := virtio.NewQueue(tc.mem, cfg)
			if !errors.Is(err, tc.want) {
				t.Fatalf("NewQueue: got %v, want %v", err, tc.want)
			}
		})
	}
}

// splitMemory returns d's memory cut into two regions at gpa.
func splitMemory(t *testing.T, d *virtiotest.Driver, gpa virtio.GuestAddr) *virtio.Memory {
	t.Helper()
	all := d.Bytes(0, 1<<16)
	m, err := virtio.NewMemory([]virtio.Region{virtio.NewRegion(0, all[:gpa]), virtio.NewRegion(gpa, all[gpa:])})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// trimmedMemory returns d's memory without its last n bytes.
func trimmedMemory(t *testing.T, d *virtiotest.Driver, n int) *virtio.Memory {
	t.Helper()
	m, err := virtio.NewMemory([]virtio.Region{virtio.NewRegion(0, d.Bytes(0, 1<<16-n))})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// readOnlyMemory returns d's memory as one read-only region.
func readOnlyMemory(t *testing.T, d *virtiotest.Driver) *virtio.Memory {
	t.Helper()
	m, err := virtio.NewMemory([]virtio.Region{virtio.NewReadOnlyRegion(0, d.Bytes(0, 1<<16))})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// misalignedMemory returns memory whose host view is 1 byte off alignment.
func misalignedMemory(t *testing.T) *virtio.Memory {
	t.Helper()
	m, err := virtio.NewMemory([]virtio.Region{virtio.NewRegion(0, make([]byte, 1<<16+1)[1:])})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// publishN makes n one-descriptor chains available and returns their heads.
func publishN(d *virtiotest.Driver, n int) []uint16 {
	heads := make([]uint16, n)
	for i := range heads {
		heads[i] = d.AddChain(virtiotest.Seg{Addr: bufAt, Len: 8, Write: true})
	}
	d.Publish(heads...)
	return heads
}

func popAll(t *testing.T, q *virtio.Queue) []uint16 {
	t.Helper()
	var heads []uint16
	for {
		var c virtio.Chain
		ok, err := q.Pop(&c)
		if err != nil {
			t.Fatalf("Pop: %v", err)
		}
		if !ok {
			return heads
		}
		heads = append(heads, c.Head())
	}
}

func TestQueuePopPush(t *testing.T) {
	d := virtiotest.NewGuest(t, 1<<16, testQueueSize)
	q := d.Queue(false)
	if got := popAll(t, q); len(got) != 0 {
		t.Fatalf("empty queue popped %v", got)
	}
	heads := publishN(d, 3)
	got := popAll(t, q)
	if len(got) != 3 || got[0] != heads[0] || got[2] != heads[2] {
		t.Fatalf("popped %v, want %v", got, heads)
	}
	if q.NextAvail() != 3 {
		t.Fatalf("NextAvail: got %d, want 3", q.NextAvail())
	}
	for i, h := range got {
		if n := q.InFlight(); n != 3-i {
			t.Fatalf("InFlight before pushing %d of 3: %d", i, n)
		}
		if err := q.PushUsed(h, uint32(i+1), nil); err != nil {
			t.Fatal(err)
		}
	}
	if n := q.InFlight(); n != 0 {
		t.Fatalf("InFlight after pushing all: %d", n)
	}
	if d.UsedIdx() != 0 {
		t.Fatalf("used.idx moved before PublishUsed: %d", d.UsedIdx())
	}
	q.PublishUsed()
	used := d.Used()
	if len(used) != 3 || used[1].ID != uint32(heads[1]) || used[1].Len != 2 {
		t.Fatalf("used ring: got %v", used)
	}
	if err := q.PushUsed(heads[0], 0, nil); !errors.Is(err, virtio.ErrNotInFlight) {
		t.Fatalf("second PushUsed: got %v, want %v", err, virtio.ErrNotInFlight)
	}
	if err := q.PushUsed(testQueueSize, 0, nil); !errors.Is(err, virtio.ErrNotInFlight) {
		t.Fatalf("PushUsed out of range: got %v", err)
	}
}

func TestQueueBreaks(t *testing.T) {
	tests := []struct {
		name  string
		setup func(d *virtiotest.Driver)
		ok    int // pops that succeed before the error
		want  error
	}{
		{"avail idx jump", func(d *virtiotest.Driver) { d.SetAvailIdx(testQueueSize + 1) }, 0, virtio.ErrAvailIdx},
		{"avail idx backwards", func(d *virtiotest.Driver) { d.SetAvailIdx(0xffff) }, 0, virtio.ErrAvailIdx},
		{"avail idx full ring", func(d *virtiotest.Driver) { publishN(d, testQueueSize) }, testQueueSize, nil},
		{"head out of range", func(d *virtiotest.Driver) {
			h := d.AddChain(virtiotest.Seg{Addr: bufAt, Len: 1})
			d.Publish(h, testQueueSize)
		}, 1, virtio.ErrHeadIndex},
		{"head twice", func(d *virtiotest.Driver) {
			h := d.AddChain(virtiotest.Seg{Addr: bufAt, Len: 1})
			d.Publish(h, h)
		}, 1, virtio.ErrHeadInFlight},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := virtiotest.NewGuest(t, 1<<16, testQueueSize)
			q := d.Queue(false)
			tc.setup(d)
			var c virtio.Chain
			for i := range tc.ok {
				if ok, err := q.Pop(&c); !ok || err != nil {
					t.Fatalf("pop %d: got %v, %v", i, ok, err)
				}
			}
			ok, err := q.Pop(&c)
			if !errors.Is(err, tc.want) || ok {
				t.Fatalf("Pop: got %v, %v; want false, %v", ok, err, tc.want)
			}
		})
	}
}

func TestQueueResume(t *testing.T) {
	d := virtiotest.NewGuest(t, 1<<16, testQueueSize)
	heads := publishN(d, 7)
	// Pretend a previous session consumed 5 chains and completed 9 used
	// entries (the used ring remembers its index).
	q0 := d.Queue(false)
	for range 5 {
		var c virtio.Chain
		if _, err := q0.Pop(&c); err != nil {
			t.Fatal(err)
		}
		if err := q0.PushUsed(c.Head(), 0, nil); err != nil {
			t.Fatal(err)
		}
	}
	q0.PublishUsed()
	d.Used()
	cfg := d.Config(false)
	cfg.NextAvail = q0.NextAvail()
	q, err := virtio.NewQueue(d.Memory(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	got := popAll(t, q)
	if len(got) != 2 || got[0] != heads[5] || got[1] != heads[6] {
		t.Fatalf("resumed pops: got %v, want %v", got, heads[5:])
	}
	if err := q.PushUsed(got[0], 0, nil); err != nil {
		t.Fatal(err)
	}
	q.PublishUsed()
	if d.UsedIdx() != 6 {
		t.Fatalf("used.idx: got %d, want 6", d.UsedIdx())
	}
}

func TestNotifyWithoutEventIdx(t *testing.T) {
	d := virtiotest.NewGuest(t, 1<<16, testQueueSize)
	q := d.Queue(false)
	push := func() {
		t.Helper()
		publishN(d, 1)
		for _, h := range popAll(t, q) {
			if err := q.PushUsed(h, 0, nil); err != nil {
				t.Fatal(err)
			}
		}
		q.PublishUsed()
		d.Used()
	}
	if q.NeedsNotify() {
		t.Fatal("notify with nothing published")
	}
	push()
	if !q.NeedsNotify() {
		t.Fatal("no notify after publish")
	}
	if q.NeedsNotify() {
		t.Fatal("second notify for the same entries")
	}
	d.SetNoInterrupt(true)
	push()
	if q.NeedsNotify() {
		t.Fatal("notify despite VIRTQ_AVAIL_F_NO_INTERRUPT")
	}
	if more, err := q.EnableNotify(); more || err != nil {
		t.Fatalf("EnableNotify on empty ring: got %v, %v", more, err)
	}
	publishN(d, 1)
	if more, err := q.EnableNotify(); !more || err != nil {
		t.Fatalf("EnableNotify with a pending chain: got %v, %v", more, err)
	}
}

func TestNotifyEventIdx(t *testing.T) {
	d := virtiotest.NewGuest(t, 1<<16, testQueueSize)
	q := d.Queue(true)
	complete := func(n int) {
		t.Helper()
		publishN(d, n)
		for _, h := range popAll(t, q) {
			if err := q.PushUsed(h, 0, nil); err != nil {
				t.Fatal(err)
			}
		}
		q.PublishUsed()
		d.Used()
	}
	complete(1) // used.idx 1
	if !q.NeedsNotify() {
		t.Fatal("first publication must notify")
	}
	d.SetUsedEvent(3) // notify when used.idx passes 3, i.e. reaches 4
	steps := []struct {
		n    int
		want bool
	}{{1, false}, {1, false}, {1, true}, {1, false}}
	for i, s := range steps {
		complete(s.n)
		if got := q.NeedsNotify(); got != s.want {
			t.Fatalf("step %d (used.idx %d): NeedsNotify got %v, want %v", i, d.UsedIdx(), got, s.want)
		}
	}
	// A batch that jumps over used_event notifies once.
	d.SetUsedEvent(6)
	complete(4) // used.idx 5 -> 9
	if !q.NeedsNotify() {
		t.Fatal("batch over used_event did not notify")
	}

	// EnableNotify publishes avail_event = next avail index.
	if more, err := q.EnableNotify(); more || err != nil {
		t.Fatalf("EnableNotify: got %v, %v", more, err)
	}
	if got := d.AvailEvent(); got != q.NextAvail() {
		t.Fatalf("avail_event: got %d, want %d", got, q.NextAvail())
	}
	publishN(d, 1)
	if more, _ := q.EnableNotify(); !more {
		t.Fatal("EnableNotify missed a pending chain")
	}
	d.SetAvailIdx(d.AvailIdx() + testQueueSize + 1)
	if _, err := q.EnableNotify(); !errors.Is(err, virtio.ErrAvailIdx) {
		t.Fatalf("EnableNotify after jump: got %v, want %v", err, virtio.ErrAvailIdx)
	}
}
