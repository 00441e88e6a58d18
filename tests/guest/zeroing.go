package main

import (
	"bytes"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/ccmblk/ccmblk/ccm/holes"
	"github.com/ccmblk/ccmblk/tests/pattern"
)

// The layout of the zeroing action on the disk (at least 15 MiB): a
// pattern over [0, 15M), then BLKDISCARD on [0, 4M), BLKZEROOUT on
// [4M, 8M), fallocate(PUNCH_HOLE) on [8M, 10M); [10M, 12M) keeps the
// pattern. Then the project's ccm/holes package, run on the guest's block
// device, discards [12M, 13M), zeroes [13M, 14M) and punches [14M, 15M).
const (
	zMiB         = 1 << 20
	zDiscard     = 0
	zZeroout     = 4 * zMiB
	zPunch       = 8 * zMiB
	zKept        = 10 * zMiB
	zHoleDiscard = 12 * zMiB
	zHoleZero    = 13 * zMiB
	zHolePunch   = 14 * zMiB
	zEnd         = 15 * zMiB
	zeroingSeed  = 10
)

// zeroing runs BLKDISCARD, BLKZEROOUT and fallocate punch-hole on the disk
// and reports the queue limits the driver took from the device, what each
// call returned, what each range reads afterwards (zero, data or mixed)
// and the SHA-256 of the whole disk. It fails if a range that must read as
// zeros does not, or if the kept range lost its pattern.
func zeroing(d *disk, _ params) ([]string, error) {
	if d.size < zEnd {
		return nil, fmt.Errorf("disk of %d bytes, want at least %d", d.size, zEnd)
	}
	var fields []string
	for _, l := range []struct{ k, attr string }{
		{"dmax", "queue/discard_max_bytes"}, {"dseg", "queue/max_discard_segments"},
		{"dgran", "queue/discard_granularity"}, {"wzmax", "queue/write_zeroes_max_bytes"},
	} {
		v, err := d.sys(l.attr)
		if err != nil {
			return nil, err
		}
		fields = append(fields, kv(l.k, v))
	}
	f, buf, release, err := d.openBuf(os.O_RDWR, zEnd)
	if err != nil {
		return nil, err
	}
	defer release()
	pattern.Fill(buf, zeroingSeed, 0)
	if err := pwriteFull(f, buf, 0); err != nil {
		return nil, err
	}
	if err := f.Sync(); err != nil {
		return nil, err
	}
	fd := int(f.Fd())
	res := []callResult{
		{"discard", blkRange(fd, unix.BLKDISCARD, zDiscard, zZeroout-zDiscard)},
		{"zeroout", blkRange(fd, unix.BLKZEROOUT, zZeroout, zPunch-zZeroout)},
		{"punch", unix.Fallocate(fd, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, zPunch, zKept-zPunch)},
	}
	discardZeroed, hres, err := blockHoles(f)
	if err != nil {
		return nil, err
	}
	res = append(res, hres...)
	for _, r := range res {
		v := "ok"
		if r.err != nil {
			v = errnoName(r.err)
		}
		fields = append(fields, kv(r.k, v))
	}
	if err := f.Sync(); err != nil {
		return nil, err
	}
	// Drop the page cache: the reads below are O_DIRECT anyway.
	if err := unix.IoctlSetInt(fd, unix.BLKFLSBUF, 0); err != nil {
		return nil, fmt.Errorf("BLKFLSBUF: %w", err)
	}
	clear(buf)
	if err := preadFull(f, buf, 0); err != nil {
		return nil, err
	}
	want := make([]byte, zEnd)
	pattern.Fill(want, zeroingSeed, 0)
	ranges := []struct {
		k        string
		from, to int
		zero     bool // must read as zeros
	}{
		{"rdiscard", zDiscard, zZeroout, res[0].err == nil},
		{"rzeroout", zZeroout, zPunch, true},
		{"rpunch", zPunch, zKept, res[2].err == nil},
		{"rkept", zKept, zHoleDiscard, false},
		{"rhdiscard", zHoleDiscard, zHoleZero, discardZeroed},
		{"rhzero", zHoleZero, zHolePunch, true},
		{"rhpunch", zHolePunch, zEnd, true},
	}
	for _, r := range ranges {
		got := readsAs(buf[r.from:r.to], want[r.from:r.to])
		if r.zero && got != "zero" || r.k == "rkept" && got != "data" {
			return nil, fmt.Errorf("%s [%d, %d) reads as %s", r.k, r.from, r.to, got)
		}
		fields = append(fields, kv(r.k, got))
	}
	sum, err := d.hashAll()
	if err != nil {
		return nil, err
	}
	return append(fields, kv("sha256", sum)), nil
}

// readsAs says whether got is all zeros, exactly data, or something else
// (mixed).
func readsAs(got, data []byte) string {
	switch {
	case bytes.Equal(got, make([]byte, len(got))):
		return "zero"
	case bytes.Equal(got, data):
		return "data"
	}
	return "mixed"
}

// callResult is what one zeroing call returned, reported as k.
type callResult struct {
	k   string
	err error
}

// blockHoles runs ccm/holes on the guest's block device: Discard
// (BLKDISCARD), Zero (BLKZEROOUT) and Punch (fallocate punch-hole) on
// [12M, 15M), and returns their results as marker fields hdiscard, hzero
// and hpunch, and whether Discard promised zeros (never on a block device:
// BLKDISCARD promises nothing). Discard on a device without discard
// support succeeds and leaves the data: it is advice.
func blockHoles(f *os.File) (bool, []callResult, error) {
	h, err := holes.New(f)
	if err != nil {
		return false, nil, err
	}
	if !h.IsBlockDevice() {
		return false, nil, fmt.Errorf("holes sees %s as no block device", f.Name())
	}
	zeroed, derr := h.Discard(zHoleDiscard, zHoleZero-zHoleDiscard)
	return zeroed, []callResult{
		{"hdiscard", derr},
		{"hzero", h.Zero(zHoleZero, zHolePunch-zHoleZero)},
		{"hpunch", h.Punch(zHolePunch, zEnd-zHolePunch)},
	}, nil
}
