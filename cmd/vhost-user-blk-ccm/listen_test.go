package main

import (
	"net"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestInheritedListener passes a listening socket as descriptor 3 (--fd 3)
// and serves a front end that connects to it.
func TestInheritedListener(t *testing.T) {
	im := newCCMImage(t, 64)
	sock := socketPath(t)
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	f, err := l.File()
	if err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, []*os.File{f}, append([]string{"--fd", "3", "--num-queues", "1"}, im.args()...)...)
	// Only the daemon holds the listener now; the path stays.
	l.SetUnlinkOnClose(false)
	_ = l.Close()
	_ = f.Close()

	c := connect(t, sock)
	if got := c.capacity(); got != 64 {
		t.Errorf("capacity %d, want 64", got)
	}
	checkSectors(t, "read through --fd", c.read(5, 7), 0, 5)
	d.stopOK()
}

// TestStaleSocketReplaced starts the daemon where an earlier run left its
// socket file: the daemon replaces it and serves on it.
func TestStaleSocketReplaced(t *testing.T) {
	im := newCCMImage(t, 16)
	sock := socketPath(t)
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	_ = l.Close()
	d := startDaemon(t, nil, append([]string{"--socket-path", sock, "--num-queues", "1"}, im.args()...)...)
	c := connect(t, sock)
	checkSectors(t, "read", c.read(0, 16), 0, 0)
	d.stopOK()
}

// TestLiveSocketNotTaken starts a second daemon on the socket path of a
// running one: the second must refuse to start rather than take the path,
// and the first must go on serving on it.
func TestLiveSocketNotTaken(t *testing.T) {
	im := newCCMImage(t, 16)
	d, sock := serve(t, im.args()...)
	code, _, stderr := runDaemon(t, append([]string{"--socket-path", sock}, im.args()...)...)
	if code == 0 || !strings.Contains(stderr, "in use") {
		t.Errorf("second daemon on a live socket: exit status %d, stderr:\n%s\nwant non-zero and a message saying the socket is in use", code, stderr)
	}
	c := connect(t, sock)
	checkSectors(t, "read from the first daemon", c.read(0, 16), 0, 0)
	d.stopOK()
}

// TestInheritedDescriptorRefused passes descriptors that are not listening
// unix stream sockets as --fd 3, and none at all as --fd 100: the daemon must
// refuse to start rather than fail every accept.
func TestInheritedDescriptorRefused(t *testing.T) {
	im := newCCMImage(t, 16)
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	connected := os.NewFile(uintptr(pair[0]), "connected")
	peer := os.NewFile(uintptr(pair[1]), "peer")
	defer connected.Close()
	defer peer.Close()
	seq, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: socketPath(t), Net: "unixpacket"})
	if err != nil {
		t.Fatal(err)
	}
	defer seq.Close()
	seqFile, err := seq.File()
	if err != nil {
		t.Fatal(err)
	}
	defer seqFile.Close()
	tcp, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	tcpFile, err := tcp.File()
	if err != nil {
		t.Fatal(err)
	}
	defer tcpFile.Close()
	regular, err := os.Open(im.path)
	if err != nil {
		t.Fatal(err)
	}
	defer regular.Close()
	cases := []struct {
		name string
		fd   string
		file *os.File
		want string
	}{
		{"connected socket", "3", connected, "not a listening socket"},
		{"seqpacket listener", "3", seqFile, "not a stream socket"},
		{"tcp listener", "3", tcpFile, "not a listening unix socket"},
		{"regular file", "3", regular, "socket operation on non-socket"},
		{"closed descriptor", "100", nil, "bad file descriptor"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var extra []*os.File
			if c.file != nil {
				extra = []*os.File{c.file}
			}
			d := startDaemon(t, extra, append([]string{"--fd", c.fd}, im.args()...)...)
			if code := d.wait(); code == 0 {
				t.Errorf("exit status 0, want non-zero")
			}
			if stderr := d.stderr.String(); !strings.Contains(stderr, "--fd "+c.fd) || !strings.Contains(stderr, c.want) {
				t.Errorf("stderr does not say --fd %s: %s:\n%s", c.fd, c.want, stderr)
			}
		})
	}
}
