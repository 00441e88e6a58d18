// The race detector reads atomic words from its C runtime, where a
// goroutine blocked in a page fault cannot be preempted, so a garbage
// collection would wait for the blocked page forever: these tests run
// without -race (see the Makefile's test-unit).

//go:build !race

package vhostuser_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ccmblk/ccmblk/vhostuser"
	"github.com/ccmblk/ccmblk/vhostuser/vhostusertest"
	"github.com/ccmblk/ccmblk/virtio"
)

// userfaultfd (linux/userfaultfd.h), which x/sys/unix does not define.
const (
	uffdAPI                = 0xaa
	uffdioAPI              = 0xc018aa3f
	uffdioRegister         = 0xc020aa00
	uffdFeatureMinorShmem  = 1 << 10
	uffdRegisterModeMinor  = 1 << 2
	stuckRingStopTimeout   = 300 * time.Millisecond
	stuckAvailGPA          = virtio.GuestAddr(0x3000)
	stuckRingGPA           = virtio.GuestAddr(0x1000)
	stuckRingSize          = 8
	stuckRAM               = 4 << 20
	stuckDataGPA           = virtio.GuestAddr(1 << 20)
	stuckFreshServeTimeout = 5 * time.Second
)

// blockPage makes every access of this process through its mapping at
// host address addr (one page) wait until the returned descriptor is
// closed: a userfaultfd in minor-fault mode catches the access to a page
// already in the shared memory file's page cache, and nobody answers it.
// It is what a region on a file whose page reads never complete does to
// the daemon, without a FUSE server; the wait happens in the page fault,
// as it would there.
func blockPage(t *testing.T, addr uintptr) int {
	t.Helper()
	fd, _, e := unix.Syscall(unix.SYS_USERFAULTFD, unix.O_CLOEXEC|unix.O_NONBLOCK, 0, 0)
	if e != 0 {
		t.Fatalf("userfaultfd: %v", e)
	}
	api := struct{ api, features, ioctls uint64 }{api: uffdAPI, features: uffdFeatureMinorShmem}
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, fd, uffdioAPI, uintptr(unsafe.Pointer(&api))); e != 0 {
		t.Fatalf("UFFDIO_API: %v", e)
	}
	page := uint64(os.Getpagesize())
	reg := struct{ start, len, mode, ioctls uint64 }{start: uint64(addr) &^ (page - 1), len: page, mode: uffdRegisterModeMinor}
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, fd, uffdioRegister, uintptr(unsafe.Pointer(&reg))); e != 0 {
		t.Fatalf("UFFDIO_REGISTER: %v", e)
	}
	// Drop the page table entry, if any, so that the next access faults.
	if _, _, e := unix.Syscall(unix.SYS_MADVISE, uintptr(reg.start), uintptr(page), unix.MADV_DONTNEED); e != 0 {
		t.Fatalf("madvise: %v", e)
	}
	return int(fd)
}

// otherMapping returns the start of the mapping of this process of the
// file named memfd:name that does not start at own: the daemon's mapping
// of the front end's guest RAM.
func otherMapping(t *testing.T, name string, own uintptr) uintptr {
	t.Helper()
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || !strings.HasPrefix(fields[5], "/memfd:"+name) {
			continue
		}
		var start, end uint64
		if _, err := fmt.Sscanf(fields[0], "%x-%x", &start, &end); err != nil {
			t.Fatal(err)
		}
		if uintptr(start) != own {
			return uintptr(start)
		}
	}
	t.Fatal("no second mapping of the guest RAM")
	return 0
}

// stuckSession connects a front end to a daemon serving dev and starts
// queue 0 with its available ring in a page on which the daemon's ring
// goroutine blocks. It returns the front end and the descriptor that,
// closed, lets the goroutine go on.
func stuckSession(t *testing.T, path string) (*vhostusertest.Frontend, int) {
	t.Helper()
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	fe, err := vhostusertest.New(c, vhostusertest.Options{Regions: []vhostusertest.Region{{GPA: 0, Size: stuckRAM}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fe.Close() })
	in, err := fe.Init()
	must(t, err)
	r, err := fe.NewRing(0, stuckRingSize, stuckRingGPA)
	must(t, err)
	r.Avail = stuckAvailGPA // a page of its own, in the page cache
	must(t, fe.Write(stuckAvailGPA, make([]byte, 64)))
	must(t, fe.Set(vhostuser.SetFeatures, false, u64(in.Features)))
	must(t, fe.SetMemory())
	own := uintptr(unsafe.Pointer(unsafe.SliceData(fe.RAM())))
	uffd := blockPage(t, otherMapping(t, "vhostusertest-ram", own)+uintptr(stuckAvailGPA))
	t.Cleanup(func() { _ = unix.Close(uffd) })
	must(t, fe.SetupRing(r))
	must(t, fe.EnableRing(0, true))
	return fe, uffd
}

// TestBlockedGuestMemory: a ring goroutine blocked in a page fault on
// guest RAM holds neither GET_VRING_BASE (the ring is abandoned and the
// session ends), nor the session once the front end hangs up, nor a fresh
// front end, nor the Server's stop.
func TestBlockedGuestMemory(t *testing.T) {
	path, stop := serveBlk(t, stuckRingStopTimeout)

	// GET_VRING_BASE on the stuck ring: no answer but the end of the
	// session, once the stop timeout has passed.
	fe, _ := stuckSession(t, path)
	answered := make(chan error, 1)
	go func() {
		_, err := fe.GetVringBase(0)
		answered <- err
	}()
	select {
	case err := <-answered:
		if err == nil {
			t.Fatal("GET_VRING_BASE of a stuck ring answered as if it had stopped")
		}
	case <-time.After(stuckRingStopTimeout + stuckFreshServeTimeout):
		t.Fatal("GET_VRING_BASE on a stuck ring hangs the session")
	}
	_ = fe.Close()
	freshBlk(t, path)

	// Stopping the Server with a ring stuck ends within the stop timeout.
	_, _ = stuckSession(t, path)
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	must(t, stop())
	t.Logf("Serve returned %v after cancellation", time.Since(start))
}

// TestBlockedGuestMemoryHangUp: with a stop timeout far away, the session
// of a front end that hangs up while the daemon waits for its stuck ring
// ends at once, and the next front end is served.
func TestBlockedGuestMemoryHangUp(t *testing.T) {
	path, _ := serveBlk(t, time.Hour)
	fe, _ := stuckSession(t, path)
	must(t, fe.Send(vhostuser.GetVringBase, 0, vhostusertest.VringState(0, 0)))
	time.Sleep(50 * time.Millisecond)
	_ = fe.Close()
	freshBlk(t, path)
}

// serveBlk runs a Server of a BlockDevice over a memory disk with the
// given ring stop timeout. stop cancels it and returns Serve's result,
// failing the test if Serve does not return within the timeout and a
// margin.
func serveBlk(t *testing.T, timeout time.Duration) (path string, stop func() error) {
	t.Helper()
	dev, err := virtio.NewBlockDevice(newMemDisk(64, false), virtio.BlockOptions{NumQueues: 1, QueueSize: 256, Name: t.Name()})
	must(t, err)
	path = filepath.Join(t.TempDir(), "vhost.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	must(t, err)
	t.Cleanup(func() { _ = l.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	srv := vhostuser.NewServer(dev, vhostuser.ServerOptions{Name: t.Name(), RingStopTimeout: timeout})
	go func() { served <- srv.Serve(ctx, l) }()
	var once sync.Once
	var serveErr error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case serveErr = <-served:
			case <-time.After(timeout + stuckFreshServeTimeout):
				t.Error("Serve does not return with a ring stuck")
			}
		})
		return serveErr
	}
	t.Cleanup(func() { _ = stop() })
	return path, stop
}

// freshBlk checks that the daemon at path serves a new front end a write
// and a read on queue 0.
func freshBlk(t *testing.T, path string) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
		must(t, err)
		fe, err := vhostusertest.New(c, vhostusertest.Options{})
		must(t, err)
		defer fe.Close()
		in, err := fe.Init()
		must(t, err)
		rs := rings(t, fe, 1)
		must(t, fe.Start(in.Features&^vhostuser.FeatureProtocolFeatures, rs...))
		b := blkFE{fe, stuckDataGPA}
		data := make([]byte, 512)
		data[0] = 0x5a
		if st, _, _ := blkReq(t, b, rs[0], virtio.BlkTOut, 3, data, 0); st != virtio.BlkSOK {
			t.Errorf("fresh front end: write status %d", st)
		}
		if st, _, got := blkReq(t, b, rs[0], virtio.BlkTIn, 3, nil, 512); st != virtio.BlkSOK || got[0] != 0x5a {
			t.Errorf("fresh front end: read status %d, byte %#x", st, got[0])
		}
	}()
	select {
	case <-done:
	case <-time.After(stuckRingStopTimeout + 2*stuckFreshServeTimeout):
		t.Fatal("fresh front end not served")
	}
}
