package vhostuser_test

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/ccmblk/ccmblk/vhostuser"
	"github.com/ccmblk/ccmblk/vhostuser/vhostusertest"
	"github.com/ccmblk/ccmblk/virtio"
	"github.com/ccmblk/ccmblk/virtio/virtiotest"
)

// notify runs NotifyConfigChange on its own goroutine, as the daemon's
// control socket does.
func notify(srv *vhostuser.Server) chan noticeResult {
	ch := make(chan noticeResult, 1)
	go func() {
		n, err := srv.NotifyConfigChange()
		ch <- noticeResult{n, err}
	}()
	return ch
}

type noticeResult struct {
	n   vhostuser.ConfigNotice
	err error
}

func result(t *testing.T, ch chan noticeResult) noticeResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(waitFor):
		t.Fatal("NotifyConfigChange did not return")
		return noticeResult{}
	}
}

// expectConfigChange reads one BACKEND_CONFIG_CHANGE_MSG and checks its
// header: NEED_REPLY exactly when REPLY_ACK was negotiated, no payload.
func expectConfigChange(t *testing.T, fe *vhostusertest.Frontend, ack bool) vhostusertest.BackendMsg {
	t.Helper()
	m, err := fe.ReadBackend(waitFor)
	if err != nil {
		t.Fatal(err)
	}
	wantFlags := uint32(1)
	if ack {
		wantFlags |= vhostuser.FlagNeedReply
	}
	if m.Req != vhostuser.BackendConfigChangeMsg || m.Flags != wantFlags || len(m.Payload) != 0 {
		t.Fatalf("back-end request %d flags %#x payload %d bytes; want %d, %#x, none", m.Req, m.Flags, len(m.Payload), vhostuser.BackendConfigChangeMsg, wantFlags)
	}
	return m
}

// TestConfigChangeResize grows a served disk the way QEMU 7.2 sees it:
// the back end sends BACKEND_CONFIG_CHANGE_MSG with NEED_REPLY; before
// acknowledging, the front end reads the configuration with GET_CONFIG on
// the main socket (the session must answer while the notice is
// outstanding) and finds the new capacity; NotifyConfigChange returns once
// the acknowledgement arrives.
func TestConfigChangeResize(t *testing.T) {
	dev, err := virtio.NewBlockDevice(virtiotest.NewMemDisk(512, 128), virtio.BlockOptions{NumQueues: 1, QueueSize: 64})
	must(t, err)
	s, _, in, _ := startBlk(t, dev, 1, blkLayouts[0])
	if in.ProtocolFeatures&vhostuser.ProtocolFeatureBackendReq == 0 {
		t.Fatalf("protocol features %#x lack BACKEND_REQ", in.ProtocolFeatures)
	}
	must(t, dev.Grow(256*512))
	ch := notify(s.srv)
	m := expectConfigChange(t, s.fe, true)
	cfg, err := s.fe.GetConfig(0, 57)
	must(t, err)
	if got := binary.LittleEndian.Uint64(cfg); got != 256 {
		t.Fatalf("capacity after the notice %d, want 256", got)
	}
	select {
	case r := <-ch:
		t.Fatalf("NotifyConfigChange returned %v, %v before the acknowledgement", r.n, r.err)
	default:
	}
	must(t, s.fe.AckBackend(m, 0))
	if r := result(t, ch); r.n != vhostuser.NoticeSent || r.err != nil {
		t.Fatalf("NotifyConfigChange: %v, %v; want sent", r.n, r.err)
	}
	s.alive()
}

// TestConfigChangeQueued: a change made while the device is stopped is
// queued, and every later device start sends the notice, acknowledged or
// not.
func TestConfigChangeQueued(t *testing.T) {
	b := newFakeBackend(1)
	s := newSession(t, b, vhostusertest.Options{})
	if r := result(t, notify(s.srv)); r.n != vhostuser.NoticeQueued || r.err != nil {
		t.Fatalf("before the handshake: %v, %v; want queued", r.n, r.err)
	}
	in, err := s.fe.Init()
	must(t, err)
	if r := result(t, notify(s.srv)); r.n != vhostuser.NoticeQueued || r.err != nil {
		t.Fatalf("device stopped: %v, %v; want queued", r.n, r.err)
	}
	rs := rings(t, s.fe, 1)
	for start := range 2 {
		must(t, s.fe.Start(in.Features&^vhostuser.FeatureProtocolFeatures, rs...))
		m := expectConfigChange(t, s.fe, true)
		must(t, s.fe.AckBackend(m, 0))
		_, err := s.fe.Stop(rs...)
		must(t, err)
		if _, err := s.fe.ReadBackend(50 * time.Millisecond); err == nil {
			t.Fatalf("start %d: a second notice", start)
		}
	}
}

// TestConfigChangeNoAck: a front end that never acknowledges makes
// NotifyConfigChange fail after the bounded wait, while the session goes
// on answering; a nonzero acknowledgement is an error too, and leaves the
// channel usable. Without REPLY_ACK the notice asks for no reply.
func TestConfigChangeNoAck(t *testing.T) {
	vhostuser.SetBackendReplyTimeout(t, 200*time.Millisecond)
	b := newFakeBackend(1)
	s := newSession(t, b, vhostusertest.Options{})
	in, err := s.fe.Init()
	must(t, err)
	rs := rings(t, s.fe, 1)
	must(t, s.fe.Start(in.Features&^vhostuser.FeatureProtocolFeatures, rs...))

	// A nonzero answer.
	ch := notify(s.srv)
	must(t, s.fe.AckBackend(expectConfigChange(t, s.fe, true), 1))
	if r := result(t, ch); r.err == nil || r.n != vhostuser.NoticeQueued {
		t.Fatalf("refused notice: %v, %v; want an error", r.n, r.err)
	}
	// No answer at all.
	ch = notify(s.srv)
	expectConfigChange(t, s.fe, true)
	s.alive()
	if r := result(t, ch); r.err == nil {
		t.Fatal("unacknowledged notice succeeded")
	}
	s.alive()
	// The channel lost its framing: nothing more is sent on it.
	if r := result(t, notify(s.srv)); r.err == nil {
		t.Fatalf("notice on a broken channel: %v, %v; want an error", r.n, r.err)
	}

	noAck := newSession(t, newFakeBackend(1), vhostusertest.Options{
		ProtocolFeatures: vhostuser.OfferedProtocolFeatures &^ vhostuser.ProtocolFeatureReplyAck,
	})
	in, err = noAck.fe.Init()
	must(t, err)
	rs = rings(t, noAck.fe, 1)
	must(t, noAck.fe.Start(in.Features&^vhostuser.FeatureProtocolFeatures, rs...))
	// The server's change flag is its own: this device start sends none.
	if r := result(t, notify(noAck.srv)); r.n != vhostuser.NoticeSent || r.err != nil {
		t.Fatalf("without REPLY_ACK: %v, %v; want sent", r.n, r.err)
	}
	expectConfigChange(t, noAck.fe, false)
}
