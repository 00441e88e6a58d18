package vhostuser_test

import (
	"errors"
	"slices"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ccmblk/ccmblk/vhostuser"
	"github.com/ccmblk/ccmblk/vhostuser/vhostusertest"
	"github.com/ccmblk/ccmblk/virtio"
)

// Offsets in a queue's inflight region (QueueRegionSplit, DescStateSplit).
const (
	regionVersion = 8
	regionDescNum = 10
	regionUsedIdx = 14
	regionEntries = 16
	entrySize     = 16
	entryCounter  = 8
)

// popBackend is a Backend whose queues pop everything there is, record
// the heads in pop order and complete them, on start and on every kick.
type popBackend struct {
	mu     sync.Mutex
	popped []uint16
	starts []uint16 // NextAvail at each start, after recovery
}

func (b *popBackend) Features() uint64                    { return fakeFeatures }
func (b *popBackend) NumQueues() int                      { return 2 }
func (b *popBackend) MaxQueueSize() uint16                { return 256 }
func (b *popBackend) ReadConfig(_ uint32, p []byte) error { clear(p); return nil }
func (b *popBackend) WriteConfig(uint32, []byte) error    { return errors.New("pop: read-only") }

func (b *popBackend) ServeQueue(_ int, q *virtio.Queue, kick virtio.Kick, call virtio.Notifier) error {
	b.mu.Lock()
	b.starts = append(b.starts, q.NextAvail())
	b.mu.Unlock()
	for {
		var c virtio.Chain
		var heads []uint16
		for {
			ok, err := q.Pop(&c)
			if err != nil {
				return err
			}
			if !ok {
				break
			}
			heads = append(heads, c.Head())
		}
		for _, h := range heads {
			if err := q.PushUsed(h, 0, nil); err != nil {
				return err
			}
		}
		if err := q.PublishUsed(); err != nil {
			return err
		}
		b.mu.Lock()
		b.popped = append(b.popped, heads...)
		b.mu.Unlock()
		if len(heads) > 0 {
			if err := call.Notify(); err != nil {
				return err
			}
		}
		if err := kick.Wait(); err != nil {
			return nil
		}
	}
}

func (b *popBackend) record() ([]uint16, []uint16) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.popped), slices.Clone(b.starts)
}

// TestGetInflightFD checks the area GET_INFLIGHT_FD creates: the 24-byte
// reply, one region per queue at libvhost-user's stride (2112 bytes for
// 128 descriptors), a zeroed memfd sealed against resizing.
func TestGetInflightFD(t *testing.T) {
	s := newSession(t, &popBackend{}, vhostusertest.Options{NumQueues: 2})
	if _, err := s.fe.Init(); err != nil {
		t.Fatal(err)
	}
	in, err := s.fe.GetInflight(128)
	if err != nil {
		t.Fatal(err)
	}
	if in.Size != 2*2112 || in.Offset != 0 {
		t.Errorf("area of %d bytes at %d, want 4224 at 0", in.Size, in.Offset)
	}
	seals, err := unix.FcntlInt(uintptr(in.FD), unix.F_GET_SEALS, 0)
	if err != nil || seals&(unix.F_SEAL_SHRINK|unix.F_SEAL_GROW) != unix.F_SEAL_SHRINK|unix.F_SEAL_GROW {
		t.Errorf("seals %#x, %v: want the memfd sealed against resizing", seals, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(in.FD, &st); err != nil || uint64(st.Size) != in.Size {
		t.Errorf("memfd of %d bytes, %v; want %d", st.Size, err, in.Size)
	}
	for i, c := range in.Mem {
		if c != 0 {
			t.Fatalf("byte %d of the fresh area is %#x", i, c)
		}
	}
	s.alive()
}

// inflightSession runs the handshake of one queue with a popBackend and
// gets an inflight area for queues of 8, which Start hands back.
func inflightSession(t *testing.T) (*popBackend, *session, *vhostusertest.Inflight) {
	t.Helper()
	b := &popBackend{}
	s := newSession(t, b, vhostusertest.Options{NumQueues: 1, InflightQueueSize: 8})
	if _, err := s.fe.Init(); err != nil {
		t.Fatal(err)
	}
	in, err := s.fe.GetInflight(8)
	if err != nil {
		t.Fatal(err)
	}
	return b, s, in
}

// TestInflightResubmit hands the back end an area left by a back end that
// died with requests in flight: they are popped again first, in counter
// order, then the rest of the ring; the ring resumes past them whatever
// SET_VRING_BASE said, and their marks are cleared once completed.
func TestInflightResubmit(t *testing.T) {
	b, s, in := inflightSession(t)
	r := rings(t, s.fe, 1)[0]
	for range 4 {
		if _, err := r.Post(vhostusertest.Buf{GPA: 0x8000, Len: 16}); err != nil {
			t.Fatal(err)
		}
	}
	// Heads 0, 1 and 2 were popped, in the order 2, 1, 0; 3 was not.
	region := in.Mem
	ne.PutUint16(region[regionVersion:], 1)
	ne.PutUint16(region[regionDescNum:], 8)
	for h, c := range map[int]uint64{0: 9, 1: 7, 2: 5} {
		region[regionEntries+entrySize*h] = 1
		ne.PutUint64(region[regionEntries+entrySize*h+entryCounter:], c)
	}
	if err := s.fe.Start(fakeFeatures, r); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		if _, err := r.Wait(waitFor); err != nil {
			t.Fatal(err)
		}
	}
	popped, starts := b.record()
	if want := []uint16{2, 1, 0, 3}; !slices.Equal(popped, want) {
		t.Errorf("popped %v, want %v", popped, want)
	}
	if !slices.Equal(starts, []uint16{3}) {
		t.Errorf("started at next avail %v, want 3 (used.idx 0 + 3 in flight)", starts)
	}
	for h := range 8 {
		if region[regionEntries+entrySize*h] != 0 {
			t.Errorf("head %d still marked", h)
		}
	}
	if got := ne.Uint16(region[regionUsedIdx:]); got != 4 {
		t.Errorf("region used_idx %d, want 4", got)
	}
	bases, err := s.fe.Stop(r)
	if err != nil || bases[0] != 4 {
		t.Errorf("GET_VRING_BASE %v, %v; want 4", bases, err)
	}
}

// TestInflightHostileArea hands the back end areas a front end tampered
// with. Bad geometry and bad descriptors are refused at SET_INFLIGHT_FD;
// bad contents fail the ring's start; nothing crashes.
func TestInflightHostileArea(t *testing.T) {
	memfd := func(t *testing.T, size int64, seal bool) int {
		fd, err := unix.MemfdCreate("hostile", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = unix.Close(fd) })
		if err := unix.Ftruncate(fd, size); err != nil {
			t.Fatal(err)
		}
		if seal {
			if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW); err != nil {
				t.Fatal(err)
			}
		}
		return fd
	}
	const good = 192 // two queues of 8 at a stride of 192
	refused := []struct {
		name          string
		size, offset  uint64
		queues, qsize uint16
		fileSize      int64
		seal, eventfd bool
	}{
		{"no queues", 2 * good, 0, 0, 8, 4096, true, false},
		{"more queues than the device", 3 * good, 0, 3, 8, 4096, true, false},
		{"queue size 0", 2 * good, 0, 2, 0, 4096, true, false},
		{"queue size above 32768", 2 * good, 0, 2, 40000, 4096, true, false},
		{"size not a whole number of queues", 2*good + 1, 0, 2, 8, 4096, true, false},
		{"stride below one region", 2 * 136, 0, 2, 8, 4096, true, false},
		{"stride a page beyond one region", 2 * 8192, 0, 2, 8, 1 << 16, true, false},
		{"misaligned stride", 2 * 148, 0, 2, 8, 4096, true, false},
		{"misaligned offset", 2 * good, 4, 2, 8, 4096, true, false},
		{"file smaller than the area", 2 * good, 0, 2, 8, good, true, false},
		{"offset beyond the file", 2 * good, 1 << 20, 2, 8, 4096, true, false},
		{"memfd not sealed", 2 * good, 0, 2, 8, 4096, false, false},
		{"an eventfd", 2 * good, 0, 2, 8, 0, false, true},
	}
	for _, c := range refused {
		t.Run(c.name, func(t *testing.T) {
			s := newSession(t, &popBackend{}, vhostusertest.Options{NumQueues: 2})
			if _, err := s.fe.Init(); err != nil {
				t.Fatal(err)
			}
			var fd int
			if c.eventfd {
				var err error
				if fd, err = unix.Eventfd(0, unix.EFD_CLOEXEC); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = unix.Close(fd) })
			} else {
				fd = memfd(t, c.fileSize, c.seal)
			}
			err := s.fe.Set(vhostuser.SetInflightFD, true, vhostusertest.InflightMsg(c.size, c.offset, c.queues, c.qsize), fd)
			if !errors.Is(err, vhostusertest.ErrNack) {
				t.Fatalf("SET_INFLIGHT_FD: %v, want a failure", err)
			}
			s.alive()
		})
	}

	contents := []struct {
		name   string
		tamper func(region []byte)
	}{
		{"version 9", func(r []byte) { ne.PutUint16(r[regionVersion:], 9) }},
		{"desc_num 300", func(r []byte) { ne.PutUint16(r[regionVersion:], 1); ne.PutUint16(r[regionDescNum:], 300) }},
		{"batch beyond the ring", func(r []byte) {
			ne.PutUint16(r[regionVersion:], 1)
			ne.PutUint16(r[regionDescNum:], 8)
			ne.PutUint16(r[regionUsedIdx:], 100)
		}},
		{"inflight flag 0x80", func(r []byte) {
			ne.PutUint16(r[regionVersion:], 1)
			ne.PutUint16(r[regionDescNum:], 8)
			r[regionEntries+5*entrySize] = 0x80
		}},
	}
	for _, c := range contents {
		t.Run(c.name, func(t *testing.T) {
			b, s, in := inflightSession(t)
			c.tamper(in.Mem)
			// The ring would start at SET_VRING_ENABLE, which asks for an
			// acknowledgement: the failure is reported there.
			if err := s.fe.Start(fakeFeatures, rings(t, s.fe, 1)...); !errors.Is(err, vhostusertest.ErrNack) {
				t.Fatalf("Start: %v, want the ring's start refused", err)
			}
			s.alive()
			if _, starts := b.record(); len(starts) != 0 {
				t.Errorf("ring served from a bad area")
			}
		})
	}
}

// TestInflightNotNegotiated checks that GET_INFLIGHT_FD without the
// protocol feature (or with DisableInflight, which withholds it) ends the
// session instead of creating an area.
func TestInflightNotNegotiated(t *testing.T) {
	a, c := vhostuser.SocketPair(t)
	srv := vhostuser.NewServer(&popBackend{}, vhostuser.ServerOptions{Name: t.Name(), DisableInflight: true})
	done := make(chan error, 1)
	go func() { done <- srv.ServeConn(t.Context(), c) }()
	fe, err := vhostusertest.New(a, vhostusertest.Options{InflightQueueSize: 128})
	if err != nil {
		t.Fatal(err)
	}
	defer fe.Close()
	in, err := fe.Init()
	if err != nil {
		t.Fatal(err)
	}
	if in.ProtocolFeatures&vhostuser.ProtocolFeatureInflightShmfd != 0 {
		t.Errorf("INFLIGHT_SHMFD offered with DisableInflight")
	}
	// QEMU would not ask; a front end that does is cut off.
	if _, err := fe.GetInflight(128); err == nil {
		t.Errorf("GET_INFLIGHT_FD answered without the feature")
	}
	if err := <-done; err == nil {
		t.Errorf("session ended without an error")
	}
}

// TestInflightFreshArea restarts the device the way QEMU does after a
// guest reset: it stops the rings (GET_VRING_BASE drains them, so no mark
// is left) and gets a new area, zeroed, for the next start, which resumes
// at the base QEMU sends and initializes the new area.
func TestInflightFreshArea(t *testing.T) {
	b, s, in := inflightSession(t)
	r := rings(t, s.fe, 1)[0]
	if err := s.fe.Start(fakeFeatures, r); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := r.Post(vhostusertest.Buf{GPA: 0x8000, Len: 16}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.fe.Kick(0); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := r.Wait(waitFor); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.fe.Stop(r); err != nil {
		t.Fatal(err)
	}
	old := in.Mem
	if got := ne.Uint16(old[regionUsedIdx:]); got != 2 || old[regionEntries] != 0 || old[regionEntries+entrySize] != 0 {
		t.Errorf("old area after the drain: used_idx %d, flags %d %d; want 2, 0 0", got, old[regionEntries], old[regionEntries+entrySize])
	}
	fresh, err := s.fe.GetInflight(8)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.fe.Start(fakeFeatures, r); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Post(vhostusertest.Buf{GPA: 0x8000, Len: 16}); err != nil {
		t.Fatal(err)
	}
	if err := s.fe.Kick(0); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Wait(waitFor); err != nil {
		t.Fatal(err)
	}
	if _, starts := b.record(); !slices.Equal(starts, []uint16{0, 2}) {
		t.Errorf("started at %v, want [0 2]", starts)
	}
	if v, u := ne.Uint16(fresh.Mem[regionVersion:]), ne.Uint16(fresh.Mem[regionUsedIdx:]); v != 1 || u != 3 {
		t.Errorf("fresh area: version %d used_idx %d, want 1, 3", v, u)
	}
}
