package vhostuser_test

import (
	"context"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ccmblk/ccmblk/vhostuser"
	"github.com/ccmblk/ccmblk/vhostuser/vhostusertest"
	"github.com/ccmblk/ccmblk/virtio"
)

// Tests of issue 7: a hostile front end against the daemon. Each ends by
// checking that the daemon serves a fresh front end.

// refused sends req with a REPLY_ACK request and wants a failure.
func refused(t *testing.T, fe *vhostusertest.Frontend, req vhostuser.Request, payload []byte, fds ...int) {
	t.Helper()
	if err := fe.Set(req, true, payload, fds...); !errors.Is(err, vhostusertest.ErrNack) {
		t.Fatalf("%v: %v, want a refusal", req, err)
	}
}

// TestHugeSparseRegions: regions of huge sparse memfds are refused, by
// SET_MEM_TABLE and by ADD_MEM_REG, instead of exhausting the address
// space.
func TestHugeSparseRegions(t *testing.T) {
	d := startDaemon(t, vhostuser.ServerOptions{})
	fe, _ := d.dial(t, vhostusertest.Options{})
	if _, err := fe.Init(); err != nil {
		t.Fatal(err)
	}
	const huge = 32 << 40
	fd := memfd(t, huge)
	r := vhostusertest.Region{GPA: 1 << 40, Size: huge, QVA: 1 << 46}
	refused(t, fe, vhostuser.SetMemTable, vhostusertest.MemTable([]vhostusertest.Region{r}), fd)
	for range 4 {
		r.GPA, r.QVA = r.GPA+huge, r.QVA+huge
		refused(t, fe, vhostuser.AddMemReg, vhostusertest.MemRegMsg(r), fd)
	}
	if err := fe.Close(); err != nil {
		t.Fatal(err)
	}
	d.serves(t)
}

// TestGuestMemoryLimit: the total limit counts every region, a removed
// region frees its share, and a table may be replaced by one of the same
// size.
func TestGuestMemoryLimit(t *testing.T) {
	const mib = 1 << 20
	d := startDaemon(t, vhostuser.ServerOptions{MaxGuestMemory: 8 * mib, MaxRegionSize: 6 * mib})
	fe, _ := d.dial(t, vhostusertest.Options{})
	if _, err := fe.Init(); err != nil {
		t.Fatal(err)
	}
	fd := memfd(t, 16*mib)
	region := func(i int, size uint64) vhostusertest.Region {
		return vhostusertest.Region{GPA: virtio.GuestAddr(i) << 28, Size: size, QVA: 1<<40 + uint64(i)<<32}
	}
	refused(t, fe, vhostuser.AddMemReg, vhostusertest.MemRegMsg(region(0, 7*mib)), fd)
	for i := range 2 {
		if err := fe.Set(vhostuser.AddMemReg, true, vhostusertest.MemRegMsg(region(i, 4*mib)), fd); err != nil {
			t.Fatalf("region %d: %v", i, err)
		}
	}
	refused(t, fe, vhostuser.AddMemReg, vhostusertest.MemRegMsg(region(2, 4096)), fd)
	if err := fe.Set(vhostuser.RemMemReg, true, vhostusertest.MemRegMsg(region(1, 4*mib))); err != nil {
		t.Fatal(err)
	}
	if err := fe.Set(vhostuser.AddMemReg, true, vhostusertest.MemRegMsg(region(2, 4*mib)), fd); err != nil {
		t.Fatalf("after removal: %v", err)
	}
	table := []vhostusertest.Region{region(3, 4*mib), region(4, 4*mib)}
	if err := fe.Set(vhostuser.SetMemTable, true, vhostusertest.MemTable(table), fd, fd); err != nil {
		t.Fatalf("replacing table: %v", err)
	}
	// A table mapped from offset 0 counts its mmap offset too.
	refused(t, fe, vhostuser.SetMemTable, vhostusertest.MemTable([]vhostusertest.Region{{GPA: 0, Size: 4 * mib, Offset: 6 * mib, QVA: 1 << 40}}), fd)
	if err := fe.Close(); err != nil {
		t.Fatal(err)
	}
	d.serves(t)
}

// TestRegionFileKinds: only memfd, tmpfs and hugetlbfs files back guest
// RAM by default; a file elsewhere needs AnyMemoryFile, a pipe or a file
// shorter than the region is always refused.
func TestRegionFileKinds(t *testing.T) {
	f, err := os.CreateTemp(".", "region-*.tmp")
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if err := f.Truncate(1 << 20); err != nil {
		t.Fatal(err)
	}
	var fs unix.Statfs_t
	if err := unix.Fstatfs(int(f.Fd()), &fs); err != nil {
		t.Fatal(err)
	}
	if fs.Type == unix.TMPFS_MAGIC {
		t.Fatal("the package directory is on tmpfs: this test needs a file elsewhere")
	}
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	r := vhostusertest.Region{GPA: 0, Size: 1 << 20, QVA: 1 << 40}
	msg := vhostusertest.MemTable([]vhostusertest.Region{r})
	for _, anyFile := range []bool{false, true} {
		d := startDaemon(t, vhostuser.ServerOptions{AnyMemoryFile: anyFile})
		fe, _ := d.dial(t, vhostusertest.Options{})
		if _, err := fe.Init(); err != nil {
			t.Fatal(err)
		}
		refused(t, fe, vhostuser.SetMemTable, msg, p[0])
		refused(t, fe, vhostuser.SetMemTable, msg, memfd(t, 4096))
		err := fe.Set(vhostuser.SetMemTable, true, msg, int(f.Fd()))
		if anyFile && err != nil {
			t.Errorf("AnyMemoryFile: %v", err)
		}
		if !anyFile && !errors.Is(err, vhostusertest.ErrNack) {
			t.Errorf("file on file system %#x: %v, want a refusal", fs.Type, err)
		}
		if err := fe.Set(vhostuser.SetMemTable, true, msg, memfd(t, 1<<20)); err != nil {
			t.Errorf("memfd: %v", err)
		}
		if err := fe.Close(); err != nil {
			t.Fatal(err)
		}
		d.serves(t)
	}
}

// TestBackendReqFDSelf: the front end's own end of the connection, or any
// socket but one of a fresh pair, is refused as the back-end request
// channel, and the session ends when the front end closes its end.
func TestBackendReqFDSelf(t *testing.T) {
	d := startDaemon(t, vhostuser.ServerOptions{})
	fe, conn := d.dial(t, vhostusertest.Options{})
	if _, err := fe.Init(); err != nil {
		t.Fatal(err)
	}
	refused(t, fe, vhostuser.SetBackendReqFD, nil, connFD(t, conn))
	refused(t, fe, vhostuser.SetBackendReqFD, nil, vhostuser.EventFDs(t, 1)[0])
	dgram, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(dgram[0])
	defer unix.Close(dgram[1])
	refused(t, fe, vhostuser.SetBackendReqFD, nil, dgram[0])
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(pair[1])
	if err := fe.Set(vhostuser.SetBackendReqFD, true, nil, pair[0]); err != nil {
		t.Fatalf("fresh socket pair: %v", err)
	}
	_ = unix.Close(pair[0])
	if err := fe.Close(); err != nil {
		t.Fatal(err)
	}
	d.serves(t)
}

// TestBackendReqFDSelfPair: on a connection made of a socket pair (the
// daemon's --fd use), where both ends are unnamed, the front end's end is
// still recognised and refused, and the session ends with the front end.
func TestBackendReqFDSelfPair(t *testing.T) {
	a, c := vhostuser.SocketPair(t)
	done := make(chan error, 1)
	go func() {
		done <- vhostuser.NewServer(newFakeBackend(1), vhostuser.ServerOptions{Name: t.Name()}).ServeConn(context.Background(), c)
	}()
	fe, err := vhostusertest.New(a, vhostusertest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fe.Init(); err != nil {
		t.Fatal(err)
	}
	refused(t, fe, vhostuser.SetBackendReqFD, nil, connFD(t, a))
	if err := fe.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(waitFor):
		t.Fatal("session did not end with its front end")
	}
}

// connFD returns the descriptor of c, valid while c is open.
func connFD(t *testing.T, c *net.UnixConn) int {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	fd := -1
	if err := rc.Control(func(d uintptr) { fd = int(d) }); err != nil {
		t.Fatal(err)
	}
	return fd
}
