package vhostuser_test

import (
	"context"
	"encoding/binary"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/ccmblk/ccmblk/vhostuser"
	"github.com/ccmblk/ccmblk/vhostuser/vhostusertest"
	"github.com/ccmblk/ccmblk/virtio"
	"golang.org/x/sys/unix"
)

const waitFor = 5 * time.Second

// session is a Server session on one end of a socket pair and a Frontend
// on the other.
type session struct {
	t    *testing.T
	srv  *vhostuser.Server
	fe   *vhostusertest.Frontend
	done chan error
	once sync.Once
	err  error
}

func newSession(t *testing.T, b vhostuser.Backend, o vhostusertest.Options) *session {
	t.Helper()
	a, c := vhostuser.SocketPair(t)
	srv := vhostuser.NewServer(b, vhostuser.ServerOptions{Name: t.Name()})
	s := &session{t: t, srv: srv, done: make(chan error, 1)}
	go func() { s.done <- srv.ServeConn(context.Background(), c) }()
	fe, err := vhostusertest.New(a, o)
	if err != nil {
		t.Fatal(err)
	}
	s.fe = fe
	t.Cleanup(func() {
		_ = fe.Close()
		_ = s.wait()
	})
	return s
}

// wait returns ServeConn's result, failing the test if it does not end.
func (s *session) wait() error {
	s.once.Do(func() {
		select {
		case s.err = <-s.done:
		case <-time.After(waitFor):
			s.t.Fatal("session did not end")
		}
	})
	return s.err
}

// alive checks that the session still answers.
func (s *session) alive() {
	s.t.Helper()
	if _, err := s.fe.GetU64(vhostuser.GetFeatures); err != nil {
		s.t.Fatalf("session no longer answers: %v", err)
	}
}

// fakeBackend is a Backend whose queues signal the call eventfd on every
// kick. It records how often each queue was started and which are running.
type fakeBackend struct {
	queues int
	config [60]byte

	mu      sync.Mutex
	starts  []int
	running []bool
	bases   []uint16
	wrote   []byte
}

const fakeFeatures = 1<<32 | virtio.FRingEventIdx

func newFakeBackend(queues int) *fakeBackend {
	b := &fakeBackend{queues: queues, starts: make([]int, queues), running: make([]bool, queues), bases: make([]uint16, queues)}
	for i := range b.config {
		b.config[i] = byte(i + 1)
	}
	return b
}

func (b *fakeBackend) Features() uint64     { return fakeFeatures }
func (b *fakeBackend) NumQueues() int       { return b.queues }
func (b *fakeBackend) MaxQueueSize() uint16 { return 256 }

func (b *fakeBackend) ReadConfig(offset uint32, buf []byte) error {
	if uint64(offset)+uint64(len(buf)) > uint64(len(b.config)) {
		return errors.New("fake: config read out of range")
	}
	copy(buf, b.config[offset:])
	return nil
}

func (b *fakeBackend) WriteConfig(offset uint32, data []byte) error {
	if offset != 8 || len(data) != 1 {
		return errors.New("fake: read-only config field")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.wrote = append(b.wrote, data[0])
	return nil
}

func (b *fakeBackend) ServeQueue(i int, q *virtio.Queue, kick virtio.Kick, call virtio.Notifier) error {
	b.mu.Lock()
	if b.running[i] {
		b.mu.Unlock()
		return errors.New("fake: queue served twice")
	}
	b.starts[i]++
	b.running[i] = true
	b.bases[i] = q.NextAvail()
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		b.running[i] = false
		b.mu.Unlock()
	}()
	for {
		if err := kick.Wait(); err != nil {
			return nil
		}
		if err := call.Notify(); err != nil {
			return err
		}
	}
}

// state returns queue i's start count and whether it is running.
func (b *fakeBackend) state(i int) (int, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.starts[i], b.running[i]
}

// waitRunning waits until queue i is running (or stopped) with starts
// starts.
func (b *fakeBackend) waitRunning(t *testing.T, i int, running bool, starts int) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		n, r := b.state(i)
		if r == running && n == starts {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue %d: starts %d running %t, want %d, %t", i, n, r, starts, running)
		}
		time.Sleep(time.Millisecond)
	}
}

// startRings runs the handshake on s, lays out n rings and starts them,
// waiting until the backend serves each.
func startRings(t *testing.T, s *session, b *fakeBackend, n int) []*vhostusertest.Ring {
	t.Helper()
	if _, err := s.fe.Init(); err != nil {
		t.Fatal(err)
	}
	rs := rings(t, s.fe, n)
	if err := s.fe.Start(fakeFeatures, rs...); err != nil {
		t.Fatal(err)
	}
	for i := range rs {
		b.waitRunning(t, i, true, 1)
	}
	return rs
}

// rings lays out one ring of size 8 per queue in the first region.
func rings(t *testing.T, fe *vhostusertest.Frontend, n int) []*vhostusertest.Ring {
	t.Helper()
	var rs []*vhostusertest.Ring
	at := virtio.GuestAddr(0x1000)
	for i := range n {
		r, err := fe.NewRing(i, 8, at)
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
		at = (r.End() + 0xfff) &^ 0xfff
	}
	return rs
}

func u64(v uint64) []byte {
	b := make([]byte, 8)
	ne.PutUint64(b, v)
	return b
}

var ne = binary.NativeEndian

// readEventFD reads and resets an eventfd counter; 0 if it is not set.
func readEventFD(t *testing.T, fd int) uint64 {
	t.Helper()
	var b [8]byte
	if _, err := unix.Read(fd, b[:]); err != nil {
		if errors.Is(err, unix.EAGAIN) {
			return 0
		}
		t.Fatal(err)
	}
	return ne.Uint64(b[:])
}
