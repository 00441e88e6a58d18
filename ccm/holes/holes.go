// Package holes zeroes and deallocates byte ranges of image files and block
// devices with the cheapest operation the file system or device offers:
// fallocate on regular files, the BLKDISCARD and BLKZEROOUT ioctls (or
// fallocate) on block devices. Where neither works it falls back to writing
// zeros, so a range that Zero or Punch reports done always reads back as
// zeros; only Discard may leave the old data in place, and it says so.
//
// A File is safe for concurrent use on disjoint ranges. It does not own or
// close the underlying *os.File.
package holes

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// File zeroes and deallocates ranges of one open file or block device.
type File struct {
	f     *os.File
	block bool // a block device: ioctls instead of file system fallocate
}

// New returns a File over f, which must be a regular file or a block device
// opened for writing.
func New(f *os.File) (*File, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	m := st.Mode()
	switch {
	case m.IsRegular():
		return &File{f: f}, nil
	case m&os.ModeDevice != 0 && m&os.ModeCharDevice == 0:
		return &File{f: f, block: true}, nil
	}
	return nil, fmt.Errorf("holes: %s is neither a regular file nor a block device", f.Name())
}

// IsBlockDevice reports whether the file is a block device.
func (h *File) IsBlockDevice() bool { return h.block }

// Punch zeroes [off, off+n) and deallocates it where the storage can: a
// hole in a regular file (the file keeps its size), an unmapping zero-out
// on a block device. Where it cannot deallocate, it zeroes as Zero does.
func (h *File) Punch(off, n int64) error {
	if err := checkRange(off, n); err != nil || n == 0 {
		return err
	}
	err := h.fallocate(unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, n)
	if err == nil || !unsupported(err) {
		return err
	}
	return h.Zero(off, n)
}

// Zero zeroes [off, off+n), keeping it allocated where the storage tells
// the difference: fallocate ZERO_RANGE in a regular file, BLKZEROOUT on a
// block device, or else writing zeros.
func (h *File) Zero(off, n int64) error {
	if err := checkRange(off, n); err != nil || n == 0 {
		return err
	}
	var err error
	if h.block {
		err = h.ioctlRange(unix.BLKZEROOUT, off, n)
	} else {
		err = h.fallocate(unix.FALLOC_FL_ZERO_RANGE|unix.FALLOC_FL_KEEP_SIZE, off, n)
	}
	if err == nil || !unsupported(err) {
		return err
	}
	return h.writeZeros(off, n)
}

// Discard tells the storage that [off, off+n) is no longer needed: a hole
// in a regular file, BLKDISCARD on a block device. It reports whether the
// range now reads as zeros (always true for a regular file); storage that
// cannot discard leaves the data in place and returns false with no error,
// as a discard is only advice.
func (h *File) Discard(off, n int64) (zeroed bool, err error) {
	if err := checkRange(off, n); err != nil || n == 0 {
		return n == 0, err
	}
	if h.block {
		err = h.ioctlRange(unix.BLKDISCARD, off, n)
	} else {
		err = h.fallocate(unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, n)
	}
	switch {
	case err == nil:
		return !h.block, nil
	case unsupported(err):
		return false, nil
	}
	return false, err
}

// fallocate runs fallocate(2) on the file, retrying when interrupted.
func (h *File) fallocate(mode uint32, off, n int64) error {
	for {
		err := unix.Fallocate(int(h.f.Fd()), mode, off, n)
		if err != unix.EINTR {
			return wrap("fallocate", err)
		}
	}
}

// ioctlRange runs a block device ioctl whose argument is a {start, length}
// pair of u64 in bytes (BLKDISCARD, BLKZEROOUT).
func (h *File) ioctlRange(req uint, off, n int64) error {
	r := [2]uint64{uint64(off), uint64(n)}
	for {
		err := ioctlPair(int(h.f.Fd()), req, &r)
		if err != unix.EINTR {
			return wrap("ioctl", err)
		}
	}
}

// zeros is the source of the write fallback.
var zeros [1 << 20]byte

// writeZeros writes zeros over [off, off+n), a megabyte at a time.
func (h *File) writeZeros(off, n int64) error {
	// Each pass writes at least one byte or fails, so the loop is bounded
	// by n.
	for n > 0 {
		k, err := h.f.WriteAt(zeros[:min(n, int64(len(zeros)))], off)
		if err != nil {
			return fmt.Errorf("holes: write zeros: %w", err)
		}
		off += int64(k)
		n -= int64(k)
	}
	return nil
}

// checkRange refuses negative ranges and ranges past the largest offset.
func checkRange(off, n int64) error {
	if off < 0 || n < 0 || n > (1<<63-1)-off {
		return fmt.Errorf("holes: bad range [%d, +%d)", off, n)
	}
	return nil
}

// unsupported reports an error that means the storage cannot do this
// operation (as opposed to an I/O error), so a fallback must.
func unsupported(err error) bool {
	return errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) ||
		errors.Is(err, unix.ENOTTY) || errors.Is(err, unix.EINVAL)
}

func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("holes: %s: %w", op, err)
}

// NoData is the offset NextData returns when no data follows.
const NoData = 1<<63 - 1

// NextData returns the next run of data at or after off in f: [data, end),
// found with SEEK_DATA and SEEK_HOLE. data is NoData when only holes (or
// the end of the file) follow. Files and devices without hole support are
// all data, up to NoData. The file offset of f moves; positional reads and
// writes do not care.
func NextData(f *os.File, off int64) (data, end int64, err error) {
	fd := int(f.Fd())
	data, err = unix.Seek(fd, off, unix.SEEK_DATA)
	switch {
	case errors.Is(err, unix.ENXIO):
		return NoData, NoData, nil
	case errors.Is(err, unix.EINVAL):
		return off, NoData, nil
	case err != nil:
		return 0, 0, wrap("seek", err)
	}
	end, err = unix.Seek(fd, data, unix.SEEK_HOLE)
	if err != nil {
		return 0, 0, wrap("seek", err)
	}
	return data, end, nil
}

// Allocated returns the bytes the file at path occupies on its storage
// (st_blocks): less than its size where it has holes.
func Allocated(path string) (int64, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, err
	}
	return st.Blocks * 512, nil
}
