//go:build integration

package tests

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
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

var (
	daemonOnce sync.Once
	daemonBin  string
	daemonErr  error
)

// daemonBinary returns the path of cmd/vhost-user-blk-ccm, built on first
// use.
func daemonBinary(t *testing.T) string {
	t.Helper()
	daemonOnce.Do(func() {
		daemonBin = filepath.Join(buildDir, "vhost-user-blk-ccm")
		daemonErr = vmtest.GoBuild("./cmd/vhost-user-blk-ccm", daemonBin)
	})
	if daemonErr != nil {
		t.Fatal(daemonErr)
	}
	return daemonBin
}

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

// copyFile copies src to a new file dst with mode 0600.
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
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
	ctx := testContext(t)
	vm, err := vmtest.StartVM(ctx, t, env, vmtest.VMOptions{
		Name: "guest-" + action, Initramfs: initrd, Action: action, Params: params, Backend: backend,
	})
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
	t.Logf("guest-%s: qemu ran %.2fs", action, vm.Elapsed().Seconds())
	return m
}

// checkField reports a marker field that differs from want.
func checkField(t *testing.T, m vmtest.Marker, k, want string) {
	t.Helper()
	if got := m.Get(k); got != want {
		t.Errorf("guest %s: %s = %q, want %q", m.Get("action"), k, got, want)
	}
}
