package main

import (
	"os"
	"syscall"
	"testing"

	"github.com/ccmblk/ccmblk/virtio"
)

// TestSignalStopsGracefully stops the daemon with SIGTERM or SIGINT while
// a front end is connected and its writes were acknowledged: it must exit
// 0 and the image must hold the writes.
func TestSignalStopsGracefully(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			im := newCCMImage(t, 256)
			d, sock := serve(t, im.args()...)
			c := connect(t, sock)
			c.write(10, sectorsData(1, 10, 8))
			c.write(200, sectorsData(1, 200, 56))
			checkSectors(t, "read", c.read(8, 2), 0, 8)
			checkSectors(t, "read back", c.read(10, 8), 1, 10)
			if code := d.stop(sig); code != 0 {
				t.Fatalf("exit status %d after %v, want 0", code, sig)
			}
			plain := im.plaintext(t)
			checkSectors(t, "image after exit", plain[:10*sectorSize], 0, 0)
			checkSectors(t, "image after exit", plain[10*sectorSize:18*sectorSize], 1, 10)
			checkSectors(t, "image after exit", plain[18*sectorSize:200*sectorSize], 0, 18)
			checkSectors(t, "image after exit", plain[200*sectorSize:], 1, 200)
		})
	}
}

// bigSlot is the request size of the tests that stop the daemon or drop
// the connection while requests run: large enough that the daemon is still
// encrypting when the signal or the disconnect arrives.
const bigSlot = 512 << 10

// TestSignalWithRequestsInFlight sends SIGTERM right after kicking a queue
// full of large writes: the daemon must finish what it took, exit 0, and
// leave an image whose every sector authenticates and holds the old or the
// new data; every request it completed is in the image.
func TestSignalWithRequestsInFlight(t *testing.T) {
	const per = bigSlot / sectorSize
	im := newCCMImage(t, maxSlots*per)
	d, sock := serve(t, im.args()...)
	c := connectSlots(t, sock, bigSlot)
	for slot := range maxSlots {
		c.post(slot, virtio.BlkTOut, uint64(slot*per), sectorsData(1, slot*per, per), 0)
	}
	c.must(c.fe.Kick(0))
	if code := d.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("exit status %d after SIGTERM, want 0", code)
	}
	plain := im.plaintext(t)
	done := 0
	for {
		u, ok, err := c.ring.Poll()
		c.must(err)
		if !ok {
			break
		}
		slot := int(u.ID) / 3
		if st := c.status(slot); st != virtio.BlkSOK {
			t.Errorf("request %d completed with status %d", slot, st)
		}
		checkSectors(t, "completed write", plain[slot*bigSlot:(slot+1)*bigSlot], 1, slot*per)
		done++
	}
	t.Logf("%d of %d writes completed before the daemon stopped", done, maxSlots)
	checkEither(t, "image after exit", plain, 0, 1, 0)
}

// TestSignalRightAfterStart sends SIGTERM as soon as the socket exists, as
// a supervisor stopping a daemon it just started does: the stop must be
// graceful (exit 0), not the signal's default action.
func TestSignalRightAfterStart(t *testing.T) {
	im := newCCMImage(t, 16)
	for range 5 {
		sock := socketPath(t)
		d := startDaemon(t, nil, append([]string{"--socket-path", sock}, im.args()...)...)
		for {
			if st, err := os.Lstat(sock); err == nil && st.Mode().Type() == os.ModeSocket {
				break
			}
			if !d.running() {
				t.Fatalf("daemon exited (%v) before creating its socket", d.state)
			}
		}
		if code := d.stop(syscall.SIGTERM); code != 0 {
			t.Fatalf("exit status %d after SIGTERM, want 0", code)
		}
	}
}
