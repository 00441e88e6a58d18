package vhostuser_test

import (
	"encoding/binary"
	"errors"
	"slices"
	"testing"

	"github.com/ccmblk/ccmblk/vhostuser"
	"github.com/ccmblk/ccmblk/vhostuser/vhostusertest"
	"github.com/ccmblk/ccmblk/virtio"
)

// Guest layout of the dirty log tests (default 4 MiB RAM, ring at 0x1000):
// a request's header, data and status on pages of their own.
const (
	logHdr    = virtio.GuestAddr(0x10000)
	logData   = virtio.GuestAddr(0x20800) // 8 KiB from here touch 3 pages
	logStatus = virtio.GuestAddr(0x30fff) // last byte of its page
)

func page(a virtio.GuestAddr) uint64 { return uint64(a) / virtio.LogPageSize }

// logReq posts a request with its buffers at the fixed layout and waits
// for its completion; n is the device-writable data length.
func logReq(t *testing.T, fe *vhostusertest.Frontend, r *vhostusertest.Ring, typ uint32, n uint32) {
	t.Helper()
	h := make([]byte, 16)
	binary.LittleEndian.PutUint32(h, typ)
	binary.LittleEndian.PutUint64(h[8:], 4)
	must(t, fe.Write(logHdr, h))
	bufs := []vhostusertest.Buf{{GPA: logHdr, Len: 16}}
	if n > 0 {
		bufs = append(bufs, vhostusertest.Buf{GPA: logData, Len: n, Write: true})
	}
	bufs = append(bufs, vhostusertest.Buf{GPA: logStatus, Len: 1, Write: true})
	_, err := r.Post(bufs...)
	must(t, err)
	must(t, fe.Kick(r.Index))
	if _, err := r.Wait(waitFor); err != nil {
		t.Fatal(err)
	}
}

// startLogged starts one ring of a block device and returns the session,
// the ring, the offered features and a log covering guest RAM.
func startLogged(t *testing.T) (*session, *vhostusertest.Ring, uint64, *vhostusertest.Log) {
	t.Helper()
	dev, err := virtio.NewBlockDevice(newMemDisk(128, false), virtio.BlockOptions{NumQueues: 1, QueueSize: 64, Serial: "dirty-log"})
	must(t, err)
	s, _, in, rs := startBlk(t, dev, 1, blkLayouts[0])
	features := in.Features &^ vhostuser.FeatureProtocolFeatures &^ vhostuser.FeatureLogAll
	if in.Features&vhostuser.FeatureLogAll == 0 || in.ProtocolFeatures&vhostuser.ProtocolFeatureLogShmfd == 0 {
		t.Fatalf("features %#x, protocol %#x: LOG_ALL or LOG_SHMFD not offered", in.Features, in.ProtocolFeatures)
	}
	l := newLog(t, virtio.LogBytesFor(4<<20))
	return s, rs[0], features, l
}

func newLog(t *testing.T, size uint64) *vhostusertest.Log {
	t.Helper()
	l, err := vhostusertest.NewLog(size)
	must(t, err)
	t.Cleanup(l.Close)
	return l
}

// TestDirtyLogMarks checks exactly which pages a request marks: the pages
// of the device-writable buffers (data, status, GET_ID answer) and of the
// used ring, in the bit layout QEMU reads; not the header's page, and
// nothing before LOG_ALL or after it is cleared (migrate_cancel).
func TestDirtyLogMarks(t *testing.T) {
	s, r, features, l := startLogged(t)
	ring := page(r.Used)

	// A log base without LOG_ALL: nothing is logged.
	must(t, s.fe.SetLogBase(l))
	logReq(t, s.fe, r, virtio.BlkTIn, 8192)
	if got := l.Sync(); len(got) != 0 {
		t.Errorf("pages %v marked before LOG_ALL", got)
	}

	must(t, s.fe.StartLogging(l, features, r))
	logReq(t, s.fe, r, virtio.BlkTIn, 8192)
	want := []uint64{ring, page(logData), page(logData) + 1, page(logData) + 2, page(logStatus)}
	for _, p := range want {
		if !l.Dirty(virtio.GuestAddr(p * virtio.LogPageSize)) {
			t.Errorf("page %#x not dirty", p)
		}
	}
	if got := l.Sync(); !slices.Equal(got, want) {
		t.Errorf("IN marked pages %#x, want %#x", got, want)
	}
	logReq(t, s.fe, r, virtio.BlkTGetID, virtio.BlkIDBytes)
	want = []uint64{ring, page(logData), page(logStatus)}
	if got := l.Sync(); !slices.Equal(got, want) {
		t.Errorf("GET_ID marked pages %#x, want %#x", got, want)
	}

	// migrate_cancel: logging stops with the rings running.
	must(t, s.fe.StopLogging(features, r))
	s.alive() // QEMU asks for no acknowledgement here: wait for it otherwise
	// The queue goroutine stores avail_event after it has published the
	// GET_ID completion, so that store may still have been logged.
	l.Sync()
	logReq(t, s.fe, r, virtio.BlkTIn, 512)
	if got := l.Sync(); len(got) != 0 {
		t.Errorf("pages %#x marked after LOG_ALL was cleared", got)
	}
	s.alive()
}

// TestDirtyLogUsedRingFlag checks that without the ring's log flag only
// the request's buffers are logged, and that the used ring is logged at
// the address the front end gives, not where the back end maps it.
func TestDirtyLogUsedRingFlag(t *testing.T) {
	s, r, features, l := startLogged(t)
	must(t, s.fe.StartLogging(l, features))
	logReq(t, s.fe, r, virtio.BlkTIn, 512)
	if got, want := l.Sync(), []uint64{page(logData), page(logStatus)}; !slices.Equal(got, want) {
		t.Errorf("marked pages %#x, want %#x", got, want)
	}
	elsewhere := virtio.GuestAddr(0x200000)
	must(t, s.fe.SetRingAddr(r, 1, elsewhere, true))
	logReq(t, s.fe, r, virtio.BlkTIn, 512)
	if got, want := l.Sync(), []uint64{page(logData), page(logStatus), page(elsewhere)}; !slices.Equal(got, want) {
		t.Errorf("marked pages %#x, want %#x", got, want)
	}
}

// TestDirtyLogSwap checks that after the reply to a second SET_LOG_BASE
// every write goes to the new log and none to the old one.
func TestDirtyLogSwap(t *testing.T) {
	s, r, features, l := startLogged(t)
	must(t, s.fe.StartLogging(l, features, r))
	l2 := newLog(t, virtio.LogBytesFor(8<<20))
	for range 3 {
		logReq(t, s.fe, r, virtio.BlkTIn, 512)
		must(t, s.fe.SetLogBase(l2))
		l.Sync()
		logReq(t, s.fe, r, virtio.BlkTIn, 512)
		if got := l.Sync(); len(got) != 0 {
			t.Errorf("old log marked %#x after the swap", got)
		}
		if got := l2.Sync(); len(got) != 3 {
			t.Errorf("new log marked %#x, want 3 pages", got)
		}
		l, l2 = l2, l
	}
}

// TestDirtyLogCannotHonour checks that a log that does not cover guest
// memory, or a logged used ring outside the log, ends the session rather
// than being refused with a failure ack (which makes QEMU abort the VM).
func TestDirtyLogCannotHonour(t *testing.T) {
	t.Run("log smaller than memory", func(t *testing.T) {
		s, r, features, _ := startLogged(t)
		small := newLog(t, virtio.LogBytesFor(1<<20))
		err := s.fe.StartLogging(small, features, r)
		if err == nil || errors.Is(err, vhostusertest.ErrNack) {
			t.Fatalf("StartLogging = %v, want the session to end", err)
		}
		if err := s.wait(); !errors.Is(err, vhostuser.ErrLogSetup) {
			t.Errorf("ServeConn = %v, want ErrLogSetup", err)
		}
	})
	t.Run("used ring outside log", func(t *testing.T) {
		s, r, features, l := startLogged(t)
		must(t, s.fe.StartLogging(l, features, r))
		err := s.fe.SetRingAddr(r, 1, 8<<20, true)
		if err == nil || errors.Is(err, vhostusertest.ErrNack) {
			t.Fatalf("SET_VRING_ADDR = %v, want the session to end", err)
		}
		if err := s.wait(); !errors.Is(err, vhostuser.ErrLogSetup) {
			t.Errorf("ServeConn = %v, want ErrLogSetup", err)
		}
	})
}
