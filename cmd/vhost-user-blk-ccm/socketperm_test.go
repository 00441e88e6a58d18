package main

import (
	"errors"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// otherGroup returns a group the test process is not primarily in.
func otherGroup(t *testing.T) *user.Group {
	t.Helper()
	for _, name := range []string{"daemon", "nogroup", "bin"} {
		if g, err := user.LookupGroup(name); err == nil && g.Gid != strconv.Itoa(os.Getgid()) {
			return g
		}
	}
	t.Fatal("no group daemon, nogroup or bin in /etc/group")
	return nil
}

// TestSocketGroupAndMode starts a daemon with --socket-group and
// --socket-mode twice on one path (a restart) while inotify watches the
// socket's directory: the socket must appear at the path only by a rename
// (never created there, never changed there), so that a front end never
// meets it without its final group and mode; it then has them, and serves.
func TestSocketGroupAndMode(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("--socket-group to a group the user is not in needs root: run the tests as root")
	}
	im := newCCMImage(t, 16)
	g := otherGroup(t)
	gid, _ := strconv.Atoi(g.Gid)
	sock := socketPath(t)
	args := append([]string{"--socket-path", sock, "--socket-group", g.Name, "--socket-mode", "0640", "--num-queues", "1"}, im.args()...)
	for run := range 2 {
		w := watchDir(t, filepath.Dir(sock))
		d := startDaemon(t, nil, args...)
		c := connect(t, sock)
		checkSectors(t, "read", c.read(0, 4), 0, 0)
		st, err := os.Lstat(sock)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Type() != os.ModeSocket || st.Mode().Perm() != 0o640 || int(st.Sys().(*syscall.Stat_t).Gid) != gid {
			t.Errorf("run %d: socket %v group %d, want a socket 0640 group %d", run, st.Mode(), st.Sys().(*syscall.Stat_t).Gid, gid)
		}
		if ev := w.events(t, filepath.Base(sock)); len(ev) != 1 || ev[0] != unix.IN_MOVED_TO {
			t.Errorf("run %d: inotify events on the socket path %#x, want one IN_MOVED_TO (%#x)", run, ev, unix.IN_MOVED_TO)
		}
		_ = c.fe.Close()
		d.stopOK()
		if _, err := os.Lstat(sock); err == nil {
			t.Errorf("run %d: socket left behind after a graceful stop", run)
		}
	}
}

// dirWatch is an inotify watch of a directory's entries being created,
// moved in, or changed in attributes.
type dirWatch struct{ fd int }

func watchDir(t *testing.T, dir string) *dirWatch {
	t.Helper()
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Close(fd) })
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_CREATE|unix.IN_MOVED_TO|unix.IN_ATTRIB); err != nil {
		t.Fatal(err)
	}
	return &dirWatch{fd: fd}
}

// events returns the event masks queued so far for the entry name.
func (w *dirWatch) events(t *testing.T, name string) []uint32 {
	t.Helper()
	var out []uint32
	buf := make([]byte, 64<<10)
	for {
		n, err := unix.Read(w.fd, buf)
		if errors.Is(err, unix.EAGAIN) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			nameBytes := buf[off+unix.SizeofInotifyEvent : off+unix.SizeofInotifyEvent+int(ev.Len)]
			if strings.TrimRight(string(nameBytes), "\x00") == name {
				out = append(out, ev.Mask)
			}
			off += unix.SizeofInotifyEvent + int(ev.Len)
		}
	}
}

// TestSocketModeDefault checks the default: owner and group may connect,
// others not.
func TestSocketModeDefault(t *testing.T) {
	im := newCCMImage(t, 16)
	d, sock := serve(t, im.args()...)
	st, err := os.Lstat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != defaultSocketMode || int(st.Sys().(*syscall.Stat_t).Gid) != os.Getegid() {
		t.Errorf("socket %v group %d, want %04o group %d", st.Mode(), st.Sys().(*syscall.Stat_t).Gid, defaultSocketMode, os.Getegid())
	}
	d.stopOK()
}

// TestSocketFlagsRefused checks the mistakes with the socket flags.
func TestSocketFlagsRefused(t *testing.T) {
	im := newCCMImage(t, 8)
	l, f := listeningFile(t)
	defer l.Close()
	cases := []struct {
		name  string
		extra []*os.File
		args  []string
		want  string
	}{
		{"unknown group", nil, []string{"--socket-path", socketPath(t), "--socket-group", "no-such-group-x"}, "--socket-group no-such-group-x: no such group"},
		{"mode not octal", nil, []string{"--socket-path", socketPath(t), "--socket-mode", "rw"}, "want an octal mode"},
		{"mode with setuid", nil, []string{"--socket-path", socketPath(t), "--socket-mode", "4660"}, "want an octal mode"},
		{"group with --fd", []*os.File{f}, []string{"--fd", "3", "--socket-group", "0"}, "SocketGroup="},
		{"path too long", nil, []string{"--socket-path", "/tmp/" + strings.Repeat("d", 100) + "/s"}, "too long"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := startDaemon(t, c.extra, append(c.args, im.args()...)...)
			if code := d.wait(); code == 0 {
				t.Errorf("exit status 0, want non-zero")
			}
			if !strings.Contains(d.stderr.String(), c.want) {
				t.Errorf("stderr does not say %q:\n%s", c.want, d.stderr.String())
			}
		})
	}
}

// listeningFile returns a listening unix socket and a file for its
// descriptor, to pass to the daemon.
func listeningFile(t *testing.T) (*net.UnixListener, *os.File) {
	t.Helper()
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: socketPath(t), Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	f, err := l.File()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return l, f
}
