package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ccmblk/ccmblk/vhostuser"
	"github.com/ccmblk/ccmblk/virtio"
)

// notServed checks that a request posted to c gets no completion: the
// daemon behind c does not hold the image.
func (c *client) notServed() {
	c.t.Helper()
	c.post(0, virtio.BlkTIn, 0, nil, sectorSize)
	c.must(c.fe.Kick(0))
	if u, err := c.ring.Wait(500 * time.Millisecond); err == nil {
		c.t.Fatalf("request served (used %+v) by a daemon without the image lock", u)
	}
}

// waitLog waits until d's log holds want.
func (d *daemon) waitLog(want string) {
	d.t.Helper()
	for deadline := time.Now().Add(exitWait); !strings.Contains(d.stderr.String(), want); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			d.t.Fatalf("daemon log lacks %q:\n%s", want, d.stderr.String())
		}
	}
}

// TestIncomingHandoff plays the image handoff of a live migration with two
// daemons on one image: the --incoming one answers the configuration but
// serves nothing while the other holds the image, and says so after its
// bounded wait; once the source's rings stop (GET_VRING_BASE) it flushes
// and releases the image, and the destination serves what the source
// wrote; the source then refuses to serve again while the destination
// holds the image. Both exit 0.
func TestIncomingHandoff(t *testing.T) {
	im := newCCMImage(t, 16)
	src, sockA := serve(t, im.args()...)
	dst, sockB := serve(t, append(im.args(), "--incoming", "--incoming-lock-wait", "300ms")...)

	early := connect(t, sockB)
	if got := early.capacity(); got != 16 {
		t.Errorf("capacity %d from the incoming daemon, want 16", got)
	}
	dst.waitLog("not serving")
	early.notServed()
	if err := early.fe.Close(); err != nil {
		t.Fatal(err)
	}

	a := connect(t, sockA)
	a.write(3, sectorsData(7, 3, 2))
	if _, err := a.fe.Stop(a.ring); err != nil {
		t.Fatal(err)
	}
	src.waitLog("lock released")

	b := connect(t, sockB)
	checkSectors(t, "read on the destination", b.read(3, 2), 7, 3)
	b.write(5, sectorsData(8, 5, 1))

	// A cancelled migration's rings starting again on the source: the
	// destination holds the image, so the source must not serve.
	if err := a.fe.Start(a.info.Features&^vhostuser.FeatureProtocolFeatures&^vhostuser.FeatureLogAll, a.ring); err != nil {
		t.Fatal(err)
	}
	src.waitLog("another daemon, the other end of a migration, serves it")
	a.notServed()
	dst.stopOK()
	src.stopOK()
	checkSectors(t, "image after both daemons", im.plaintext(t)[5*sectorSize:6*sectorSize], 8, 5)
}

// TestIncomingRefusesResize checks that a daemon that does not hold the
// image (--incoming, before its guest started) refuses block_resize: it
// would change an image another daemon serves.
func TestIncomingRefusesResize(t *testing.T) {
	im := newCCMImage(t, 16)
	src, _ := serve(t, im.args()...)
	dst, _, q := serveQMPDaemon(t, append(im.args(), "--incoming")...)
	err := waitResize(t, resize(q, map[string]any{"node-name": nodeName, "size": 32 * sectorSize}))
	if err == nil || !strings.Contains(err.Error(), "does not hold the image") {
		t.Errorf("block_resize on an --incoming daemon = %v, want a refusal", err)
	}
	dst.stopOK()
	src.stopOK()
	if got := len(im.plaintext(t)); got != 16*sectorSize {
		t.Errorf("image holds %d bytes after the refused resize, want %d", got, 16*sectorSize)
	}
}

// TestIncomingAdoptsGrowth: the source grows the image (block_resize)
// after the --incoming destination opened it. When the destination takes
// the image over it re-reads its size, serves the new sectors, and tells
// its front end at that device start, as QEMU's destination read the old
// size when it started.
func TestIncomingAdoptsGrowth(t *testing.T) {
	im := newCCMImage(t, 16)
	src, sockA, q := serveQMPDaemon(t, im.args()...)
	dst, sockB := serve(t, append(im.args(), "--incoming", "--incoming-lock-wait", "300ms")...)
	early := connect(t, sockB)
	if got := early.capacity(); got != 16 {
		t.Fatalf("capacity %d from the incoming daemon, want 16", got)
	}
	dst.waitLog("not serving")
	if err := early.fe.Close(); err != nil {
		t.Fatal(err)
	}

	a := connect(t, sockA)
	r := resize(q, map[string]any{"node-name": nodeName, "size": 32 * sectorSize})
	if got := ackConfigChange(t, a); got != 32 {
		t.Fatalf("source: capacity %d after block_resize, want 32", got)
	}
	if err := waitResize(t, r); err != nil {
		t.Fatal(err)
	}
	a.write(24, sectorsData(9, 24, 2))
	if _, err := a.fe.Stop(a.ring); err != nil {
		t.Fatal(err)
	}
	src.waitLog("lock released")

	b := connect(t, sockB)
	if got := ackConfigChange(t, b); got != 32 {
		t.Fatalf("destination: capacity %d at its device start, want 32", got)
	}
	dst.waitLog("grew to 16384 bytes while another daemon held it")
	checkSectors(t, "read on the destination", b.read(24, 2), 9, 24)
	b.write(30, sectorsData(10, 30, 2))
	dst.stopOK()
	src.stopOK()
	im.sectors = 32
	checkSectors(t, "image after both daemons", im.plaintext(t)[30*sectorSize:32*sectorSize], 10, 30)
}

// TestIncomingRefusesChangedImage: whoever can write the image's storage
// changes it while the --incoming destination waits for it (shrinks it,
// or overwrites sector 0 so that it no longer authenticates under the
// key). When the destination takes the image over it reads both again,
// refuses to serve, says why, and still exits 0 on SIGTERM.
func TestIncomingRefusesChangedImage(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(path string) error
		want   string
	}{
		{"shrunk", func(path string) error { return os.Truncate(path, 8*2*sectorSize) }, "fewer than its capacity"},
		{"sector0", func(path string) error {
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = f.WriteAt(bytes.Repeat([]byte{0xa5}, 2*sectorSize), 0)
			return err
		}, "sector 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			im := newCCMImage(t, 16)
			src, sockA := serve(t, im.args()...)
			dst, sockB := serve(t, append(im.args(), "--incoming", "--incoming-lock-wait", "300ms")...)
			early := connect(t, sockB)
			dst.waitLog("not serving")
			if err := early.fe.Close(); err != nil {
				t.Fatal(err)
			}

			a := connect(t, sockA)
			if _, err := a.fe.Stop(a.ring); err != nil {
				t.Fatal(err)
			}
			src.waitLog("lock released")
			if err := tc.change(im.path); err != nil {
				t.Fatal(err)
			}

			b := connect(t, sockB)
			b.notServed()
			dst.waitLog("changed while this daemon did not hold it")
			dst.waitLog(tc.want)
			dst.stopOK()
			src.stopOK()
		})
	}
}
