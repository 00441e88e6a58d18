package vhostuser

import (
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ccmblk/ccmblk/virtio"
)

// session is the state of one front-end connection. Only the control
// goroutine (ServeConn) touches it; ring goroutines see only their
// ringRun, the Backend and the vring's event slots.
type session struct {
	b    Backend
	name string
	c    *conn
	// own is c's descriptor, for the check of SET_BACKEND_REQ_FD and the
	// hang-up check while a ring is being stopped.
	own int
	// shared is the state of the Server the session belongs to.
	*shared

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
	// broken is set once a ring has been abandoned: the session then ends
	// after the current request, and no ring starts again.
	broken error
	// abandoned are the runs that did not stop (see stopRings); retired
	// are mappings replaced while such a run may still use them.
	abandoned []*ringRun
	retired   []*mapping
	// retiredAreas are inflight areas replaced while an abandoned run may
	// still mark or clear requests in them.
	retiredAreas []*inflightArea
}

// shared is what a Server's sessions share: limits that a front end must
// not escape by reconnecting.
type shared struct {
	// lim bounds the guest RAM mapped, abandoned sessions' included.
	lim *memLimits
	// log limits the lines front ends can trigger.
	log *virtio.LogLimiter
	// stopTimeout bounds the wait for a ring to stop.
	stopTimeout time.Duration
	// stuck counts the abandoned runs that have not returned yet.
	stuck atomic.Int64
}

func newSession(b Backend, name string, uc *net.UnixConn, sh *shared) (*session, error) {
	own, err := connFD(uc)
	if err != nil {
		return nil, err
	}
	s := &session{b: b, name: name, c: newConn(uc), own: own, shared: sh, changed: new(atomic.Bool), dlog: new(virtio.DirtyLog)}
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
	s.stopRings(s.vrings...)
	for _, vr := range s.vrings {
		vr.reset()
	}
}

// teardown ends the session: rings stopped after their in-flight requests,
// descriptors closed, guest RAM unmapped, socket closed. Guest RAM that an
// abandoned ring may still touch is unmapped only once it has returned.
func (s *session) teardown() {
	s.resetRings()
	s.setBackend(nil)
	s.setInflight(nil)
	s.dropLog()
	maps := s.retired
	if s.mem != nil {
		maps = append(maps, s.mem.maps...)
		s.mem = nil
	}
	if len(s.abandoned) == 0 {
		unmapAll(maps)
	} else {
		go s.release(s.abandoned, maps, s.retiredAreas)
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

// release waits for abandoned runs to return, then unmaps the guest RAM and
// releases the inflight areas they may have used.
func (s *session) release(runs []*ringRun, maps []*mapping, areas []*inflightArea) {
	for _, run := range runs {
		<-run.done
		s.stuck.Add(-1)
	}
	unmapAll(maps)
	for _, a := range areas {
		a.release()
	}
	s.log.Infof("%d abandoned rings returned: their guest RAM is unmapped", len(runs))
}

// hungUp reports whether the front end has closed or shut down its end of
// the connection. It does not read from it.
func (s *session) hungUp() bool {
	fds := []unix.PollFd{{Fd: int32(s.own), Events: unix.POLLRDHUP}}
	n, err := unix.Poll(fds, 0)
	return err == nil && n > 0 && fds[0].Revents&(unix.POLLRDHUP|unix.POLLHUP|unix.POLLERR) != 0
}
