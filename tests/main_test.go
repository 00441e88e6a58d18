//go:build integration

package tests

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ccmblk/ccmblk/tests/vmtest"
)

// buildDir holds what the tests build once per run: the initramfs and the
// daemon binary.
var buildDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ccmblk-vmtest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	buildDir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

var (
	envOnce   sync.Once
	env       *vmtest.Env
	initramfs string
	envErr    error
)

// vmEnv returns the VM environment and the guest initramfs, built on first
// use. A missing piece fails the test: the README's test command installs
// everything first.
func vmEnv(t *testing.T) (*vmtest.Env, string) {
	t.Helper()
	envOnce.Do(func() {
		if env, envErr = vmtest.LoadEnv(); envErr != nil {
			return
		}
		initramfs, envErr = vmtest.BuildInitramfs(env, buildDir)
	})
	if envErr != nil {
		t.Fatal(envErr)
	}
	return env, initramfs
}

// goBinary returns a function that builds the command pkg into buildDir as
// name on its first call and returns the binary's path; a failed build
// fails the test.
func goBinary(pkg, name string) func(t *testing.T) string {
	build := sync.OnceValues(func() (string, error) {
		bin := filepath.Join(buildDir, name)
		return bin, vmtest.GoBuild(pkg, bin)
	})
	return func(t *testing.T) string {
		t.Helper()
		bin, err := build()
		if err != nil {
			t.Fatal(err)
		}
		return bin
	}
}

// daemonBinary returns the path of cmd/vhost-user-blk-ccm, built on first
// use.
var daemonBinary = goBinary("./cmd/vhost-user-blk-ccm", "vhost-user-blk-ccm")

// vmTimeout bounds one test with one or two VM boots; a TCG boot takes a few
// seconds on an idle machine.
const vmTimeout = 2 * time.Minute

// testContext returns a context that ends at vmTimeout or the test's own
// deadline, whichever comes first.
func testContext(t *testing.T) context.Context {
	deadline := time.Now().Add(vmTimeout)
	if dl, ok := t.Deadline(); ok && dl.Add(-5*time.Second).Before(deadline) {
		deadline = dl.Add(-5 * time.Second)
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	t.Cleanup(cancel)
	return ctx
}

// copyFile copies src to a new file name in dir with mode 0600 and returns
// its path.
func copyFile(t *testing.T, src, dir, name string) string {
	t.Helper()
	dst := filepath.Join(dir, name)
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return dst
}

// fileSHA256 returns the hex SHA-256 of a file's contents.
func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", sha256.Sum256(b))
}

// socketPath returns a short socket path in a fresh temporary directory
// (unix socket paths are limited to 107 bytes).
func socketPath(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "vub")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return filepath.Join(dir, "s")
}

// runGuest boots one VM with action on the disk of backend and returns its
// CCMBLK-OK marker; any guest failure fails the test.
func runGuest(t *testing.T, env *vmtest.Env, initrd string, backend *vmtest.Backend, action string, params map[string]string) vmtest.Marker {
	t.Helper()
	_, m := bootGuest(t, env, vmtest.VMOptions{
		Name: "guest-" + action, Initramfs: initrd, Action: action, Params: params, Backend: backend,
	})
	return m
}

// bootGuest boots one VM with o, waits for it to power off and returns it
// with its CCMBLK-OK marker; any guest failure fails the test.
func bootGuest(t *testing.T, env *vmtest.Env, o vmtest.VMOptions) (*vmtest.VM, vmtest.Marker) {
	t.Helper()
	ctx := testContext(t)
	vm, err := vmtest.StartVM(ctx, t, env, o)
	if err != nil {
		t.Fatal(err)
	}
	m, err := vm.Result(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := vm.Wait(); err != nil {
		t.Errorf("qemu: %v", err)
	}
	t.Logf("%s: qemu ran %.2fs", o.Name, vm.Elapsed().Seconds())
	return vm, m
}

// stopBackend stops b with SIGTERM; it must exit with status 0.
func stopBackend(t *testing.T, b *vmtest.Backend) {
	t.Helper()
	if err := b.Stop(); err != nil {
		t.Errorf("%s did not exit cleanly on SIGTERM: %v", b.Name(), err)
	}
}

// checkBenchCases fails the test for each bench case the guest of vm
// reported without completed requests, and returns the names of the cases
// it reported.
func checkBenchCases(t *testing.T, vm *vmtest.VM) map[string]bool {
	t.Helper()
	cases := map[string]bool{}
	for _, b := range vm.Markers(vmtest.MarkerBench) {
		cases[b.Get("case")] = true
		if ios, err := strconv.ParseUint(b.Get("ios"), 10, 64); err != nil || ios == 0 {
			t.Errorf("bench case %s completed no requests: %s", b.Get("case"), b.Line)
		}
	}
	return cases
}

// checkField reports a marker field that differs from want.
func checkField(t *testing.T, m vmtest.Marker, k, want string) {
	t.Helper()
	if got := m.Get(k); got != want {
		t.Errorf("guest %s: %s = %q, want %q", m.Get("action"), k, got, want)
	}
}
