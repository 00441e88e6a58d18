package vhostuser_test

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/ccmblk/ccmblk/vhostuser"
	"github.com/ccmblk/ccmblk/vhostuser/vhostusertest"
)

// daemon is a Server accepting front ends on a listening socket, as the
// daemon runs it: one session after the other.
type daemon struct {
	path string
	b    *fakeBackend
	done chan error
}

// startDaemon serves a fakeBackend of one queue with o until the test ends.
func startDaemon(t *testing.T, o vhostuser.ServerOptions) *daemon {
	t.Helper()
	d := &daemon{path: filepath.Join(t.TempDir(), "vhost.sock"), b: newFakeBackend(1), done: make(chan error, 1)}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: d.path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	o.Name = t.Name()
	ctx, cancel := context.WithCancel(context.Background())
	go func() { d.done <- vhostuser.NewServer(d.b, o).Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-d.done:
		case <-time.After(waitFor):
			t.Error("server did not stop")
		}
		_ = l.Close()
	})
	return d
}

// dial connects a front end; conn is its end of the connection.
func (d *daemon) dial(t *testing.T, o vhostusertest.Options) (fe *vhostusertest.Frontend, conn *net.UnixConn) {
	t.Helper()
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: d.path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	fe, err = vhostusertest.New(c, o)
	if err != nil {
		_ = c.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fe.Close() })
	return fe, c
}

// serves checks that the daemon serves a fresh front end: it answers the
// handshake, runs a queue and answers a kick.
func (d *daemon) serves(t *testing.T) {
	t.Helper()
	fe, _ := d.dial(t, vhostusertest.Options{})
	defer fe.Close()
	done := make(chan error, 1)
	go func() {
		if _, err := fe.Init(); err != nil {
			done <- err
			return
		}
		rs := rings(t, fe, 1)
		if err := fe.Start(fakeFeatures, rs...); err != nil {
			done <- err
			return
		}
		if err := fe.Kick(0); err != nil {
			done <- err
			return
		}
		done <- fe.WaitCall(0, waitFor)
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("fresh front end not served: %v", err)
		}
	case <-time.After(2 * waitFor):
		t.Fatal("fresh front end not served: no answer")
	}
}
