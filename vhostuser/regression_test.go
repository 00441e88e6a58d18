package vhostuser_test

import (
	"errors"
	"testing"
	"time"

	"github.com/golang/glog"
	"golang.org/x/sys/unix"

	"github.com/ccmblk/ccmblk/vhostuser"
	"github.com/ccmblk/ccmblk/vhostuser/vhostusertest"
)

// eventFDMax is the largest value an eventfd counter holds; a write that
// would push it past this blocks (or fails with EAGAIN when non-blocking).
const eventFDMax = 0xfffffffffffffffe

// TestRegression_SaturatedCallEventFD: a front end handed over a blocking
// call eventfd whose counter it had already raised to the maximum. The
// device's write of 1 then blocked forever: on SET_VRING_CALL for a running
// ring the control goroutine itself hung, and so did every later message,
// GET_VRING_BASE and the session teardown. Found in review of eventfd.go.
func TestRegression_SaturatedCallEventFD(t *testing.T) {
	b := newFakeBackend(1)
	s := newSession(t, b, vhostusertest.Options{})
	rs := startRings(t, s, b, 1)

	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC) // blocking on purpose
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(efd)
	var v [8]byte
	ne.PutUint64(v[:], eventFDMax)
	if _, err := unix.Write(efd, v[:]); err != nil {
		t.Fatal(err)
	}
	// If the device blocks on efd, drain it at the end so that the session
	// can be torn down and the test reports instead of hanging.
	defer func() { _, _ = unix.Read(efd, v[:]) }()

	done := make(chan error, 1)
	go func() {
		if err := s.fe.Set(vhostuser.SetVringCall, true, vhostusertest.VringFile(0, false), efd); err != nil {
			done <- err
			return
		}
		if err := s.fe.Kick(0); err != nil {
			done <- err
			return
		}
		_, err := s.fe.Stop(rs...)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("SET_VRING_CALL, kick, stop: %v", err)
		}
	case <-time.After(waitFor):
		t.Fatal("session hung on a saturated blocking call eventfd")
	}
	if _, running := b.state(0); running {
		t.Error("ring still running after GET_VRING_BASE")
	}
}

// TestRegression_RequestFloodLogs: every unsupported request, and every
// failed request answered through REPLY_ACK, wrote a warning or error line,
// and the session goes on after both; so a front end could write log lines
// as fast as it sends messages, until the disk or journal filled up. Found
// in review of handlers.go.
func TestRegression_RequestFloodLogs(t *testing.T) {
	const n = 200
	s := newSession(t, newFakeBackend(1), vhostusertest.Options{})
	if _, err := s.fe.Init(); err != nil {
		t.Fatal(err)
	}
	lines := func() int64 { return glog.Stats.Warning.Lines() + glog.Stats.Error.Lines() }
	before := lines()
	for range n {
		// An unknown request code, answered with a failure.
		if err := s.fe.Set(vhostuser.Request(99), true, nil); !errors.Is(err, vhostusertest.ErrNack) {
			t.Fatalf("unknown request: got %v, want %v", err, vhostusertest.ErrNack)
		}
		// A ring size that is not a power of two.
		if err := s.fe.Set(vhostuser.SetVringNum, true, vhostusertest.VringState(0, 3)); !errors.Is(err, vhostusertest.ErrNack) {
			t.Fatalf("SET_VRING_NUM 3: got %v, want %v", err, vhostusertest.ErrNack)
		}
	}
	s.alive()
	if got := lines() - before; got > n/4 {
		t.Errorf("%d bad requests wrote %d warning and error lines", 2*n, got)
	}
}
