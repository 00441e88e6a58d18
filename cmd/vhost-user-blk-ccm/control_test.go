package main

import (
	"encoding/binary"
	"encoding/json"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ccmblk/ccmblk/tests/qmpclient"
	"github.com/ccmblk/ccmblk/vhostuser"
	"github.com/ccmblk/ccmblk/virtio"
)

// serveQMPDaemon starts the daemon with a control socket and returns it,
// the vhost-user socket and a negotiated QMP client.
func serveQMPDaemon(t *testing.T, args ...string) (*daemon, string, *qmpclient.Client) {
	t.Helper()
	qsock := socketPath(t)
	// The control socket listens before the vhost-user socket exists.
	d, sock := serve(t, append([]string{"--qmp-socket", qsock}, args...)...)
	q, err := qmpclient.Connect(qsock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = q.Close() })
	return d, sock, q
}

// resize runs block_resize on its own goroutine and returns its outcome.
func resize(q *qmpclient.Client, args map[string]any) <-chan error {
	ch := make(chan error, 1)
	go func() {
		_, err := q.Execute("block_resize", args)
		ch <- err
	}()
	return ch
}

// ackConfigChange plays QEMU 7.2's part of a resize: it reads the
// configuration change notice, reads the configuration with GET_CONFIG
// and acknowledges; it returns the capacity read.
func ackConfigChange(t *testing.T, c *client) uint64 {
	t.Helper()
	m, err := c.fe.ReadBackend(ioWait)
	c.must(err)
	if m.Req != vhostuser.BackendConfigChangeMsg || m.Flags&vhostuser.FlagNeedReply == 0 {
		t.Fatalf("back-end request %d flags %#x, want a configuration change asking for a reply", m.Req, m.Flags)
	}
	cfg, err := c.fe.GetConfig(0, 57)
	c.must(err)
	c.must(c.fe.AckBackend(m, 0))
	return binary.LittleEndian.Uint64(cfg)
}

func waitResize(t *testing.T, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(2 * ioWait):
		t.Fatal("block_resize did not return")
		return nil
	}
}

// TestQMPResize grows a CCM image through the control socket while a
// front end runs: block_resize returns once the front end has read the
// new capacity, the new last sector can be written and read, and the host
// decrypts the grown image: old data, encrypted zeros, the new sector.
func TestQMPResize(t *testing.T) {
	im := newCCMImage(t, 64)
	d, sock, q := serveQMPDaemon(t, im.args()...)
	c := connect(t, sock)
	if c.capacity() != 64 {
		t.Fatalf("capacity %d, want 64", c.capacity())
	}
	ch := resize(q, map[string]any{"node-name": "disk0", "size": 128 * sectorSize})
	if got := ackConfigChange(t, c); got != 128 {
		t.Fatalf("capacity after the notice %d, want 128", got)
	}
	if err := waitResize(t, ch); err != nil {
		t.Fatalf("block_resize: %v", err)
	}
	c.write(127, sectorData(1, 127))
	checkSectors(t, "new last sector", c.read(127, 1), 1, 127)
	if st, _ := c.do(virtio.BlkTIn, 128, nil, sectorSize); st != virtio.BlkSIOErr {
		t.Errorf("read past the new end: status %d", st)
	}
	// The same size again, and with device given, is a no-op.
	if _, err := q.Execute("block_resize", map[string]any{"device": "disk0", "size": 128 * sectorSize}); err != nil {
		t.Errorf("resize to the current size: %v", err)
	}
	stats := blockstats(t, q)
	if stats["wr_operations"] != json.Number("1") || stats["rd_operations"] != json.Number("1") || stats["invalid_rd_operations"] != json.Number("1") ||
		stats["wr_bytes"] != json.Number("512") || stats["inflight_operations"] != json.Number("0") {
		t.Errorf("stats after one write, one read and one out-of-range read: %v", stats)
	}
	if d.stop(os.Interrupt) != 0 {
		t.Fatalf("daemon failed:\n%s", d.stderr.String())
	}
	im.sectors = 128
	plain := im.plaintext(t)
	checkSectors(t, "old data", plain[:64*sectorSize], 0, 0)
	for i, b := range plain[64*sectorSize : 127*sectorSize] {
		if b != 0 {
			t.Fatalf("grown sector %d not zero", 64+i/sectorSize)
		}
	}
	checkSectors(t, "new last sector on the host", plain[127*sectorSize:], 1, 127)
}

// blockstats returns the totals of query-blockstats.
func blockstats(t *testing.T, q *qmpclient.Client) map[string]any {
	t.Helper()
	r, err := q.Execute("query-blockstats", nil)
	if err != nil {
		t.Fatal(err)
	}
	list, _ := r.([]any)
	if len(list) != 1 {
		t.Fatalf("query-blockstats: %v", r)
	}
	e := list[0].(map[string]any)
	if e["node-name"] != "disk0" || len(e["queues"].([]any)) != 1 {
		t.Fatalf("query-blockstats entry: %v", e)
	}
	return e["stats"].(map[string]any)
}

// TestQMPResizeRefused sends every misuse of block_resize: each gets an
// error naming the problem, and neither the capacity nor the image file
// changes.
func TestQMPResizeRefused(t *testing.T) {
	im := newCCMImage(t, 64)
	_, sock, q := serveQMPDaemon(t, im.args()...)
	c := connect(t, sock)
	before, err := os.Stat(im.path)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []struct {
		args map[string]any
		desc string
	}{
		{map[string]any{"size": 32 * sectorSize}, "Shrinking is not supported"},
		{map[string]any{"size": 100*sectorSize + 1}, "multiple of the sector size"},
		{map[string]any{"size": -512}, "expects a >0 size"},
		{map[string]any{"size": int64(1) << 62}, "Cannot grow to"},
		{map[string]any{"size": "1G"}, "Invalid parameter type for 'size', expected: integer"},
		{map[string]any{"size": 1536.5}, "Invalid parameter type for 'size', expected: integer"},
		{map[string]any{"device": "drive0", "size": 128 * sectorSize}, "Cannot find device='drive0'"},
		{map[string]any{"node-name": 5, "size": 128 * sectorSize}, "Invalid parameter type for 'node-name', expected: string"},
		{map[string]any{"device": "disk0"}, "Parameter 'size' is missing"},
		{map[string]any{"size": 128 * sectorSize, "shrink": true}, "Parameter 'shrink' is unexpected"},
	} {
		_, err := q.Execute("block_resize", m.args)
		if qmpclient.ErrorClass(err) != "GenericError" || !strings.Contains(err.Error(), m.desc) {
			t.Errorf("block_resize %v: %v; want a GenericError with %q", m.args, err, m.desc)
		}
	}
	// Malformed and oversized input on the same connection.
	for _, line := range []string{`{"execute": block_resize}`, `[1]`, `{"execute": "quit"}`,
		`{"execute": "block_resize", "arguments": {"size": ` + strings.Repeat("9", 70000) + `}}`} {
		if err := q.Send(line + "\n"); err != nil {
			t.Fatal(err)
		}
		m, err := q.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := qmpclient.Reply(m); err == nil {
			t.Errorf("%.40s...: no error", line)
		}
	}
	cfg, err := c.fe.GetConfig(0, 8)
	c.must(err)
	if got := binary.LittleEndian.Uint64(cfg); got != 64 {
		t.Errorf("capacity %d after refused resizes, want 64", got)
	}
	after, err := os.Stat(im.path)
	if err != nil {
		t.Fatal(err)
	}
	if after.Size() != before.Size() {
		t.Errorf("image size changed from %d to %d", before.Size(), after.Size())
	}
	checkSectors(t, "data after refused resizes", c.read(0, 64), 0, 0)
}

// TestQMPResizeReadOnly: a read-only disk cannot grow.
func TestQMPResizeReadOnly(t *testing.T) {
	im := newCCMImage(t, 64)
	_, _, q := serveQMPDaemon(t, append(im.args(), "--read-only")...)
	_, err := q.Execute("block_resize", map[string]any{"size": 128 * sectorSize})
	if err == nil || !strings.Contains(err.Error(), "read only") {
		t.Fatalf("resize of a read-only disk: %v", err)
	}
}

// TestQMPResizeNoFrontEnd grows a raw image while no front end is
// connected: block_resize returns at once (the notice is queued), the
// file grows, and the next front end reads the new capacity and, at its
// device start, gets the configuration change notice too.
func TestQMPResizeNoFrontEnd(t *testing.T) {
	path := rawImage(t, 64)
	_, sock, q := serveQMPDaemon(t, "--format", "raw", "--blk-file", path)
	if _, err := q.Execute("block_resize", map[string]any{"size": 96 * sectorSize}); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || st.Size() != 96*sectorSize {
		t.Fatalf("image after resize: %v, %v; want %d bytes", st, err, 96*sectorSize)
	}
	c := connect(t, sock)
	if c.capacity() != 96 {
		t.Fatalf("capacity %d, want 96", c.capacity())
	}
	if got := ackConfigChange(t, c); got != 96 {
		t.Fatalf("capacity after the device-start notice %d, want 96", got)
	}
	c.write(95, sectorData(2, 95))
	checkSectors(t, "new last sector", c.read(95, 1), 2, 95)
}

// TestQMPInheritedListener serves the control socket on an inherited
// listening descriptor (--qmp-fd 3).
func TestQMPInheritedListener(t *testing.T) {
	im := newCCMImage(t, 64)
	qsock := socketPath(t)
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: qsock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	f, err := l.File()
	if err != nil {
		t.Fatal(err)
	}
	sock := socketPath(t)
	d := startDaemon(t, []*os.File{f}, append([]string{"--socket-path", sock, "--qmp-fd", "3", "--num-queues", "1"}, im.args()...)...)
	l.SetUnlinkOnClose(false)
	_ = l.Close()
	_ = f.Close()
	d.waitSocket(sock)
	q, err := qmpclient.Connect(qsock)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if _, err := q.Execute("block_resize", map[string]any{"size": 96 * sectorSize}); err != nil {
		t.Fatal(err)
	}
	c := connect(t, sock)
	if c.capacity() != 96 {
		t.Errorf("capacity %d after block_resize through --qmp-fd, want 96", c.capacity())
	}
	d.stopOK()
}
