package vhostuser

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ccmblk/ccmblk/virtio"
	"github.com/ccmblk/ccmblk/virtio/virtiotest"
)

var le = binary.LittleEndian

// guestWrite applies a ring-contents op: what a guest driver (or a
// hostile one) writes into its memory, in the layout the seeds use
// (seqDesc, seqAvail, seqData). It returns the queue to kick, or -1.
//
//	24: descriptor p[0]%16 of the table, or of an indirect table in data
//	    slot p[7]>>1 if p[7] is odd: address data slot p[1] (or far
//	    outside guest memory), length p[2:4], flags p[4]%8, next p[5].
//	25: avail ring entry p[0]%16 = head p[1]; avail.idx advances by one
//	    or is set to p[4:6]; kicks queue p[7]%2 if p[6] is odd.
//	26: a virtio-blk request header in data slot p[0]: a type, a
//	    sector, then one DISCARD/WRITE_ZEROES segment.
func (q *sequence) guestWrite(op byte, p []byte) int {
	var b []byte
	var off uint64
	switch op {
	case 24:
		d := make([]byte, 16)
		addr := seqData + uint64(p[1])*seqSlot
		if p[6]&0x80 != 0 {
			addr = uint64(p[6]&0x7f+1) << 40
		}
		n := uint32(le.Uint16(p[2:4]))
		if p[6]&0x40 != 0 {
			n |= 1 << 31
		}
		next := uint16(p[5] % 16)
		if p[6]&0x20 != 0 {
			next = uint16(p[5])
		}
		le.PutUint64(d, addr)
		le.PutUint32(d[8:], n)
		le.PutUint16(d[12:], uint16(p[4]%8))
		le.PutUint16(d[14:], next)
		b, off = d, seqDesc+uint64(p[0]%16)*16
		if p[7]&1 != 0 {
			off = seqData + uint64(p[7]>>1)*seqSlot + uint64(p[0]%16)*16
		}
	case 25:
		head := uint16(p[1] % 16)
		if p[3]&1 != 0 {
			head = uint16(p[1])
		}
		q.pwrite(le.AppendUint16(nil, head), seqAvail+4+2*uint64(p[0]%16))
		var idx [2]byte
		_, _ = unix.Pread(q.ram, idx[:], seqAvail+2)
		next := le.Uint16(idx[:]) + 1
		if p[2]&1 != 0 {
			next = le.Uint16(p[4:6])
		}
		b, off = le.AppendUint16(nil, next), seqAvail+2
	case 26:
		typ := []uint32{virtio.BlkTIn, virtio.BlkTOut, virtio.BlkTFlush, virtio.BlkTGetID,
			virtio.BlkTDiscard, virtio.BlkTWriteZeroes, uint32(p[2]) << 8}[p[1]%7]
		sector := uint64(p[2])
		if p[3]&0x80 != 0 {
			sector = ^uint64(0) - uint64(p[3]&0x7f)
		}
		r := make([]byte, 32)
		le.PutUint32(r, typ)
		le.PutUint64(r[8:], sector)
		le.PutUint64(r[16:], uint64(p[4]))
		le.PutUint32(r[24:], uint32(p[5]))
		le.PutUint32(r[28:], uint32(p[6]%4))
		b, off = r, seqData+uint64(p[0])*seqSlot
	}
	q.pwrite(b, off)
	if op == 25 && p[6]&1 != 0 {
		return int(p[7] % 2)
	}
	return -1
}

func (q *sequence) pwrite(b []byte, off uint64) {
	if _, err := unix.Pwrite(q.ram, b, int64(off)); err != nil {
		q.t.Fatal(err)
	}
}

// blkSessionSectors is the size of the disk of the blk sessions.
const blkSessionSectors = 64

// newBlkSequence is a sequence on a virtio-blk device with DISCARD and
// WRITE_ZEROES over a memory disk whose sector s holds bytes s+1.
func newBlkSequence(t testing.TB) (*sequence, *virtiotest.MemDisk) {
	disk := virtiotest.NewMemDisk(virtio.BlkSectorSize, blkSessionSectors)
	for s := range uint64(blkSessionSectors) {
		disk.Fill(s, bytes.Repeat([]byte{byte(s + 1)}, virtio.BlkSectorSize))
	}
	dev, err := virtio.NewBlockDevice(disk, virtio.BlockOptions{
		NumQueues: 2, QueueSize: 16, Serial: "seq", Discard: true, WriteZeroes: true, WriteZeroesMayUnmap: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return newSequence(t, dev), disk
}

// checkDiskCalls fails if the device passed the disk a call outside it.
func checkDiskCalls(t testing.TB, disk *virtiotest.MemDisk) {
	t.Helper()
	for _, io := range disk.IOs() {
		n := 0
		for _, b := range io.Bufs {
			if len(b)%virtio.BlkSectorSize != 0 {
				t.Fatalf("disk call at sector %d with a buffer of %d bytes", io.Start, len(b))
			}
			n += len(b) / virtio.BlkSectorSize
		}
		if io.Start > blkSessionSectors || uint64(n) > blkSessionSectors-io.Start {
			t.Fatalf("disk call of %d sectors at %d, past the disk's %d", n, io.Start, blkSessionSectors)
		}
	}
	for _, z := range disk.Zeroings() {
		if z.Start > blkSessionSectors || z.Len > blkSessionSectors-z.Start {
			t.Fatalf("zeroing of %d sectors at %d, past the disk's %d", z.Len, z.Start, blkSessionSectors)
		}
	}
}

// seqBlkStart negotiates, maps one region at guest address 0 and starts
// queue 0 with 8 entries at the seed layout.
var seqBlkStart = [][]byte{
	op(2), op(1), op(4), op(6, 0, 3), op(7), op(10, 0, 1), op(11, 0, 1), op(13, 0, 1),
}

// seqBlkRead is a read of sector 3 into slot 1, status in slot 2, made
// available and kicked.
var seqBlkRead = [][]byte{
	op(26, 0, 0, 3),
	op(24, 0, 0, 16, 0, 1, 1),
	op(24, 1, 1, 0, 2, 3, 2),
	op(24, 2, 2, 1, 0, 2, 0),
	op(25, 0, 0, 0, 0, 0, 0, 1, 0),
}

// seqBlkMore are five more requests, posted at once: a write of slot 1
// (the read's data) to sector 9 through an indirect table, a flush
// through another, a direct GET_ID, a WRITE_ZEROES with unmap of sectors
// 5-7 and a DISCARD with a reserved flag. Each has its own header,
// status slot and table; only descriptors 0 and 1 of the read are reused.
var seqBlkMore = [][]byte{
	op(26, 10, 1, 9),
	op(24, 0, 10, 16, 0, 1, 1, 0, 8<<1|1),
	op(24, 1, 1, 0, 2, 1, 2, 0, 8<<1|1),
	op(24, 2, 11, 1, 0, 2, 0, 0, 8<<1|1),
	op(24, 3, 8, 48, 0, 4),
	op(25, 1, 3, 0, 0, 0, 0, 1),

	op(26, 12, 2),
	op(24, 0, 12, 16, 0, 1, 1, 0, 9<<1|1),
	op(24, 1, 13, 1, 0, 2, 0, 0, 9<<1|1),
	op(24, 4, 9, 32, 0, 4),
	op(25, 2, 4, 0, 0, 0, 0, 1),

	op(26, 14, 3),
	op(24, 5, 14, 16, 0, 1, 6),
	op(24, 6, 15, 20, 0, 3, 7),
	op(24, 7, 16, 1, 0, 2),
	op(25, 3, 5, 0, 0, 0, 0, 1),

	op(26, 19, 5, 0, 0, 5, 3, 1),
	op(24, 0, 19, 32, 0, 1, 1, 0, 18<<1|1),
	op(24, 1, 20, 1, 0, 2, 0, 0, 18<<1|1),
	op(24, 0, 18, 32, 0, 4),
	op(25, 4, 0, 0, 0, 0, 0, 1),

	op(26, 22, 4, 0, 0, 7, 2, 2),
	op(24, 0, 22, 32, 0, 1, 1, 0, 21<<1|1),
	op(24, 1, 23, 1, 0, 2, 0, 0, 21<<1|1),
	op(24, 1, 21, 32, 0, 4),
	op(25, 5, 1, 0, 0, 0, 0, 1),
}

// seqBlkHostile are a chain that loops on itself, a buffer far outside
// guest memory, and an avail index far ahead.
var seqBlkHostile = [][]byte{
	op(24, 2, 2, 16, 0, 1, 2), op(25, 6, 2, 0, 0, 0, 0, 1),
	op(24, 6, 0, 0, 2, 2, 0, 0x80), op(25, 7, 6, 0, 0, 0, 0, 1),
	op(25, 0, 0, 1, 0, 0xff, 0xff, 1),
}

// seqBlkStop stops queue 0 and starts it again.
var seqBlkStop = [][]byte{op(9, 0), op(10, 0, 1), op(13, 0, 1), op(18, 0), op(16)}

func join(parts ...[][]byte) []byte {
	var all []byte
	for _, ops := range parts {
		for _, o := range ops {
			all = append(all, o...)
		}
	}
	return all
}

// TestBlkSession checks that the seed layout really serves requests: the
// read of seqBlkRead completes with the disk's data, so the fuzz target's
// ring ops reach the device's request path.
func TestBlkSession(t *testing.T) {
	q, disk := newBlkSequence(t)
	if !q.apply(join(seqBlkStart, seqBlkRead)) {
		t.Fatal("session ended")
	}
	waitUsed(t, q, 1)
	used := make([]byte, 8)
	if _, err := unix.Pread(q.ram, used, seqUsed+4); err != nil {
		t.Fatal(err)
	}
	if id, n := le.Uint32(used), le.Uint32(used[4:]); id != 0 || n != virtio.BlkSectorSize+1 {
		t.Errorf("used element id %d len %d, want 0 and %d", id, n, virtio.BlkSectorSize+1)
	}
	if !bytes.Equal(q.guestBytes(t, 1, virtio.BlkSectorSize), disk.Contents(3, 1)) {
		t.Error("the read's buffer does not hold sector 3")
	}
	if st := q.guestBytes(t, 2, 1); st[0] != virtio.BlkSOK {
		t.Errorf("read: status %d, want OK", st[0])
	}
	if !q.apply(join(seqBlkMore)) {
		t.Fatal("session ended")
	}
	waitUsed(t, q, 6)
	for _, c := range []struct {
		name string
		slot uint64
		want uint8
	}{{"write", 11, virtio.BlkSOK}, {"flush", 13, virtio.BlkSOK}, {"GET_ID", 16, virtio.BlkSOK},
		{"WRITE_ZEROES", 20, virtio.BlkSOK}, {"DISCARD with a reserved flag", 23, virtio.BlkSUnsupp}} {
		if st := q.guestBytes(t, c.slot, 1); st[0] != c.want {
			t.Errorf("%s: status %d, want %d", c.name, st[0], c.want)
		}
	}
	if !bytes.Equal(disk.Contents(9, 1), disk.Contents(3, 1)) {
		t.Error("sector 9 does not hold what the write sent")
	}
	if disk.Flushes() == 0 {
		t.Error("the flush did not reach the disk")
	}
	if id := q.guestBytes(t, 15, 20); string(id[:4]) != "seq\x00" {
		t.Errorf("GET_ID wrote %q", id)
	}
	if !bytes.Equal(disk.Contents(5, 3), make([]byte, 3*virtio.BlkSectorSize)) {
		t.Error("WRITE_ZEROES left sectors 5-7 non-zero")
	}
	q.apply(join(seqBlkHostile, seqBlkStop))
	q.close()
	checkDiskCalls(t, disk)
}

// waitUsed waits until the used index of queue 0 is n.
func waitUsed(t *testing.T, q *sequence, n uint16) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		if got := le.Uint16(q.guestBytes(t, 0, 0)); got == n {
			return
		} else if time.Now().After(deadline) {
			t.Fatalf("used index %d, want %d", got, n)
		}
	}
}

// guestBytes reads n bytes of data slot slot; n 0 reads the used index.
func (q *sequence) guestBytes(t *testing.T, slot uint64, n int) []byte {
	t.Helper()
	b, off := make([]byte, n), int64(seqData+slot*seqSlot)
	if n == 0 {
		b, off = make([]byte, 2), seqUsed+2
	}
	if _, err := unix.Pread(q.ram, b, off); err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzBlkSession drives whole sessions against a virtio-blk device:
// vhost-user messages with their descriptors, interleaved with what a
// guest writes into its rings and request buffers, and kicks. Invariants:
// no panic, no hang (every ring stops), no descriptor left open, and no
// disk call outside the disk.
func FuzzBlkSession(f *testing.F) {
	f.Add(join(seqBlkStart, seqBlkRead, seqBlkStop))
	f.Add(join(seqBlkStart, seqBlkRead, seqBlkMore, seqBlkStop))
	f.Add(join(seqBlkStart, seqBlkRead, seqBlkMore, seqBlkHostile, seqBlkStop))
	// The memory table replaced and a region removed under running requests.
	f.Add(join(seqBlkStart, seqBlkMore, [][]byte{op(3, 0, 0, 0, 0, 1), op(5)}, seqBlkRead, seqBlkStop))
	// An in-flight area set up before the requests run.
	f.Add(join([][]byte{op(2), op(22, 0, 1, 1)}, seqBlkStart[1:], seqBlkRead, seqBlkMore, seqBlkStop))
	f.Fuzz(func(t *testing.T, ops []byte) {
		q, disk := newBlkSequence(t)
		q.run(ops)
		checkDiskCalls(t, disk)
	})
}
