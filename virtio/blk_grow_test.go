package virtio_test

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/ccmblk/ccmblk/virtio"
	"github.com/ccmblk/ccmblk/virtio/virtiotest"
)

// capacity reads the capacity field of the configuration space.
func capacity(t *testing.T, dev *virtio.BlockDevice) uint64 {
	t.Helper()
	var b [8]byte
	if err := dev.ReadConfig(0, b[:]); err != nil {
		t.Fatal(err)
	}
	return binary.LittleEndian.Uint64(b[:])
}

// TestGrowWhileServing grows the disk under a running queue: a read past
// the old end fails before and succeeds after, and the configuration space
// reports the new capacity.
func TestGrowWhileServing(t *testing.T) {
	disk := virtiotest.NewMemDisk(4096, 8)
	h := startDevice(t, disk, testOpts, false)
	if got := capacity(t, h.dev); got != 64 {
		t.Fatalf("capacity %d, want 64", got)
	}
	past := h.d.AddBlk(virtio.BlkTIn, 64, 4096, false)
	h.run(past.Head)
	if h.d.Status(past) != virtio.BlkSIOErr {
		t.Fatalf("read past the end: status %d", h.d.Status(past))
	}
	if err := h.dev.Grow(16 * 4096); err != nil {
		t.Fatal(err)
	}
	if got, size := capacity(t, h.dev), h.dev.Size(); got != 128 || size != 16*4096 {
		t.Fatalf("capacity %d sectors, size %d; want 128, %d", got, size, 16*4096)
	}
	w := h.d.AddBlk(virtio.BlkTOut, 120, 4096, false)
	copy(h.d.Data(w), pattern(4096, 3))
	r := h.d.AddBlk(virtio.BlkTIn, 120, 4096, false)
	h.run(w.Head)
	h.run(r.Head)
	if h.d.Status(w) != virtio.BlkSOK || h.d.Status(r) != virtio.BlkSOK || string(h.d.Data(r)) != string(pattern(4096, 3)) {
		t.Fatalf("new last sector: write %d, read %d, data match %v", h.d.Status(w), h.d.Status(r), string(h.d.Data(r)) == string(pattern(4096, 3)))
	}
	// The same size again does nothing.
	if err := h.dev.Grow(16 * 4096); err != nil {
		t.Fatal(err)
	}
}

func TestGrowRefuses(t *testing.T) {
	dev, err := virtio.NewBlockDevice(virtiotest.NewMemDisk(4096, 8), testOpts)
	if err != nil {
		t.Fatal(err)
	}
	ro := virtiotest.NewMemDisk(512, 8)
	ro.SetReadOnly(true)
	roDev, err := virtio.NewBlockDevice(ro, testOpts)
	if err != nil {
		t.Fatal(err)
	}
	fixed, err := virtio.NewBlockDevice(fixedDisk{virtiotest.NewMemDisk(512, 8)}, testOpts)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		dev  *virtio.BlockDevice
		size uint64
		want error
	}{
		{"shrink", dev, 4 * 4096, virtio.ErrShrink},
		{"misaligned", dev, 9*4096 + 512, virtio.ErrGrowAlign},
		{"read-only", roDev, 1 << 20, virtio.ErrReadOnly},
		{"fixed", fixed, 1 << 20, virtio.ErrNotGrowable},
	} {
		before := capacity(t, c.dev)
		if err := c.dev.Grow(c.size); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
		if after := capacity(t, c.dev); after != before {
			t.Errorf("%s: capacity changed from %d to %d", c.name, before, after)
		}
	}
}

// fixedDisk hides MemDisk's Grow.
type fixedDisk struct{ *virtiotest.MemDisk }

func (fixedDisk) Grow() {}

// TestStats checks every counter a queue keeps against requests of known
// outcome.
func TestStats(t *testing.T) {
	disk := virtiotest.NewMemDisk(512, 64)
	disk.FailSector(5)
	o := testOpts
	o.AuthError = virtiotest.ErrAuth
	h := startDevice(t, disk, o, false)
	rd := h.d.AddBlk(virtio.BlkTIn, 0, 1024, false)
	bad := h.d.AddBlk(virtio.BlkTIn, 4, 1024, false)
	wr := h.d.AddBlk(virtio.BlkTOut, 8, 2048, false)
	fl := h.d.AddBlk(virtio.BlkTFlush, 0, 0, false)
	past := h.d.AddBlk(virtio.BlkTOut, 64, 512, false)
	h.run(rd.Head, bad.Head, wr.Head, fl.Head, past.Head)
	st := h.dev.Stats()
	if len(st) != testOpts.NumQueues {
		t.Fatalf("%d queues in stats, want %d", len(st), testOpts.NumQueues)
	}
	q := st[0]
	check := func(name string, got virtio.BlkOpStats, ops, bytes, failed, invalid uint64) {
		t.Helper()
		if got.Operations != ops || got.Bytes != bytes || got.Failed != failed || got.Invalid != invalid {
			t.Errorf("%s: %+v; want ops %d bytes %d failed %d invalid %d", name, got, ops, bytes, failed, invalid)
		}
		if ops > 0 && got.TotalTimeNs == 0 {
			t.Errorf("%s: no time accounted", name)
		}
	}
	check("read", q.Read, 2, 2048, 1, 0)
	check("write", q.Write, 1, 2048, 0, 1)
	check("flush", q.Flush, 1, 0, 0, 0)
	if q.AuthFailures != 1 || q.InFlight != 0 {
		t.Errorf("auth failures %d, in flight %d; want 1, 0", q.AuthFailures, q.InFlight)
	}
	total := st[0].Add(st[1])
	if total.Read != q.Read || total.AuthFailures != 1 {
		t.Errorf("total %+v differs from the only busy queue %+v", total, q)
	}
}

// TestStatsZeroing counts DISCARD and WRITE_ZEROES by the bytes their
// segments cover, and a refused one as invalid.
func TestStatsZeroing(t *testing.T) {
	h := startDevice(t, virtiotest.NewMemDisk(512, 64), zeroOpts, false)
	wz := h.d.AddBlkSegments(virtio.BlkTWriteZeroes, sg(0, 8, 0), sg(16, 4, virtio.BlkWriteZeroesFlagUnmap))
	dc := h.d.AddBlkSegments(virtio.BlkTDiscard, sg(32, 8, 0))
	past := h.d.AddBlkSegments(virtio.BlkTDiscard, sg(60, 8, 0))
	h.run(wz.Head, dc.Head, past.Head)
	q := h.dev.Stats()[0]
	if q.WriteZeroes.Operations != 1 || q.WriteZeroes.Bytes != 12*512 || q.WriteZeroes.TotalTimeNs == 0 {
		t.Errorf("write zeroes: %+v; want 1 operation of %d bytes", q.WriteZeroes, 12*512)
	}
	if q.Discard.Operations != 1 || q.Discard.Bytes != 8*512 || q.Discard.Invalid != 1 {
		t.Errorf("discard: %+v; want 1 operation of %d bytes, 1 invalid", q.Discard, 8*512)
	}
	if q.Write.Operations != 0 {
		t.Errorf("writes counted: %+v", q.Write)
	}
}
