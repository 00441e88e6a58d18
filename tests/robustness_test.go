//go:build integration

package tests

import (
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ccmblk/ccmblk/tests/vmtest"
)

// ccmblockBinary returns the path of cmd/ccmblock, built on first use.
var ccmblockBinary = goBinary("./cmd/ccmblock", "ccmblock")

// runCCMBlock runs cmd/ccmblock with args; it must exit 0.
func runCCMBlock(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command(ccmblockBinary(t), args...).CombinedOutput()
	t.Logf("ccmblock %q:\n%s", args, out)
	if err != nil {
		t.Fatalf("ccmblock %s: %v", args[0], err)
	}
}

// freshImage is a new encrypted image made by ccmblock with a fresh key,
// in the default format.
type freshImage struct {
	path, key string
	size      uint64
}

// newFreshImage creates an image of size bytes (guest-visible) in dir.
func newFreshImage(t *testing.T, dir string, size uint64) freshImage {
	t.Helper()
	im := freshImage{path: filepath.Join(dir, "disk.img"), key: filepath.Join(dir, "disk.key"), size: size}
	runCCMBlock(t, "keygen", "-o", im.key)
	runCCMBlock(t, "create", "-o", im.path, "--size", strconv.FormatUint(size, 10), "--key-file", im.key)
	return im
}

// daemonArgs returns the daemon's command line serving the image on sock.
func (im freshImage) daemonArgs(t *testing.T, sock string) []string {
	return []string{daemonBinary(t), "--socket-path", sock, "--blk-file", im.path,
		"--key-file", im.key, "--num-queues", "1", "--logtostderr"}
}

// check runs ccmblock check: every sector must authenticate.
func (im freshImage) check(t *testing.T) {
	t.Helper()
	runCCMBlock(t, "check", "-i", im.path, "--key-file", im.key)
}

// robustCaseSeconds is how long each case of the guest's bench action
// runs; the tests disturb the guest about a second into a case.
const robustCaseSeconds = 3

// TestRobustQEMUKilled kills QEMU with SIGKILL while its guest writes: the
// daemon must survive, serve a second guest that reads the whole disk (every
// sector authenticates), and stop cleanly, leaving an image that checks.
func TestRobustQEMUKilled(t *testing.T) {
	t.Parallel()
	env, initrd := vmEnv(t)
	dir := t.TempDir()
	im := newFreshImage(t, dir, 4<<20)
	sock := socketPath(t)
	d := startDaemon(t, sock, im.daemonArgs(t, sock))

	ctx := testContext(t)
	vm, err := vmtest.StartVM(ctx, t, env, vmtest.VMOptions{
		Name: "guest-killed", Initramfs: initrd, Action: "bench", Backend: d,
		Params: map[string]string{"cases": "randwrite4k", "seconds": strconv.Itoa(robustCaseSeconds), "qd": "8"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := vm.Expect(ctx, vmtest.MarkerStart); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if err := syscall.Kill(vm.Pid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = vm.Wait()
	if n := len(vm.Markers(vmtest.MarkerBench)); n != 0 {
		t.Fatalf("the write workload finished before QEMU was killed (%d results)", n)
	}
	// Give the daemon time to see the disconnect and tear the session down.
	select {
	case <-d.Exited():
		t.Fatalf("daemon exited when QEMU was killed: %v", d.Wait())
	case <-time.After(500 * time.Millisecond):
	}

	m := runGuest(t, env, initrd, d, "readall", nil)
	checkField(t, m, "size", strconv.FormatUint(im.size, 10))
	checkField(t, m, "ro", "0")
	stopBackend(t, d)
	im.check(t)
}

// TestRobustDaemonRestart stops the daemon with SIGTERM while its guest
// writes and starts a new one on the same socket: QEMU reconnects
// (reconnect=1), the guest's stalled writes complete and its next workload
// runs on the new daemon without an I/O error.
func TestRobustDaemonRestart(t *testing.T) {
	t.Parallel()
	env, initrd := vmEnv(t)
	dir := t.TempDir()
	im := newFreshImage(t, dir, 4<<20)
	sock := socketPath(t)
	d1 := startDaemon(t, sock, im.daemonArgs(t, sock))

	ctx := testContext(t)
	var mu sync.Mutex
	var started []string // bench cases, in the order the guest began them
	restarted := false
	vm, err := vmtest.StartVM(ctx, t, env, vmtest.VMOptions{
		// No Backend: the VM outlives the first daemon.
		Name: "guest-restart", Initramfs: initrd, Action: "bench", Socket: sock,
		Params: map[string]string{"cases": "randwrite4k,randread4k", "seconds": strconv.Itoa(robustCaseSeconds), "qd": "8"},
		OnMarker: func(m vmtest.Marker) {
			if m.Kind == vmtest.MarkerStart {
				mu.Lock()
				defer mu.Unlock()
				if restarted {
					started = append(started, m.Get("case")+"@new")
				} else {
					started = append(started, m.Get("case")+"@old")
				}
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := vm.Expect(ctx, vmtest.MarkerStart); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	stopBackend(t, d1)
	mu.Lock()
	restarted = true
	mu.Unlock()
	d2 := startDaemon(t, sock, im.daemonArgs(t, sock))

	if _, err := vm.Result(ctx); err != nil {
		t.Fatal(err)
	}
	if err := vm.Wait(); err != nil {
		t.Errorf("qemu: %v", err)
	}
	mu.Lock()
	order := started
	mu.Unlock()
	if len(order) != 2 || order[0] != "randwrite4k@old" || order[1] != "randread4k@new" {
		t.Errorf("bench cases began as %q, want [randwrite4k@old randread4k@new]: the restart was not mid-workload", order)
	}
	_ = checkBenchCases(t, vm)
	stopBackend(t, d2)
	im.check(t)
}
