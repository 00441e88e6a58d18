package main

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/ccmblk/ccmblk/ccm"
	"github.com/ccmblk/ccmblk/ccm/holes"
	"github.com/ccmblk/ccmblk/virtio"
)

// segments encodes DISCARD or WRITE_ZEROES segments {sector, count, flags}.
func segments(segs ...[3]uint64) []byte {
	b := make([]byte, 16*len(segs))
	for i, s := range segs {
		binary.LittleEndian.PutUint64(b[16*i:], s[0])
		binary.LittleEndian.PutUint32(b[16*i+8:], uint32(s[1]))
		binary.LittleEndian.PutUint32(b[16*i+12:], uint32(s[2]))
	}
	return b
}

// zero runs a DISCARD or WRITE_ZEROES request and returns its status.
func (c *client) zero(typ uint32, segs ...[3]uint64) uint8 {
	c.t.Helper()
	st, _ := c.do(typ, 0, segments(segs...), 0)
	return st
}

// allocated returns the bytes path occupies on disk.
func allocated(t *testing.T, path string) int64 {
	t.Helper()
	a, err := holes.Allocated(path)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// zeroConfig is what the front end reads of the discard and write-zeroes
// configuration: max_discard_sectors, max_discard_seg,
// discard_sector_alignment, max_write_zeroes_sectors, max_write_zeroes_seg
// and write_zeroes_may_unmap.
func (c *client) zeroConfig() [6]uint32 {
	cfg := c.info.Config
	le := binary.LittleEndian
	return [6]uint32{le.Uint32(cfg[36:]), le.Uint32(cfg[40:]), le.Uint32(cfg[44:]), le.Uint32(cfg[48:]), le.Uint32(cfg[52:]), uint32(cfg[56])}
}

const (
	unmap    = 1
	mib      = 2048 // 512-byte sectors
	zeroDisk = 8 * mib
)

// checkZeroed reads the disk and checks that [from, to) reads as zeros and
// the rest holds generation 0.
func checkZeroed(t *testing.T, c *client, n int, zeroed ...[2]int) {
	t.Helper()
	all := c.readAll(n)
	s := 0
	for _, z := range zeroed {
		checkSectors(t, "kept", all[s*sectorSize:z[0]*sectorSize], 0, s)
		for i, b := range all[z[0]*sectorSize : z[1]*sectorSize] {
			if b != 0 {
				t.Fatalf("byte %d of zeroed sectors [%d, %d) is %#x", i, z[0], z[1], b)
			}
		}
		s = z[1]
	}
	checkSectors(t, "kept", all[s*sectorSize:], 0, s)
}

// TestZeroingRaw: a raw image offers DISCARD and WRITE_ZEROES, may unmap,
// and frees the space of discarded and unmapped ranges.
func TestZeroingRaw(t *testing.T) {
	path := rawImage(t, zeroDisk)
	d, sock := serve(t, "--blk-file", path, "--format", "raw")
	c := connectSlots(t, sock, bigSlot)
	if f := c.info.Features; f&virtio.BlkFDiscard == 0 || f&virtio.BlkFWriteZeroes == 0 {
		t.Fatalf("features %#x lack DISCARD or WRITE_ZEROES", f)
	}
	if got, want := c.zeroConfig(), [6]uint32{32768, 8, 1, 32768, 8, 1}; got != want {
		t.Errorf("config %v, want %v", got, want)
	}
	before := allocated(t, path)
	if st := c.zero(virtio.BlkTDiscard, [3]uint64{0, 2 * mib, 0}); st != virtio.BlkSOK {
		t.Fatalf("DISCARD status %d", st)
	}
	if st := c.zero(virtio.BlkTWriteZeroes, [3]uint64{4 * mib, mib, unmap}, [3]uint64{5 * mib, mib, unmap}); st != virtio.BlkSOK {
		t.Fatalf("WRITE_ZEROES unmap status %d", st)
	}
	if st := c.zero(virtio.BlkTWriteZeroes, [3]uint64{7 * mib, 100, 0}); st != virtio.BlkSOK {
		t.Fatalf("WRITE_ZEROES status %d", st)
	}
	checkZeroed(t, c, zeroDisk, [2]int{0, 2 * mib}, [2]int{4 * mib, 6 * mib}, [2]int{7 * mib, 7*mib + 100})
	if after := allocated(t, path); after > before-3<<20 {
		t.Errorf("allocated %d bytes before, %d after freeing 4 MiB", before, after)
	}
	d.stopOK()
}

// TestZeroingCCM: a default CCM image offers WRITE_ZEROES only, which
// stores encrypted zeros whatever the unmap flag says.
func TestZeroingCCM(t *testing.T) {
	im := newCCMImage(t, zeroDisk)
	d, sock := serve(t, im.args()...)
	c := connectSlots(t, sock, bigSlot)
	if f := c.info.Features; f&virtio.BlkFDiscard != 0 || f&virtio.BlkFWriteZeroes == 0 {
		t.Fatalf("features %#x: want WRITE_ZEROES without DISCARD", f)
	}
	if got, want := c.zeroConfig(), [6]uint32{0, 0, 0, 32768, 8, 0}; got != want {
		t.Errorf("config %v, want %v", got, want)
	}
	before := allocated(t, im.path)
	if st := c.zero(virtio.BlkTDiscard, [3]uint64{0, 8, 0}); st != virtio.BlkSUnsupp {
		t.Errorf("DISCARD status %d, want UNSUPP", st)
	}
	if st := c.zero(virtio.BlkTWriteZeroes, [3]uint64{mib, mib, unmap}, [3]uint64{3 * mib, 10, 0}); st != virtio.BlkSOK {
		t.Fatalf("WRITE_ZEROES status %d", st)
	}
	checkZeroed(t, c, zeroDisk, [2]int{mib, 2 * mib}, [2]int{3 * mib, 3*mib + 10})
	d.stopOK()
	if after := allocated(t, im.path); after < before {
		t.Errorf("default CCM image freed space: %d bytes before, %d after", before, after)
	}
	// Every sector still authenticates without --sparse.
	plain := im.plaintext(t)
	checkSectors(t, "host", plain[:mib*sectorSize], 0, 0)
}

// TestZeroingCCMSparse: --sparse offers DISCARD, punches holes over whole
// slots, and the daemon starts again on an image whose sector 0 is
// unwritten (but not with a wrong key).
func TestZeroingCCMSparse(t *testing.T) {
	im := newCCMImage(t, zeroDisk)
	args := append(im.args(), "--sparse")
	d, sock := serve(t, args...)
	c := connectSlots(t, sock, bigSlot)
	if f := c.info.Features; f&virtio.BlkFDiscard == 0 || f&virtio.BlkFWriteZeroes == 0 {
		t.Fatalf("features %#x lack DISCARD or WRITE_ZEROES", f)
	}
	if got, want := c.zeroConfig(), [6]uint32{32768, 8, 1, 32768, 8, 1}; got != want {
		t.Errorf("config %v, want %v", got, want)
	}
	before := allocated(t, im.path)
	if st := c.zero(virtio.BlkTDiscard, [3]uint64{0, 2 * mib, 0}); st != virtio.BlkSOK {
		t.Fatalf("DISCARD status %d", st)
	}
	if st := c.zero(virtio.BlkTWriteZeroes, [3]uint64{4 * mib, 2 * mib, unmap}); st != virtio.BlkSOK {
		t.Fatalf("WRITE_ZEROES unmap status %d", st)
	}
	if st := c.zero(virtio.BlkTWriteZeroes, [3]uint64{7 * mib, 8, 0}); st != virtio.BlkSOK {
		t.Fatalf("WRITE_ZEROES status %d", st)
	}
	checkZeroed(t, c, zeroDisk, [2]int{0, 2 * mib}, [2]int{4 * mib, 6 * mib}, [2]int{7 * mib, 7*mib + 8})
	d.stopOK()
	// 4 MiB of plaintext is 8 MiB of slots.
	if after := allocated(t, im.path); after > before-7<<20 {
		t.Errorf("allocated %d bytes before, %d after freeing 8 MiB of slots", before, after)
	}
	// Without --sparse, sector 0 is now unwritten: refused.
	if code, _, stderr := runDaemon(t, append([]string{"--socket-path", socketPath(t)}, im.args()...)...); code == 0 || !strings.Contains(stderr, "sector 0 does not authenticate") {
		t.Errorf("default start on a punched image: exit %d, %s", code, stderr)
	}
	// With --sparse but a wrong key, the first written sector tells.
	wrong := writeKeyFile(t, t.TempDir(), "wrong.key", newKey(t, 32))
	bad := append(im.args(), "--sparse", "--key-file", wrong, "--socket-path", socketPath(t))
	if code, _, stderr := runDaemon(t, bad...); code == 0 || !strings.Contains(stderr, "sector 4096 does not authenticate") {
		t.Errorf("sparse start with a wrong key: exit %d, %s", code, stderr)
	}
	d, sock = serve(t, args...)
	c = connectSlots(t, sock, bigSlot)
	checkZeroed(t, c, zeroDisk, [2]int{0, 2 * mib}, [2]int{4 * mib, 6 * mib}, [2]int{7 * mib, 7*mib + 8})
	d.stopOK()
	// The host reads the holes as unwritten sectors with Sparse.
	img, err := ccm.Open(im.path, im.params, ccm.OpenOptions{ReadOnly: true, Sparse: true})
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	b := make([]byte, 8*sectorSize)
	if err := img.ReadSectors(2*mib, [][]byte{b}); err != nil {
		t.Fatal(err)
	}
	checkSectors(t, "host", b, 0, 2*mib)
}

// TestZeroingBadSegments: malformed segments get the statuses the spec
// names and change nothing.
func TestZeroingBadSegments(t *testing.T) {
	path := rawImage(t, 64)
	d, sock := serve(t, "--blk-file", path, "--format", "raw")
	c := connect(t, sock)
	for _, tc := range []struct {
		name string
		typ  uint32
		data []byte
		want uint8
	}{
		{"unknown flag", virtio.BlkTWriteZeroes, segments([3]uint64{0, 8, 2}), virtio.BlkSUnsupp},
		{"DISCARD with unmap", virtio.BlkTDiscard, segments([3]uint64{0, 8, unmap}), virtio.BlkSUnsupp},
		{"nine segments", virtio.BlkTDiscard, segments([3]uint64{0, 1, 0}, [3]uint64{1, 1, 0}, [3]uint64{2, 1, 0}, [3]uint64{3, 1, 0}, [3]uint64{4, 1, 0}, [3]uint64{5, 1, 0}, [3]uint64{6, 1, 0}, [3]uint64{7, 1, 0}, [3]uint64{8, 1, 0}), virtio.BlkSUnsupp},
		{"too large", virtio.BlkTWriteZeroes, segments([3]uint64{0, 32769, 0}), virtio.BlkSIOErr},
		{"past the end", virtio.BlkTDiscard, segments([3]uint64{60, 8, 0}), virtio.BlkSIOErr},
		{"wraps", virtio.BlkTWriteZeroes, segments([3]uint64{1<<64 - 4, 8, 0}), virtio.BlkSIOErr},
		{"short segment", virtio.BlkTWriteZeroes, segments([3]uint64{0, 8, 0})[:12], virtio.BlkSIOErr},
	} {
		if st, _ := c.do(tc.typ, 0, tc.data, 0); st != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, st, tc.want)
		}
	}
	checkSectors(t, "after bad requests", c.read(0, 64), 0, 0)
	d.stopOK()
}
