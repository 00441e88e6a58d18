package vhostuser_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/ccmblk/ccmblk/vhostuser"
	"github.com/ccmblk/ccmblk/vhostuser/vhostusertest"
	"github.com/ccmblk/ccmblk/virtio"
)

func TestHandshake(t *testing.T) {
	b := newFakeBackend(2)
	s := newSession(t, b, vhostusertest.Options{NumQueues: 2})
	in, err := s.fe.Init()
	if err != nil {
		t.Fatal(err)
	}
	if want := uint64(fakeFeatures | vhostuser.FeatureProtocolFeatures | vhostuser.FeatureLogAll); in.Features != want {
		t.Errorf("features %#x, want %#x", in.Features, want)
	}
	if in.ProtocolFeatures != vhostuser.OfferedProtocolFeatures || in.QueueNum != 2 || in.MaxMemSlots != vhostuser.MaxMemSlots {
		t.Errorf("got %+v, want protocol %#x, 2 queues, %d slots", in, vhostuser.OfferedProtocolFeatures, vhostuser.MaxMemSlots)
	}
	if !bytes.Equal(in.Config, b.config[:57]) {
		t.Errorf("config %x, want %x", in.Config, b.config[:57])
	}
	if got, err := s.fe.GetConfig(4, 3); err != nil || !bytes.Equal(got, b.config[4:7]) {
		t.Errorf("GetConfig(4, 3) = %x, %v; want %x", got, err, b.config[4:7])
	}
	if err := s.fe.SetConfig(8, []byte{1}); err != nil {
		t.Errorf("SetConfig(wce): %v", err)
	}
	rs := rings(t, s.fe, 2)
	if err := s.fe.Start(fakeFeatures, rs...); err != nil {
		t.Fatal(err)
	}
	for i := range rs {
		b.waitRunning(t, i, true, 1)
		if err := s.fe.Kick(i); err != nil {
			t.Fatal(err)
		}
		if err := s.fe.WaitCall(i, waitFor); err != nil {
			t.Fatal(err)
		}
	}
	bases, err := s.fe.Stop(rs...)
	if err != nil {
		t.Fatal(err)
	}
	for i := range rs {
		if _, running := b.state(i); running || bases[i] != 0 {
			t.Errorf("queue %d after stop: running %t base %d, want stopped at 0", i, running, bases[i])
		}
	}
	// Restart after stop, as QEMU does when the guest resets the device.
	if err := s.fe.Start(fakeFeatures, rs...); err != nil {
		t.Fatal(err)
	}
	b.waitRunning(t, 0, true, 2)
	_ = s.fe.Close()
	if err := s.wait(); err != nil {
		t.Errorf("ServeConn after disconnect = %v, want nil", err)
	}
	for i := range rs {
		b.waitRunning(t, i, false, 2)
	}
}

// TestRingStates checks when a ring runs: only once enabled with
// PROTOCOL_FEATURES, at once without; SET_VRING_ENABLE(0) stops it.
func TestRingStates(t *testing.T) {
	b := newFakeBackend(1)
	s := newSession(t, b, vhostusertest.Options{})
	if _, err := s.fe.Init(); err != nil {
		t.Fatal(err)
	}
	if err := s.fe.Set(vhostuser.SetFeatures, true, u64(fakeFeatures|vhostuser.FeatureProtocolFeatures)); err != nil {
		t.Fatal(err)
	}
	if err := s.fe.SetMemory(); err != nil {
		t.Fatal(err)
	}
	r := rings(t, s.fe, 1)[0]
	if err := s.fe.SetupRing(r); err != nil {
		t.Fatal(err)
	}
	s.alive()
	if n, running := b.state(0); n != 0 || running {
		t.Fatalf("ring started before SET_VRING_ENABLE: starts %d running %t", n, running)
	}
	if err := s.fe.EnableRing(0, true); err != nil {
		t.Fatal(err)
	}
	b.waitRunning(t, 0, true, 1)
	if err := s.fe.EnableRing(0, false); err != nil {
		t.Fatal(err)
	}
	b.waitRunning(t, 0, false, 1)
	if err := s.fe.EnableRing(0, true); err != nil {
		t.Fatal(err)
	}
	b.waitRunning(t, 0, true, 2)

	// Without PROTOCOL_FEATURES rings are enabled from the start.
	if err := s.fe.Set(vhostuser.SetFeatures, true, u64(fakeFeatures)); err != nil {
		t.Fatal(err)
	}
	if err := s.fe.EnableRing(0, false); err != nil {
		t.Fatal(err)
	}
	b.waitRunning(t, 0, true, 3)
}

// TestSetVringCallWhileRunning swaps the call eventfd under a running ring.
func TestSetVringCallWhileRunning(t *testing.T) {
	b := newFakeBackend(1)
	s := newSession(t, b, vhostusertest.Options{})
	startRings(t, s, b, 1)
	call := vhostuser.EventFDs(t, 1)[0]
	if err := s.fe.Set(vhostuser.SetVringCall, true, vhostusertest.VringFile(0, false), call); err != nil {
		t.Fatal(err)
	}
	// The new descriptor is signalled once on installation.
	if got := readEventFD(t, call); got != 1 {
		t.Errorf("new call eventfd counter %d after SET_VRING_CALL, want 1", got)
	}
	if err := s.fe.Kick(0); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(waitFor)
	for readEventFD(t, call) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("kick not answered on the new call eventfd")
		}
		time.Sleep(time.Millisecond)
	}
	if n, running := b.state(0); n != 1 || !running {
		t.Errorf("SET_VRING_CALL restarted the ring: starts %d running %t", n, running)
	}
}

// TestMemoryChangeRestartsRings adds and removes a region under a running
// ring: the ring is stopped and restarted around each change.
func TestMemoryChangeRestartsRings(t *testing.T) {
	b := newFakeBackend(1)
	s := newSession(t, b, vhostusertest.Options{Regions: []vhostusertest.Region{
		{GPA: 0, Size: 1 << 20, Offset: 0},
		{GPA: 1 << 32, Size: 1 << 20, Offset: 1 << 20},
	}})
	if _, err := s.fe.Init(); err != nil {
		t.Fatal(err)
	}
	if err := s.fe.Set(vhostuser.SetFeatures, true, u64(fakeFeatures|vhostuser.FeatureProtocolFeatures)); err != nil {
		t.Fatal(err)
	}
	regs := s.fe.Regions()
	if err := s.fe.Set(vhostuser.AddMemReg, true, vhostusertest.MemRegMsg(regs[0]), s.fe.MemFD()); err != nil {
		t.Fatal(err)
	}
	r := rings(t, s.fe, 1)[0]
	if err := s.fe.SetupRing(r); err != nil {
		t.Fatal(err)
	}
	if err := s.fe.EnableRing(0, true); err != nil {
		t.Fatal(err)
	}
	b.waitRunning(t, 0, true, 1)
	if err := s.fe.Set(vhostuser.AddMemReg, true, vhostusertest.MemRegMsg(regs[1]), s.fe.MemFD()); err != nil {
		t.Fatal(err)
	}
	b.waitRunning(t, 0, true, 2)
	if err := s.fe.Set(vhostuser.RemMemReg, true, vhostusertest.MemRegMsg(regs[1])); err != nil {
		t.Fatal(err)
	}
	b.waitRunning(t, 0, true, 3)
	// Removing the region that holds the ring stops it for good.
	if err := s.fe.Set(vhostuser.RemMemReg, true, vhostusertest.MemRegMsg(regs[0])); err != nil {
		t.Fatal(err)
	}
	b.waitRunning(t, 0, false, 3)
	// A whole table at once brings it back.
	if err := s.fe.Set(vhostuser.SetMemTable, true, vhostusertest.MemTable(regs), s.fe.MemFD(), s.fe.MemFD()); err != nil {
		t.Fatal(err)
	}
	b.waitRunning(t, 0, true, 4)
}

func TestResetDevice(t *testing.T) {
	b := newFakeBackend(1)
	s := newSession(t, b, vhostusertest.Options{})
	rs := startRings(t, s, b, 1)
	if err := s.fe.Set(vhostuser.ResetDevice, true, nil); err != nil {
		t.Fatal(err)
	}
	b.waitRunning(t, 0, false, 1)
	if err := s.fe.Start(fakeFeatures, rs...); err != nil {
		t.Fatal(err)
	}
	b.waitRunning(t, 0, true, 2)
}

// TestSessionReleasesEverything checks that a session's end closes every
// descriptor the server received and returns ServeConn's result.
func TestSessionReleasesEverything(t *testing.T) {
	for _, tc := range []struct {
		name string
		end  func(*session)
	}{
		{"disconnect", func(s *session) { _ = s.fe.Close() }},
		{"request 0", func(s *session) {
			if err := s.fe.Send(vhostuser.None, 0, nil); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := vhostuser.OpenFDs(t)
			b := newFakeBackend(2)
			s := newSession(t, b, vhostusertest.Options{NumQueues: 2})
			if _, err := s.fe.Init(); err != nil {
				t.Fatal(err)
			}
			rs := rings(t, s.fe, 2)
			if err := s.fe.Start(fakeFeatures, rs...); err != nil {
				t.Fatal(err)
			}
			b.waitRunning(t, 1, true, 1)
			tc.end(s)
			if err := s.wait(); err != nil {
				t.Errorf("ServeConn = %v, want nil", err)
			}
			_ = s.fe.Close()
			for i := range rs {
				b.waitRunning(t, i, false, 1)
			}
			if got := vhostuser.OpenFDs(t); got != before {
				t.Errorf("%d descriptors open after the session, want %d", got, before)
			}
		})
	}
}

// TestServeReconnect serves two front ends in turn on a listening socket,
// then cancels.
func TestServeReconnect(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vhost.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	b := newFakeBackend(1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- vhostuser.NewServer(b, vhostuser.ServerOptions{Name: "reconnect"}).Serve(ctx, l) }()
	for round := 1; round <= 2; round++ {
		fe, err := vhostusertest.Dial(path, vhostusertest.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fe.Init(); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		rs := rings(t, fe, 1)
		if err := fe.Start(fakeFeatures, rs...); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		b.waitRunning(t, 0, true, round)
		if round == 1 {
			_ = fe.Close()
			b.waitRunning(t, 0, false, 1)
			continue
		}
		// Cancel with a session in progress: its ring stops, Serve returns.
		cancel()
		select {
		case err := <-served:
			if err != nil {
				t.Errorf("Serve = %v, want nil", err)
			}
		case <-time.After(waitFor):
			t.Fatal("Serve did not return after cancel")
		}
		b.waitRunning(t, 0, false, 2)
		_ = fe.Close()
	}
}

// TestMemSlotsLimit adds regions until GET_MAX_MEM_SLOTS is reached: one
// more is refused and the table stays usable.
func TestMemSlotsLimit(t *testing.T) {
	s := newSession(t, newFakeBackend(1), vhostusertest.Options{})
	in, err := s.fe.Init()
	if err != nil {
		t.Fatal(err)
	}
	for i := range in.MaxMemSlots + 1 {
		r := vhostusertest.Region{GPA: virtio.GuestAddr(i) << 16, Size: 4096, Offset: i * 4096, QVA: 1<<40 + i<<16}
		err := s.fe.Set(vhostuser.AddMemReg, true, vhostusertest.MemRegMsg(r), s.fe.MemFD())
		switch {
		case i < in.MaxMemSlots && err != nil:
			t.Fatalf("region %d: %v", i, err)
		case i == in.MaxMemSlots && !errors.Is(err, vhostusertest.ErrNack):
			t.Fatalf("region %d beyond the %d slots: %v, want a failure ack", i, in.MaxMemSlots, err)
		}
	}
	r := vhostusertest.Region{GPA: 0, Size: 4096, QVA: 1 << 40}
	if err := s.fe.Set(vhostuser.RemMemReg, true, vhostusertest.MemRegMsg(r)); err != nil {
		t.Fatalf("remove region 0: %v", err)
	}
}
