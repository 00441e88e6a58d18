package vhostuser

import (
	"fmt"
	"net"
	"sync"
	"sync/atomic"

	"github.com/ccmblk/ccmblk/virtio"
)

// session is the state of one front-end connection. Only the control
// goroutine (ServeConn) touches it; ring goroutines see only their
// ringRun, the Backend and the vring's event slots.
type session struct {
	b    Backend
	name string
	c    *conn
	// own is c's descriptor, for the check of SET_BACKEND_REQ_FD.
	own int
	lim *memLimits

	// features are the virtio features of the last SET_FEATURES.
	features uint64
	// protocol are the protocol features of the last SET_PROTOCOL_FEATURES.
	protocol uint64
	// mem is the current memory table; nil before the first one.
	mem *guestMemory
	// vrings has Backend.NumQueues entries.
	vrings []*vring
	// backendMu guards backend, which the Server reads from other
	// goroutines to send configuration change notices.
	backendMu sync.Mutex
	// backend is the SET_BACKEND_REQ_FD channel, or nil.
	// +checklocks:backendMu
	backend *backendChannel
	// started says whether the device is started: at least one ring runs.
	// The control goroutine sets it; the Server reads it.
	started atomic.Bool
	// changed says whether the configuration changed since the daemon
	// started (a resize); then every device start sends a configuration
	// change notice. Shared by the Server's sessions.
	changed *atomic.Bool
	// noInflight withholds INFLIGHT_SHMFD (ServerOptions.DisableInflight).
	noInflight bool
	// inflight is the area of the last GET_ or SET_INFLIGHT_FD, or nil.
	inflight *inflightArea
	// replyFDs go with the reply of the request being handled; the
	// handler that sets them keeps owning them.
	replyFDs []int
	// dlog is the dirty log the rings write through; logArea is the
	// SET_LOG_BASE mapping, or nil. dlog holds logArea's bitmap while
	// logging (see session.logging).
	dlog    *virtio.DirtyLog
	logArea *logArea
	// log limits the lines the front end can trigger; shared by the
	// Server's sessions, so reconnecting does not reset it.
	log *virtio.LogLimiter
}

func newSession(b Backend, name string, uc *net.UnixConn, lim *memLimits, log *virtio.LogLimiter) (*session, error) {
	own, err := connFD(uc)
	if err != nil {
		return nil, err
	}
	s := &session{b: b, name: name, c: newConn(uc), own: own, lim: lim, log: log, changed: new(atomic.Bool), dlog: new(virtio.DirtyLog)}
	n := max(b.NumQueues(), 0)
	s.vrings = make([]*vring, n)
	for i := range s.vrings {
		s.vrings[i] = newVring(i)
	}
	return s, nil
}

// connFD returns the descriptor of uc, which stays valid while uc is open.
func connFD(uc *net.UnixConn) (int, error) {
	rc, err := uc.SyscallConn()
	if err != nil {
		return -1, fmt.Errorf("vhostuser: connection descriptor: %w", err)
	}
	fd := -1
	if err := rc.Control(func(d uintptr) { fd = int(d) }); err != nil {
		return -1, fmt.Errorf("vhostuser: connection descriptor: %w", err)
	}
	return fd, nil
}

// hasReplyAck reports whether REPLY_ACK was negotiated.
func (s *session) hasReplyAck() bool { return s.protocol&ProtocolFeatureReplyAck != 0 }

// resetRings stops every ring and returns it to its initial state,
// closing its descriptors.
func (s *session) resetRings() {
	for _, vr := range s.vrings {
		s.stopRing(vr)
		vr.reset()
	}
}

// teardown ends the session: rings stopped after their in-flight requests,
// descriptors closed, guest RAM unmapped, socket closed.
func (s *session) teardown() {
	s.resetRings()
	s.setBackend(nil)
	s.setInflight(nil)
	s.dropLog()
	if s.mem != nil {
		unmapAll(s.mem.maps)
		s.mem = nil
	}
	_ = s.c.uc.Close()
	s.log.Infof("session closed")
}

// setBackend replaces the back-end request channel with c (nil for none)
// and closes the old one.
func (s *session) setBackend(c *backendChannel) {
	s.backendMu.Lock()
	old := s.backend
	s.backend = c
	s.backendMu.Unlock()
	if old != nil {
		old.close()
	}
}

// backendChannel returns the back-end request channel, or nil.
func (s *session) backendChannel() *backendChannel {
	s.backendMu.Lock()
	defer s.backendMu.Unlock()
	return s.backend
}
