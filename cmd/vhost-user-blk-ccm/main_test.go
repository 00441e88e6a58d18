package main

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The tests run the daemon as a program, as QEMU, libvirt or a user does:
// TestMain builds it once into a temporary directory.
var daemonBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "vub-cmd-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	daemonBin = filepath.Join(dir, "vhost-user-blk-ccm")
	build := exec.Command("go", "build", "-o", daemonBin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n", err)
		_ = os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// exitWait bounds how long a daemon may take to exit on its own or after a
// signal.
const exitWait = 10 * time.Second

// lockedBuffer collects a process's output while it runs.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p to the buffer.
func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what was written so far.
func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// daemon is one run of the program.
type daemon struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdout lockedBuffer
	stderr lockedBuffer
	done   chan struct{} // closed once the process has exited
	state  *os.ProcessState
}

// startDaemon runs the program with args; extra become its descriptors 3,
// 4, ... A cleanup kills it if it still runs, logs its output and checks
// that no key made by newKey appears in that output.
func startDaemon(t *testing.T, extra []*os.File, args ...string) *daemon {
	t.Helper()
	cmd := exec.Command(daemonBin, args...)
	cmd.ExtraFiles = extra
	return startCmd(t, cmd)
}

// startCmd runs cmd, a command line that runs the program, as startDaemon
// does; its output goes to the daemon's buffers.
func startCmd(t *testing.T, cmd *exec.Cmd) *daemon {
	t.Helper()
	args := cmd.Args[1:]
	d := &daemon{t: t, done: make(chan struct{}), cmd: cmd}
	d.cmd.Stdout = &d.stdout
	d.cmd.Stderr = &d.stderr
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = d.cmd.Wait()
		d.state = d.cmd.ProcessState
		close(d.done)
	}()
	t.Cleanup(func() {
		select {
		case <-d.done:
		default:
			_ = d.cmd.Process.Kill()
			<-d.done
		}
		t.Logf("daemon %q:\nstdout:\n%s\nstderr:\n%s", args, d.stdout.String(), d.stderr.String())
		checkNoKey(t, "stdout", d.stdout.String())
		checkNoKey(t, "stderr", d.stderr.String())
	})
	return d
}

// runDaemon runs the program with args to its end and returns its exit
// status and output.
func runDaemon(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	d := startDaemon(t, nil, args...)
	code := d.wait()
	return code, d.stdout.String(), d.stderr.String()
}

// wait waits for the process to exit and returns its exit status; it
// fails the test if that takes longer than exitWait.
func (d *daemon) wait() int {
	d.t.Helper()
	select {
	case <-d.done:
	case <-time.After(exitWait):
		d.t.Fatalf("daemon still running after %v", exitWait)
	}
	if ws, ok := d.state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		d.t.Fatalf("daemon killed by %v", ws.Signal())
	}
	return d.state.ExitCode()
}

// stop sends sig and returns the exit status.
func (d *daemon) stop(sig os.Signal) int {
	d.t.Helper()
	if err := d.cmd.Process.Signal(sig); err != nil {
		d.t.Fatalf("signal %v: %v", sig, err)
	}
	return d.wait()
}

// stopOK stops the daemon with SIGTERM; it must exit with status 0.
func (d *daemon) stopOK() {
	d.t.Helper()
	if code := d.stop(syscall.SIGTERM); code != 0 {
		d.t.Errorf("exit status %d after SIGTERM, want 0", code)
	}
}

// running reports whether the process has not exited.
func (d *daemon) running() bool {
	select {
	case <-d.done:
		return false
	default:
		return true
	}
}

// waitSocket waits until path is a unix socket, failing the test if the
// daemon exits first.
func (d *daemon) waitSocket(path string) {
	d.t.Helper()
	deadline := time.Now().Add(exitWait)
	for {
		if st, err := os.Lstat(path); err == nil && st.Mode().Type() == os.ModeSocket {
			return
		}
		if !d.running() {
			d.t.Fatalf("daemon exited (%v) before creating %s:\n%s", d.state, path, d.stderr.String())
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("no socket at %s after %v", path, exitWait)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// pid returns the daemon's process id.
func (d *daemon) pid() int { return d.cmd.Process.Pid }

// keys holds every key the tests made, for checkNoKey.
var keys struct {
	mu   sync.Mutex
	list [][]byte
}

// checkNoKey fails the test if out contains any key made by newKey, as raw
// bytes or as hex in either case.
func checkNoKey(t *testing.T, what, out string) {
	t.Helper()
	keys.mu.Lock()
	defer keys.mu.Unlock()
	for _, k := range keys.list {
		h := hex.EncodeToString(k)
		// Half a key is a leak too: look for either half of the hex.
		for _, s := range []string{string(k), h[:len(h)/2], h[len(h)/2:]} {
			if strings.Contains(strings.ToLower(out), strings.ToLower(s)) {
				t.Errorf("daemon %s contains key material", what)
			}
		}
	}
}

// socketPath returns a short path for a unix socket in a fresh directory
// (socket paths are limited to 107 bytes; t.TempDir can be longer).
func socketPath(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "vub")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return filepath.Join(dir, "s")
}
