package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// activated returns the command that runs the daemon with args the way
// systemd starts a socket-activated service: the listening socket as
// descriptor 3, LISTEN_FDS=fds and LISTEN_PID set to the daemon's own pid
// (a shell sets it to its pid and then becomes the daemon with exec).
func activated(t *testing.T, f *os.File, fds string, args ...string) *exec.Cmd {
	t.Helper()
	script := `LISTEN_PID=$$ LISTEN_FDS=` + fds + ` LISTEN_FDNAMES=vhost exec "$0" "$@"`
	cmd := exec.Command("/bin/sh", append([]string{"-c", script, daemonBin}, args...)...)
	cmd.ExtraFiles = []*os.File{f}
	return cmd
}

// TestSocketActivation passes the daemon a listening socket as systemd
// does and serves a front end on it.
func TestSocketActivation(t *testing.T) {
	im := newCCMImage(t, 32)
	l, f := listeningFile(t)
	sock := l.Addr().String()
	l.SetUnlinkOnClose(false)
	d := startCmd(t, activated(t, f, "1", append([]string{"--num-queues", "1"}, im.args()...)...))
	_ = l.Close()
	_ = f.Close()
	c := connect(t, sock)
	if got := c.capacity(); got != 32 {
		t.Errorf("capacity %d, want 32", got)
	}
	checkSectors(t, "read through the activated socket", c.read(3, 5), 0, 3)
	d.stopOK()
	if _, err := os.Lstat(sock); err != nil {
		t.Errorf("the daemon removed the socket systemd made: %v", err)
	}
}

// TestSocketActivationRefused checks activation environments the daemon
// must not serve from.
func TestSocketActivationRefused(t *testing.T) {
	im := newCCMImage(t, 8)
	cases := []struct {
		name string
		cmd  func(f *os.File) *exec.Cmd
		want string
	}{
		{"two sockets", func(f *os.File) *exec.Cmd { return activated(t, f, "2", im.args()...) }, "passed 2 sockets"},
		{"with --socket-path", func(f *os.File) *exec.Cmd {
			return activated(t, f, "1", append([]string{"--socket-path", socketPath(t)}, im.args()...)...)
		}, "drop --socket-path"},
		{"for another process", func(f *os.File) *exec.Cmd {
			// LISTEN_PID names the shell's parent: not the daemon.
			cmd := exec.Command(daemonBin, im.args()...)
			cmd.Env = append(os.Environ(), "LISTEN_FDS=1", "LISTEN_PID=1")
			cmd.ExtraFiles = []*os.File{f}
			return cmd
		}, "--socket-path or --fd is required"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, f := listeningFile(t)
			d := startCmd(t, c.cmd(f))
			if code := d.wait(); code == 0 {
				t.Errorf("exit status 0, want non-zero")
			}
			if !strings.Contains(d.stderr.String(), c.want) {
				t.Errorf("stderr does not say %q:\n%s", c.want, d.stderr.String())
			}
		})
	}
}

// notifySocket listens for sd_notify datagrams at addr, as the service
// manager does.
func notifySocket(t *testing.T, addr string) *net.UnixConn {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// nextNotification returns the next datagram on c, failing the test after
// exitWait.
func nextNotification(t *testing.T, c *net.UnixConn) string {
	t.Helper()
	buf := make([]byte, 4096)
	_ = c.SetReadDeadline(time.Now().Add(exitWait))
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("no notification: %v", err)
	}
	return string(buf[:n])
}

// TestNotifyReady runs the daemon with $NOTIFY_SOCKET set (a path, and an
// abstract name): it sends READY=1 once it serves (a front end connects and
// reads the disk right after), and STOPPING=1 on SIGTERM.
func TestNotifyReady(t *testing.T) {
	for _, addr := range []string{filepath.Join(filepath.Dir(socketPath(t)), "notify"), fmt.Sprintf("@ccmblk-notify-test-%d", os.Getpid())} {
		t.Run(addr[:1], func(t *testing.T) {
			im := newCCMImage(t, 16)
			n := notifySocket(t, addr)
			sock := socketPath(t)
			cmd := exec.Command(daemonBin, append([]string{"--socket-path", sock, "--num-queues", "1"}, im.args()...)...)
			cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+addr)
			d := startCmd(t, cmd)
			msg := nextNotification(t, n)
			if !strings.Contains("\n"+msg+"\n", "\nREADY=1\n") {
				t.Fatalf("first notification %q, want READY=1", msg)
			}
			// Ready means serving: no retry needed.
			c := connect(t, sock)
			checkSectors(t, "read after READY=1", c.read(0, 2), 0, 0)
			_ = c.fe.Close()
			d.stopOK()
			if msg := nextNotification(t, n); msg != "STOPPING=1" {
				t.Errorf("notification at stop %q, want STOPPING=1", msg)
			}
		})
	}
}

// TestNotNotifiedWhenRefused checks that a daemon refusing its image (here:
// a wrong key) never reports READY=1.
func TestNotNotifiedWhenRefused(t *testing.T) {
	im := newCCMImage(t, 8)
	addr := filepath.Join(filepath.Dir(socketPath(t)), "notify")
	n := notifySocket(t, addr)
	wrong := writeKeyFile(t, t.TempDir(), "wrong.key", newKey(t, 32))
	cmd := exec.Command(daemonBin, "--socket-path", socketPath(t), "--blk-file", im.path, "--key-file", wrong)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+addr)
	d := startCmd(t, cmd)
	if code := d.wait(); code == 0 {
		t.Fatal("daemon served an image with a wrong key")
	}
	// The daemon has exited: anything it sent is queued already.
	_ = n.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	b := make([]byte, 64)
	if k, err := n.Read(b); err == nil {
		t.Errorf("refused daemon notified %q", b[:k])
	}
}

// TestKeyFD hands the key over a pipe (--key-fd 3).
func TestKeyFD(t *testing.T) {
	im := newCCMImage(t, 16)
	key, err := os.ReadFile(im.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		_, _ = w.Write(key)
		_ = w.Close()
	}()
	sock := socketPath(t)
	d := startDaemon(t, []*os.File{r}, "--socket-path", sock, "--num-queues", "1", "--blk-file", im.path, "--key-fd", "3")
	_ = r.Close()
	c := connect(t, sock)
	checkSectors(t, "read with --key-fd", c.read(0, 16), 0, 0)
	_ = c.fe.Close()
	d.stopOK()
}

// TestKeyFromCredentials runs the daemon as systemd runs a service with
// LoadCredential=: a relative --key-file names a file in
// $CREDENTIALS_DIRECTORY.
func TestKeyFromCredentials(t *testing.T) {
	im := newCCMImage(t, 16)
	creds := t.TempDir()
	key, err := os.ReadFile(im.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(creds, "disk.key"), key, 0o400); err != nil {
		t.Fatal(err)
	}
	sock := socketPath(t)
	cmd := exec.Command(daemonBin, "--socket-path", sock, "--num-queues", "1", "--blk-file", im.path, "--key-file", "disk.key")
	// The working directory holds no disk.key: only the credential can
	// be read.
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "CREDENTIALS_DIRECTORY="+creds)
	d := startCmd(t, cmd)
	c := connect(t, sock)
	checkSectors(t, "read with a credential key", c.read(0, 16), 0, 0)
	_ = c.fe.Close()
	d.stopOK()
}

// TestKeyFlagsRefused checks the mistakes with --key-fd.
func TestKeyFlagsRefused(t *testing.T) {
	im := newCCMImage(t, 8)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"--key-fd not open", []string{"--blk-file", im.path, "--key-fd", "9"}, "--key-fd 9: bad file descriptor"},
		{"--key-fd and --key-file", []string{"--blk-file", im.path, "--key-fd", "0", "--key-file", im.keyFile}, "not both"},
		{"--key-fd of garbage", []string{"--blk-file", im.path, "--key-fd", "0"}, "--key-fd 0 holds neither"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command(daemonBin, append([]string{"--socket-path", socketPath(t)}, c.args...)...)
			cmd.Stdin = strings.NewReader("not a key\n")
			d := startCmd(t, cmd)
			if code := d.wait(); code == 0 {
				t.Errorf("exit status 0, want non-zero")
			}
			if !strings.Contains(d.stderr.String(), c.want) {
				t.Errorf("stderr does not say %q:\n%s", c.want, d.stderr.String())
			}
		})
	}
}
