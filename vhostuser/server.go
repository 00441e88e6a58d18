package vhostuser

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang/glog"

	"github.com/ccmblk/ccmblk/virtio"
)

// ServerOptions configure a Server.
type ServerOptions struct {
	// Name identifies the device in log lines (dev=<Name>), for example
	// the socket path.
	Name string
	// MaxGuestMemory bounds the guest RAM mapped at once, all regions
	// together, in bytes; 0 means the host's RAM.
	MaxGuestMemory uint64
	// MaxRegionSize bounds one memory region, in bytes; 0 means
	// MaxGuestMemory.
	MaxRegionSize uint64
	// RingStopTimeout bounds the wait for a ring to stop (its requests in
	// flight to complete) when the front end asks for it, the memory
	// table changes, the session ends or the Server stops. A ring that
	// takes longer, stuck on guest memory or a disk call, is abandoned
	// and the session ends. 0 means DefaultRingStopTimeout.
	RingStopTimeout time.Duration
	// AnyMemoryFile admits memory regions backed by a regular file on any
	// file system. By default only tmpfs (memfd, /dev/shm) and hugetlbfs
	// files are mapped, whose pages never wait on another process.
	AnyMemoryFile bool
	// DisableInflight withholds INFLIGHT_SHMFD, so that a restarted back
	// end cannot find the requests its predecessor left in flight. It is
	// for tests that show what the inflight area prevents, never for
	// production.
	DisableInflight bool
}

// Server serves a Backend to one vhost-user front end at a time.
type Server struct {
	b    Backend
	opts ServerOptions
	*shared
	// changed is set by NotifyConfigChange (see session.changed).
	changed atomic.Bool

	mu sync.Mutex
	// cur is the session being served, or nil.
	// +checklocks:mu
	cur *session
}

// DefaultRingStopTimeout is the default ServerOptions.RingStopTimeout.
const DefaultRingStopTimeout = 10 * time.Second

// NewServer returns a Server for b.
func NewServer(b Backend, opts ServerOptions) *Server {
	sh := &shared{
		lim:         newMemLimits(opts),
		log:         virtio.NewLogLimiter("dev="+opts.Name, virtio.DefaultLogBurst, virtio.DefaultLogEvery),
		stopTimeout: opts.RingStopTimeout,
	}
	if sh.stopTimeout <= 0 {
		sh.stopTimeout = DefaultRingStopTimeout
	}
	return &Server{b: b, opts: opts, shared: sh}
}

// pastDeadline unblocks a pending Accept, read or write at once.
var pastDeadline = time.Unix(1, 0)

// acceptRetry is how long Serve waits after a failed Accept (for example
// EMFILE) before trying again.
const acceptRetry = 100 * time.Millisecond

// Serve accepts front ends on l and serves each in turn with ServeConn
// until ctx is done; then it ends the current session (stopping its rings
// once their in-flight requests complete) and returns nil. A session that
// ends with an error is logged, and the next front end is accepted. Serve
// does not close l; it sets l's deadline to stop accepting.
func (s *Server) Serve(ctx context.Context, l *net.UnixListener) error {
	glog.Infof("dev=%s listening on %v", s.opts.Name, l.Addr())
	err := AcceptLoop(ctx, l, s.log, func(c *net.UnixConn) {
		if err := s.ServeConn(ctx, c); err != nil {
			s.log.Errorf("session ended: %v", err)
		}
	})
	if n := s.stuck.Load(); n > 0 {
		glog.Errorf("dev=%s stopping with %d abandoned rings still stuck; their requests stay incomplete", s.opts.Name, n)
	}
	return err
}

// AcceptLoop accepts connections on l and hands each to serve, which owns
// it from then on, until ctx is done; then it returns nil. A failed accept
// (EMFILE, ECONNABORTED and the like) is logged on log and retried after a
// pause; a listener that is closed or past its deadline ends the loop with
// an error. AcceptLoop does not close l; it sets l's deadline to stop
// accepting. The daemon's control socket uses it too.
func AcceptLoop(ctx context.Context, l *net.UnixListener, log *virtio.LogLimiter, serve func(*net.UnixConn)) error {
	stop := context.AfterFunc(ctx, func() { _ = l.SetDeadline(pastDeadline) })
	defer stop()
	for {
		c, err := l.AcceptUnix()
		if ctx.Err() != nil {
			if c != nil {
				_ = c.Close()
			}
			return nil
		}
		if err != nil {
			if errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrDeadlineExceeded) {
				return fmt.Errorf("vhostuser: accept: %w", err)
			}
			log.Errorf("accept: %v", err)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(acceptRetry):
			}
			continue
		}
		serve(c)
	}
}

// ServeConn runs one session on c until the front end disconnects, sends
// request 0, sends a message that cannot be handled, or ctx is done. It
// then stops every ring (waiting for in-flight requests), closes every
// descriptor the session received, unmaps guest RAM and closes c, which it
// owns from the call on. It returns nil for a disconnect or cancellation
// and the error that ended the session otherwise.
func (s *Server) ServeConn(ctx context.Context, c *net.UnixConn) error {
	// Handlers touch guest RAM (starting a ring reads its used index); a
	// fault there must become an error (see dispatch).
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	sess, err := newSession(s.b, s.opts.Name, c, s.shared)
	if err != nil {
		_ = c.Close()
		return err
	}
	sess.changed = &s.changed
	s.setCurrent(sess)
	sess.noInflight = s.opts.DisableInflight
	defer sess.teardown()
	defer s.setCurrent(nil)
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(pastDeadline) })
	defer stop()
	s.log.Infof("front end connected")
	for {
		m, err := sess.c.read()
		if err != nil {
			if ctx.Err() != nil {
				s.log.Infof("session cancelled")
				return nil
			}
			if isDisconnect(err) {
				s.log.Infof("front end disconnected")
				return nil
			}
			return err
		}
		done, err := sess.dispatch(m)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if done {
			s.log.Infof("front end sent %v: ending session", None)
			return nil
		}
	}
}

// setCurrent records the session being served, for NotifyConfigChange.
func (s *Server) setCurrent(sess *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cur = sess
}
