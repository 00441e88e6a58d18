package main

import (
	"bytes"
	"encoding/binary"
	"os"
	"testing"

	"github.com/ccmblk/ccmblk/vhostuser"
	"github.com/ccmblk/ccmblk/vhostuser/vhostusertest"
	"github.com/ccmblk/ccmblk/virtio"
)

// serve starts the daemon on a fresh socket with args and returns it and
// the socket path.
func serve(t *testing.T, args ...string) (*daemon, string) {
	t.Helper()
	sock := socketPath(t)
	d := startDaemon(t, nil, append([]string{"--socket-path", sock, "--num-queues", "1"}, args...)...)
	d.waitSocket(sock)
	return d, sock
}

// TestFrontEndGoesAway disconnects front ends abruptly, during the
// handshake, after acknowledged writes and in the middle of large requests
// (some taken, some still in the ring): the daemon keeps running and serves
// the next front end the data.
func TestFrontEndGoesAway(t *testing.T) {
	const per = bigSlot / sectorSize
	im := newCCMImage(t, 2*maxSlots*per)
	d, sock := serve(t, im.args()...)

	// Gone during the handshake.
	fe := dial(t, sock, vhostusertest.Options{})
	if _, err := fe.GetU64(vhostuser.GetFeatures); err != nil {
		t.Fatal(err)
	}
	if err := fe.Close(); err != nil {
		t.Fatal(err)
	}

	// Gone after acknowledged writes, without stopping its ring.
	c1 := connect(t, sock)
	c1.write(0, sectorsData(1, 0, 8))
	c1.must(c1.fe.Close())

	// Gone while its requests run: the first half kicked, the second half
	// posted after the kick and never kicked.
	c2 := connectSlots(t, sock, bigSlot)
	for slot := range maxSlots {
		s := (maxSlots + slot) * per
		c2.post(slot, virtio.BlkTOut, uint64(s), sectorsData(2, s, per), 0)
		if slot == maxSlots/2 {
			c2.must(c2.fe.Kick(0))
		}
	}
	c2.must(c2.fe.Close())

	c3 := connectSlots(t, sock, bigSlot)
	all := c3.readAll(im.sectors)
	checkSectors(t, "acknowledged write", all[:8*sectorSize], 1, 0)
	checkSectors(t, "untouched", all[8*sectorSize:maxSlots*bigSlot], 0, 8)
	checkEither(t, "writes cut off", all[maxSlots*bigSlot:], 0, 2, maxSlots*per)
	c3.write(1, sectorsData(3, 1, 1))
	checkSectors(t, "write in the next session", c3.read(1, 1), 3, 1)
	if !d.running() {
		t.Fatal("daemon exited")
	}
	d.stopOK()
	checkEither(t, "image after exit", im.plaintext(t)[maxSlots*bigSlot:], 0, 2, maxSlots*per)
}

// TestReadOnly serves images with --read-only: the front end is offered
// VIRTIO_BLK_F_RO, writes fail with IOERR, reads work, the image is open
// read-only and unchanged afterwards.
func TestReadOnly(t *testing.T) {
	for _, format := range []string{"ccm", "raw"} {
		t.Run(format, func(t *testing.T) {
			var path string
			var args []string
			if format == "ccm" {
				im := newCCMImage(t, 64)
				path, args = im.path, im.args()
			} else {
				path = rawImage(t, 64)
				args = []string{"--blk-file", path, "--format", "raw"}
			}
			// Root ignores the mode; the descriptor check below does not.
			if err := os.Chmod(path, 0o444); err != nil {
				t.Fatal(err)
			}
			before, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			d, sock := serve(t, append(args, "--read-only")...)
			c := connect(t, sock)
			checkOpenReadOnly(t, d.pid(), path)
			if c.info.Features&virtio.BlkFRO == 0 {
				t.Errorf("features %#x lack VIRTIO_BLK_F_RO", c.info.Features)
			}
			if st, _ := c.do(virtio.BlkTOut, 3, sectorsData(1, 3, 2), 0); st != virtio.BlkSIOErr {
				t.Errorf("write status %d, want IOERR (%d)", st, virtio.BlkSIOErr)
			}
			checkSectors(t, "read", c.read(0, 64), 0, 0)
			d.stopOK()
			after, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(before, after) {
				t.Errorf("read-only image changed")
			}
		})
	}
}

// TestRawFormat serves a plain file with --format raw: reads return the
// file, writes land in it.
func TestRawFormat(t *testing.T) {
	path := rawImage(t, 128)
	d, sock := serve(t, "--blk-file", path, "--format", "raw")
	c := connect(t, sock)
	if got := c.capacity(); got != 128 {
		t.Errorf("capacity %d, want 128", got)
	}
	checkSectors(t, "read", c.read(0, 128), 0, 0)
	c.write(17, sectorsData(1, 17, 3))
	checkSectors(t, "read back", c.read(17, 3), 1, 17)
	d.stopOK()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	checkSectors(t, "file", b[:17*sectorSize], 0, 0)
	checkSectors(t, "file", b[17*sectorSize:20*sectorSize], 1, 17)
	checkSectors(t, "file", b[20*sectorSize:], 0, 20)
}

// TestGeometry checks what the front end learns of the disk from the
// flags: 4096-byte image sectors give blk_size 4096 and the capacity in
// 512-byte units, and --num-queues is the queue count offered.
func TestGeometry(t *testing.T) {
	im := newCCMImageP(t, 64, 4096)
	sock := socketPath(t)
	d := startDaemon(t, nil, append([]string{"--socket-path", sock, "--num-queues", "3"}, im.args()...)...)
	c := connect(t, sock)
	if c.info.QueueNum != 3 {
		t.Errorf("GET_QUEUE_NUM %d, want 3", c.info.QueueNum)
	}
	cfg := c.info.Config
	if got := binary.LittleEndian.Uint16(cfg[34:]); got != 3 {
		t.Errorf("config num_queues %d, want 3", got)
	}
	if got := binary.LittleEndian.Uint32(cfg[20:]); got != 4096 {
		t.Errorf("config blk_size %d, want 4096", got)
	}
	if got := c.capacity(); got != 64 {
		t.Errorf("capacity %d, want 64", got)
	}
	// One image sector is eight request sectors.
	checkSectors(t, "read", c.read(8, 16), 0, 8)
	c.write(16, sectorsData(1, 16, 8))
	if st, _ := c.do(virtio.BlkTOut, 4, sectorsData(1, 4, 1), 0); st != virtio.BlkSIOErr {
		t.Errorf("write of part of an image sector: status %d, want IOERR", st)
	}
	d.stopOK()
	plain := im.plaintext(t)
	checkSectors(t, "image after exit", plain[:16*sectorSize], 0, 0)
	checkSectors(t, "image after exit", plain[16*sectorSize:24*sectorSize], 1, 16)
	checkSectors(t, "image after exit", plain[24*sectorSize:], 0, 24)
}
