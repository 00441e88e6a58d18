package vhostuser

import (
	"fmt"
	"net"

	"github.com/golang/glog"
	"golang.org/x/sys/unix"
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
	// backendReq is the SET_BACKEND_REQ_FD socket, kept unused, or -1.
	backendReq int
	// complaints counts the requests the session went on after refusing
	// (see complain).
	complaints int
}

// maxComplaints is how many refused requests a session logs as warnings;
// the session goes on after them, so without a bound a front end could
// write log lines as fast as it sends messages.
const maxComplaints = 16

// complain logs a request that was refused while the session goes on: as a
// warning for the first maxComplaints of the session, at V(1) after that.
func (s *session) complain(format string, args ...any) {
	s.complaints++
	switch {
	case s.complaints < maxComplaints:
		glog.WarningDepth(1, "dev="+s.name+" "+fmt.Sprintf(format, args...))
	case s.complaints == maxComplaints:
		glog.WarningDepth(1, "dev="+s.name+" "+fmt.Sprintf(format, args...)+" (further refused requests are logged at V(1) only)")
	case bool(glog.V(1)):
		glog.InfoDepth(1, "dev="+s.name+" "+fmt.Sprintf(format, args...))
	}
}

func newSession(b Backend, name string, uc *net.UnixConn, lim *memLimits) (*session, error) {
	own, err := connFD(uc)
	if err != nil {
		return nil, err
	}
	s := &session{b: b, name: name, c: newConn(uc), own: own, lim: lim, backendReq: -1}
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
	if s.backendReq >= 0 {
		_ = unix.Close(s.backendReq)
		s.backendReq = -1
	}
	if s.mem != nil {
		unmapAll(s.mem.maps)
		s.mem = nil
	}
	_ = s.c.uc.Close()
	glog.Infof("dev=%s session closed", s.name)
}
