package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/ccmblk/ccmblk/ccm/holes"
)

// rawDisk serves a plain image file through the same data path as a CCM
// image: whole-sector guest buffers, one vectored positional system call
// per request. It lets users serve unencrypted images and measures what the
// encryption costs.
type rawDisk struct {
	f          *os.File
	sectorSize int
	// sectors is the capacity; Grow raises it while requests run.
	sectors  atomic.Uint64
	readOnly bool
	holes    *holes.File // nil if read-only
	// growMu serialises Grow.
	growMu sync.Mutex
}

// iovMax is the most buffers one preadv or pwritev takes (Linux UIO_MAXIOV).
const iovMax = 1024

var (
	errRawRange    = errors.New("raw: request beyond the end of the image")
	errRawReadOnly = errors.New("raw: image is read-only")
)

// openRaw opens the plain image at path with sectors of sectorSize bytes;
// a trailing partial sector is not served.
func openRaw(path string, sectorSize int, readOnly bool) (*rawDisk, error) {
	if sectorSize != 512 && sectorSize != 4096 {
		return nil, fmt.Errorf("--sector-size %d: want 512 or 4096", sectorSize)
	}
	flags := os.O_RDWR
	if readOnly {
		flags = os.O_RDONLY
	}
	f, err := os.OpenFile(path, flags, 0)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !st.Mode().IsRegular() && st.Mode().Type() != os.ModeDevice {
		f.Close()
		return nil, fmt.Errorf("%s is not a regular file or block device: give --blk-file a disk image or a block device", path)
	}
	// Seek to the end sizes block devices too, whose Stat size is 0.
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		f.Close()
		return nil, err
	}
	n := uint64(size) / uint64(sectorSize)
	if n == 0 {
		f.Close()
		return nil, fmt.Errorf("%s holds no whole sector: it is empty or smaller than --sector-size", path)
	}
	d := &rawDisk{f: f, sectorSize: sectorSize, readOnly: readOnly}
	d.sectors.Store(n)
	if !readOnly {
		// A regular file or block device, checked above.
		if d.holes, err = holes.New(f); err != nil {
			f.Close()
			return nil, err
		}
	}
	return d, nil
}

// SectorSize returns the sector size in bytes.
func (d *rawDisk) SectorSize() int { return d.sectorSize }

// Sectors returns the number of whole sectors in the image.
func (d *rawDisk) Sectors() uint64 { return d.sectors.Load() }

// ReadOnly reports whether the image was opened read-only.
func (d *rawDisk) ReadOnly() bool { return d.readOnly }

// Flush makes the written data durable with fdatasync.
func (d *rawDisk) Flush() error { return unix.Fdatasync(int(d.f.Fd())) }

// Close closes the image file.
func (d *rawDisk) Close() error { return d.f.Close() }

// ReadSectors reads the sectors from start on into bufs.
func (d *rawDisk) ReadSectors(start uint64, bufs [][]byte) error {
	return d.transfer(start, bufs, unix.Preadv)
}

// WriteSectors writes bufs to the sectors from start on.
func (d *rawDisk) WriteSectors(start uint64, bufs [][]byte) error {
	if d.readOnly {
		return errRawReadOnly
	}
	return d.transfer(start, bufs, unix.Pwritev)
}

// transfer moves bufs to or from the image at sector start with as few
// vectored calls as the kernel allows, resuming after short transfers.
func (d *rawDisk) transfer(start uint64, bufs [][]byte, op func(int, [][]byte, int64) (int, error)) error {
	var total uint64
	for _, b := range bufs {
		if len(b)%d.sectorSize != 0 {
			return fmt.Errorf("raw: buffer of %d bytes is not whole sectors", len(b))
		}
		total += uint64(len(b))
	}
	if sectors := d.sectors.Load(); start > sectors || total/uint64(d.sectorSize) > sectors-start {
		return errRawRange
	}
	off := int64(start) * int64(d.sectorSize)
	fd := int(d.f.Fd())
	// Each pass moves at least one byte or fails, so the loop is bounded by
	// the request's size.
	for len(bufs) > 0 {
		n, err := op(fd, bufs[:min(len(bufs), iovMax)], off)
		if err != nil {
			return fmt.Errorf("raw: %w", err)
		}
		if n == 0 {
			return fmt.Errorf("raw: %w", unix.EIO)
		}
		off += int64(n)
		bufs = advance(bufs, n)
	}
	return nil
}

// advance drops the first n bytes from bufs. It never writes to the
// caller's list: a buffer cut in two (a rare short transfer) starts a new
// list.
func advance(bufs [][]byte, n int) [][]byte {
	for n > 0 && len(bufs) > 0 {
		if n < len(bufs[0]) {
			return append([][]byte{bufs[0][n:]}, bufs[1:]...)
		}
		n -= len(bufs[0])
		bufs = bufs[1:]
	}
	return bufs
}
