package ccm

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

// chunkBytes bounds the ciphertext scratch of one call: a larger call is
// split into runs of at most this many bytes, each one positional read or
// write. 256 KiB (256 sectors of 512 bytes) makes the system call cost
// negligible while the scratch and the caller's plaintext stay in a
// core's L2 cache between the copy of the system call and the CCM pass.
const chunkBytes = 256 << 10

// Info describes an image, as mirage-block-ccm's info record does.
type Info struct {
	ReadWrite   bool   // writes are allowed
	SectorSize  int    // P, the logical sector size in bytes
	SizeSectors uint64 // logical sectors: half the physical sectors
}

// OpenOptions are the options of Open and NewImage.
type OpenOptions struct {
	// ReadOnly opens the file read-only; writes fail with ErrReadOnly.
	ReadOnly bool
	// Sparse serves a slot whose 2P bytes are all zero as an unwritten
	// sector that reads as zeros, instead of failing authentication.
	// Discard and WriteZeroes with unmap then punch holes, and Grow adds
	// holes. Anyone who can write the image can then zero a sector
	// undetected, and mirage-block-ccm cannot read unwritten sectors until
	// they are filled.
	Sparse bool
}

// Image is an encrypted sector store in the mirage-block-ccm format over a
// file or block device. Its methods are safe for concurrent use: each call
// works in its own scratch.
type Image struct {
	f        *os.File
	sc       sectorCipher
	readOnly bool
	holes    *holes.File // nil if the file is read-only or cannot hold holes
	// sectors is the logical capacity. Only Grow raises it, once the new
	// slots are durable; it never falls.
	sectors atomic.Uint64
	chunk   int // sectors per chunk
	closed  atomic.Bool
	jobs    sync.Pool // of *job

	// growMu serialises Grow calls.
	growMu sync.Mutex
}

// job is the scratch of one ReadSectors or WriteSectors call.
type job struct {
	ls  *laneState
	ct  []byte // chunk of slots, as on disk
	rng *drbg  // made on the first write that uses this job
}

// Open opens the image at path with the key and geometry of p: read-write,
// or read-only if o.ReadOnly.
func Open(path string, p Params, o OpenOptions) (*Image, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	flag := os.O_RDWR
	if o.ReadOnly {
		flag = os.O_RDONLY
	}
	f, err := os.OpenFile(path, flag, 0)
	if err != nil {
		return nil, &UnknownError{Op: "open", Err: err}
	}
	return NewImage(f, p, o)
}

// NewImage returns an image over f with the key and geometry of p. It takes
// ownership of f, closing it on error. The image is read-only if o.ReadOnly
// or if f was opened read-only. Its capacity is fixed now: half the whole
// physical sectors of f (a trailing odd sector or partial sector is
// ignored, as mirage-block-ccm does).
func NewImage(f *os.File, p Params, o OpenOptions) (*Image, error) {
	img, err := newImage(f, p, o)
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	return img, nil
}

func newImage(f *os.File, p Params, o OpenOptions) (*Image, error) {
	g, err := p.geometry()
	if err != nil {
		return nil, err
	}
	key, err := newKernelKey(p.Key)
	if err != nil {
		return nil, fmt.Errorf("ccm: %w: %w", err, ErrBadParams)
	}
	writable, err := isWritable(f)
	if err != nil {
		return nil, &UnknownError{Op: "open", Err: err}
	}
	// Seek to the end works for block devices too, whose Stat size is 0.
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, &UnknownError{Op: "size", Err: err}
	}
	img := &Image{
		f:        f,
		sc:       sectorCipher{geometry: g, key: key, sparse: o.Sparse},
		readOnly: o.ReadOnly || !writable,
		chunk:    max(1, chunkBytes/g.slotLen),
	}
	img.sectors.Store(uint64(size) / uint64(g.slotLen))
	if !img.readOnly {
		// A character device or pipe cannot hold holes; Grow, Discard and
		// WriteZeroes with unmap then report ErrUnimplemented.
		img.holes, _ = holes.New(f)
	}
	img.jobs.New = func() any {
		return &job{ls: g.newLaneState(), ct: make([]byte, img.chunk*g.slotLen)}
	}
	return img, nil
}

// isWritable reports whether f's access mode allows writes.
func isWritable(f *os.File) (bool, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return false, err
	}
	var fl int
	var ferr error
	if err := rc.Control(func(fd uintptr) { fl, ferr = unix.FcntlInt(fd, unix.F_GETFL, 0) }); err != nil {
		return false, err
	}
	if ferr != nil {
		return false, ferr
	}
	return fl&unix.O_ACCMODE != unix.O_RDONLY, nil
}

// Info returns the image's geometry, as mirage-block-ccm's get_info.
func (img *Image) Info() Info {
	return Info{ReadWrite: !img.readOnly, SectorSize: img.sc.sectorSize, SizeSectors: img.sectors.Load()}
}

// SectorSize returns P, the logical (and physical) sector size in bytes.
func (img *Image) SectorSize() int { return img.sc.sectorSize }

// Sectors returns the capacity in logical sectors. It grows with Grow.
func (img *Image) Sectors() uint64 { return img.sectors.Load() }

// Sparse reports whether all-zero slots read as unwritten sectors of zeros.
func (img *Image) Sparse() bool { return img.sc.sparse }

// ReadOnly reports whether writes are refused.
func (img *Image) ReadOnly() bool { return img.readOnly }

// ReadSectors decrypts the logical sectors from start on into bufs, each a
// whole number of sectors, in order. A sector whose tag does not verify
// leaves its buffer zeroed; the others are still read, and the error is an
// *AuthError naming the first failing sector. On a sparse image an
// unwritten sector (an all-zero slot) reads as zeros. Each sector is
// decrypted into the call's own scratch and copied to its buffer only once
// its tag verifies: the buffers are only written, never read, and never
// hold unverified plaintext, even for a moment.
func (img *Image) ReadSectors(start uint64, bufs [][]byte) error {
	n, err := img.check(start, bufs)
	if err != nil || n == 0 {
		return err
	}
	j := img.jobs.Get().(*job)
	defer img.putJob(j)
	cur := sectorCursor{bufs: bufs, size: img.sc.sectorSize}
	var badFirst uint64
	var badCount int
	for done := uint64(0); done < n; {
		k := min(n-done, uint64(img.chunk))
		ct := j.ct[:k*uint64(img.sc.slotLen)]
		if err := img.readAt(ct, start+done); err != nil {
			return err
		}
		first, failed := img.sc.open(j.ls, ct, &cur)
		if failed > 0 && badCount == 0 {
			badFirst = start + done + uint64(first)
		}
		badCount += failed
		done += k
	}
	if badCount > 0 {
		return &AuthError{Sector: badFirst, Count: badCount}
	}
	return nil
}

// WriteSectors encrypts bufs, each a whole number of sectors, onto the
// logical sectors from start on, each with a fresh nonce and adata. The
// buffers are encrypted from directly: if their contents change during the
// call, the sectors concerned may fail authentication when read back.
func (img *Image) WriteSectors(start uint64, bufs [][]byte) error {
	if img.closed.Load() {
		return ErrDisconnected
	}
	if img.readOnly {
		return ErrReadOnly
	}
	n, err := img.check(start, bufs)
	if err != nil || n == 0 {
		return err
	}
	return img.seal(start, n, &sectorCursor{bufs: bufs, size: img.sc.sectorSize})
}

// seal encrypts n sectors onto the slots from start on, a chunk at a time,
// each with a fresh nonce and adata. The plaintext comes from src, or is
// zeros if src is nil.
//
// Preconditions: the slots are within the capacity, or beyond it and
// reserved by Grow.
func (img *Image) seal(start, n uint64, src *sectorCursor) error {
	j := img.jobs.Get().(*job)
	defer img.putJob(j)
	if j.rng == nil {
		j.rng = newDRBG()
	}
	for done := uint64(0); done < n; {
		k := min(n-done, uint64(img.chunk))
		ct := j.ct[:k*uint64(img.sc.slotLen)]
		j.rng.fillTails(ct, img.sc.slotLen, img.sc.sectorSize)
		cur := src
		if cur == nil {
			// Every lane reads the same zero sector; none writes it.
			cur = &sectorCursor{bufs: zeroSectors(k), size: img.sc.sectorSize}
		}
		img.sc.seal(j.ls, ct, cur)
		if err := img.writeAt(ct, start+done); err != nil {
			return err
		}
		done += k
	}
	return nil
}

func (img *Image) putJob(j *job) {
	j.ls.release()
	img.jobs.Put(j)
}

// check validates a call's arguments and returns its number of sectors.
func (img *Image) check(start uint64, bufs [][]byte) (uint64, error) {
	if img.closed.Load() {
		return 0, ErrDisconnected
	}
	p := img.sc.sectorSize
	var n uint64
	for i, b := range bufs {
		if len(b)%p != 0 {
			return 0, fmt.Errorf("ccm: buffer %d is %d bytes, sector size %d: %w", i, len(b), p, ErrNotWholeSectors)
		}
		n += uint64(len(b) / p) // slice lengths are below 2^63: no overflow
	}
	return n, img.checkRange(start, n)
}

// checkRange refuses sectors [start, start+n) beyond the capacity.
func (img *Image) checkRange(start, n uint64) error {
	// start+n may overflow; compare without adding.
	if c := img.sectors.Load(); start > c || n > c-start {
		return fmt.Errorf("ccm: sectors [%d, %d+%d) beyond capacity %d: %w", start, start, n, c, ErrOutOfRange)
	}
	return nil
}

// readAt reads the slots of logical sectors from sector on into ct.
//
// Preconditions: the sectors are within the capacity, so the offset is
// below the file size and fits an int64.
func (img *Image) readAt(ct []byte, sector uint64) error {
	n, err := img.f.ReadAt(ct, int64(sector)*int64(img.sc.slotLen))
	if n == len(ct) {
		return nil
	}
	return img.ioError("read", err)
}

// writeAt writes ct to the slots of logical sectors from sector on.
//
// Preconditions: as readAt.
func (img *Image) writeAt(ct []byte, sector uint64) error {
	_, err := img.f.WriteAt(ct, int64(sector)*int64(img.sc.slotLen))
	if err != nil {
		return img.ioError("write", err)
	}
	return nil
}

// ioError maps an error of the file to the block API's errors.
func (img *Image) ioError(op string, err error) error {
	switch {
	case errors.Is(err, os.ErrClosed):
		return ErrDisconnected
	case errors.Is(err, io.EOF):
		// The file shrank below the capacity fixed at open.
		return &UnknownError{Op: op, Err: io.ErrUnexpectedEOF}
	default:
		return &UnknownError{Op: op, Err: err}
	}
}

// Flush returns once every completed write is on stable storage
// (fdatasync).
func (img *Image) Flush() error {
	if img.closed.Load() {
		return ErrDisconnected
	}
	rc, err := img.f.SyscallConn()
	if err != nil {
		return img.ioError("flush", err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.Fdatasync(int(fd)) }); err != nil {
		return img.ioError("flush", err)
	}
	if serr != nil {
		return &UnknownError{Op: "flush", Err: serr}
	}
	return nil
}

// Close closes the file, as mirage-block-ccm's disconnect. Every later call,
// Close included, returns ErrDisconnected. Calls in flight finish or fail
// with ErrDisconnected.
func (img *Image) Close() error {
	if img.closed.Swap(true) {
		return ErrDisconnected
	}
	if err := img.f.Close(); err != nil {
		return &UnknownError{Op: "close", Err: err}
	}
	return nil
}
