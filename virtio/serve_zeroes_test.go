package virtio_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/ccmblk/ccmblk/virtio"
	"github.com/ccmblk/ccmblk/virtio/virtiotest"
)

// zeroOpts offers DISCARD and WRITE_ZEROES.
var zeroOpts = func() virtio.BlockOptions {
	o := testOpts
	o.Discard, o.WriteZeroes, o.WriteZeroesMayUnmap = true, true, true
	return o
}()

func TestZeroesFeaturesAndConfig(t *testing.T) {
	for _, tc := range []struct {
		name                  string
		ss                    int
		discard, wz, mayUnmap bool
	}{
		{"none", 512, false, false, false},
		{"write zeroes only", 512, false, true, false},
		{"both 4096", 4096, true, true, true},
	} {
		o := testOpts
		o.Discard, o.WriteZeroes, o.WriteZeroesMayUnmap = tc.discard, tc.wz, tc.mayUnmap
		dev, err := virtio.NewBlockDevice(virtiotest.NewMemDisk(tc.ss, 64), o)
		if err != nil {
			t.Fatal(err)
		}
		f := dev.Features()
		if (f&virtio.BlkFDiscard != 0) != tc.discard || (f&virtio.BlkFWriteZeroes != 0) != tc.wz {
			t.Errorf("%s: features %#x", tc.name, f)
		}
		var cfg [virtio.BlkConfigSize]byte
		if err := dev.ReadConfig(0, cfg[:]); err != nil {
			t.Fatal(err)
		}
		le := binary.LittleEndian
		want := func(on bool, v uint32) uint32 {
			if on {
				return v
			}
			return 0
		}
		got := [6]uint32{le.Uint32(cfg[36:]), le.Uint32(cfg[40:]), le.Uint32(cfg[44:]), le.Uint32(cfg[48:]), le.Uint32(cfg[52:]), uint32(cfg[56])}
		exp := [6]uint32{want(tc.discard, 32768), want(tc.discard, 8), want(tc.discard, uint32(tc.ss/512)),
			want(tc.wz, 32768), want(tc.wz, 8), want(tc.mayUnmap, 1)}
		if got != exp {
			t.Errorf("%s: config [36, 57) = %v, want %v", tc.name, got, exp)
		}
		// QEMU asks for exactly 57 bytes when both features are on.
		part := make([]byte, 57)
		if err := dev.ReadConfig(0, part); err != nil || !bytes.Equal(part, cfg[:57]) {
			t.Errorf("%s: 57-byte read: %v", tc.name, err)
		}
	}
}

// onlyDisk hides MemDisk's zeroing methods.
type onlyDisk struct{ virtio.Disk }

func TestZeroesOptionsNeedTheDisk(t *testing.T) {
	for _, set := range []func(o *virtio.BlockOptions){
		func(o *virtio.BlockOptions) { o.Discard = true },
		func(o *virtio.BlockOptions) { o.WriteZeroes = true },
		func(o *virtio.BlockOptions) { o.WriteZeroesMayUnmap = true },
	} {
		o := testOpts
		set(&o)
		if _, err := virtio.NewBlockDevice(onlyDisk{virtiotest.NewMemDisk(512, 8)}, o); !errors.Is(err, virtio.ErrBadOptions) {
			t.Errorf("options %+v on a disk without zeroing: %v", o, err)
		}
	}
}

func TestServeDiscardWriteZeroes(t *testing.T) {
	disk := virtiotest.NewMemDisk(4096, 64)
	disk.Fill(0, pattern(64*4096, 3))
	h := startDevice(t, disk, zeroOpts, true)
	// Guest sectors are 512 bytes; the disk's are 4096 (8 guest sectors).
	wz := h.d.AddBlkSegments(virtio.BlkTWriteZeroes, sg(8, 16, 0), sg(80, 8, 1))
	dc := h.d.AddBlkSegments(virtio.BlkTDiscard, sg(200, 8, 0), sg(296, 0, 0))
	used := h.run(wz.Head, dc.Head)
	for _, u := range used {
		if u.Len != 1 {
			t.Fatalf("used length %d, want 1", u.Len)
		}
	}
	if h.d.Status(wz) != virtio.BlkSOK || h.d.Status(dc) != virtio.BlkSOK {
		t.Fatalf("status: WRITE_ZEROES %d, DISCARD %d", h.d.Status(wz), h.d.Status(dc))
	}
	want := []virtiotest.Zeroing{
		{Start: 1, Len: 2}, {Start: 10, Len: 1, Unmap: true}, {Discard: true, Start: 25, Len: 1},
	}
	if got := disk.Zeroings(); len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("disk calls %+v, want %+v (an empty segment is skipped)", got, want)
	}
	exp := pattern(64*4096, 3)
	for _, z := range want {
		clear(exp[z.Start*4096 : (z.Start+z.Len)*4096])
	}
	if !bytes.Equal(disk.Contents(0, 64), exp) {
		t.Fatal("disk contents differ")
	}
	// Refused segments reach the disk not at all.
	bad := []virtiotest.BlkReq{
		h.d.AddBlkSegments(virtio.BlkTWriteZeroes, sg(0, 8, 0), sg(8, 8, 4)),
		h.d.AddBlkSegments(virtio.BlkTDiscard, sg(0, 8, 1)),
		h.d.AddBlkSegments(virtio.BlkTDiscard, sg(0, 8, 0), sg(0, 8, 0), sg(0, 8, 0), sg(0, 8, 0), sg(0, 8, 0), sg(0, 8, 0), sg(0, 8, 0), sg(0, 8, 0), sg(0, 8, 0)),
		h.d.AddBlkSegments(virtio.BlkTWriteZeroes, sg(0, 32776, 0)),
		h.d.AddBlkSegments(virtio.BlkTWriteZeroes, sg(0, 8, 0), sg(64*8, 8, 0)),
		h.d.AddBlkSegments(virtio.BlkTDiscard, sg(4, 8, 0)),
	}
	wantStatus := []uint8{virtio.BlkSUnsupp, virtio.BlkSUnsupp, virtio.BlkSUnsupp, virtio.BlkSIOErr, virtio.BlkSIOErr, virtio.BlkSIOErr}
	var heads []uint16
	for _, r := range bad {
		heads = append(heads, r.Head)
	}
	h.run(heads...)
	for i, r := range bad {
		if h.d.Status(r) != wantStatus[i] {
			t.Errorf("bad request %d: status %d, want %d", i, h.d.Status(r), wantStatus[i])
		}
	}
	if n := len(disk.Zeroings()); n != 3 {
		t.Fatalf("refused requests reached the disk: %d calls", n)
	}
	// Write-through: zeroing is durable when it completes.
	if err := h.dev.WriteConfig(32, []byte{0}); err != nil {
		t.Fatal(err)
	}
	flushes := disk.Flushes()
	wt := h.d.AddBlkSegments(virtio.BlkTWriteZeroes, sg(0, 8, 1))
	h.run(wt.Head)
	if h.d.Status(wt) != virtio.BlkSOK || disk.Flushes() != flushes+1 || disk.Unflushed() != 0 {
		t.Fatalf("write-through WRITE_ZEROES: status %d, %d flushes", h.d.Status(wt), disk.Flushes()-flushes)
	}
}

func TestServeZeroesNotOfferedOrReadOnly(t *testing.T) {
	disk := virtiotest.NewMemDisk(512, 64)
	h := startDevice(t, disk, testOpts, false)
	wz := h.d.AddBlkSegments(virtio.BlkTWriteZeroes, sg(0, 8, 0))
	dc := h.d.AddBlkSegments(virtio.BlkTDiscard, sg(0, 8, 0))
	h.run(wz.Head, dc.Head)
	if h.d.Status(wz) != virtio.BlkSUnsupp || h.d.Status(dc) != virtio.BlkSUnsupp {
		t.Fatalf("not offered: status %d, %d; want UNSUPP", h.d.Status(wz), h.d.Status(dc))
	}
	ro := virtiotest.NewMemDisk(512, 64)
	ro.SetReadOnly(true)
	h = startDevice(t, ro, zeroOpts, false)
	wz = h.d.AddBlkSegments(virtio.BlkTWriteZeroes, sg(0, 8, 0))
	dc = h.d.AddBlkSegments(virtio.BlkTDiscard, sg(0, 8, 0))
	h.run(wz.Head, dc.Head)
	if h.d.Status(wz) != virtio.BlkSIOErr || h.d.Status(dc) != virtio.BlkSIOErr || len(ro.Zeroings()) != 0 {
		t.Fatalf("read-only: status %d, %d; want IOERR", h.d.Status(wz), h.d.Status(dc))
	}
}
