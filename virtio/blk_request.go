package virtio

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Request is one parsed virtio-blk request. A Request is reusable: each
// ParseRequest into it recycles its buffers, so a request loop allocates
// nothing once its Requests have grown to the largest chain seen.
type Request struct {
	// Type is the request type (BlkTIn, BlkTOut, ...).
	Type uint32
	// Sector is the first 512-byte sector of IN and OUT requests.
	Sector uint64
	// DataLen is the number of data bytes the request transfers: the data
	// of IN and OUT, BlkIDBytes for GET_ID, 0 for FLUSH, DISCARD and
	// WRITE_ZEROES (whose segments are in Segments).
	DataLen uint64

	descs  []Desc    // the chain's buffer descriptors
	data   [][]byte  // host views of the data, in order
	segs   []Segment // DISCARD and WRITE_ZEROES: the checked segments
	status []byte    // host view of the status byte; nil if there is none
}

// Data returns the host views of the request's data buffers, in order. They
// alias guest memory.
func (r *Request) Data() [][]byte { return r.data }

// HasStatus reports whether the request has a writable status byte. A
// request without one is completed with used length 0.
func (r *Request) HasStatus() bool { return r.status != nil }

// setStatus writes the status byte; r.HasStatus() must be true.
func (r *Request) setStatus(s uint8) { r.status[0] = s }

// usedLen returns the number of bytes the device wrote into the chain when
// it completes the request with status s.
func (r *Request) usedLen(s uint8) uint32 {
	switch {
	case r.status == nil:
		return 0
	case s == BlkSOK && (r.Type == BlkTIn || r.Type == BlkTGetID):
		return uint32(r.DataLen) + 1 // DataLen < 2^32: the chain is at most 2^32 bytes
	default:
		return 1
	}
}

// keepDescs bounds the descriptors' worth of buffers a Request keeps for
// the next request on its head. A longer chain's buffers are dropped once
// it completes, so a driver that makes every head of every queue carry
// seg_max descriptors once cannot make the device keep that much memory.
const keepDescs = 16

// trim drops buffers grown beyond keepDescs entries; the Request is done
// with.
func (r *Request) trim() {
	if cap(r.descs) > keepDescs {
		r.descs = nil
	}
	if cap(r.data) > keepDescs {
		r.data = nil
	}
	if cap(r.segs) > keepDescs {
		r.segs = nil
	}
}

// BlkLimits describes what a request is checked against.
type BlkLimits struct {
	// Capacity is the disk size in 512-byte sectors.
	Capacity uint64
	// SectorSize is the disk's sector size in bytes (a power of two, at
	// least 512); IN and OUT must cover whole disk sectors.
	SectorSize int
	// MaxDescs is the most buffer descriptors a request may have (the
	// advertised seg_max plus header and status); 0 means no limit beyond
	// the chain's own bounds.
	MaxDescs int
	// Discard and WriteZeroes bound the segments of those requests; a
	// zero MaxSegments makes the type unsupported.
	Discard, WriteZeroes ZeroLimits
}

// ParseRequest walks c and parses the virtio-blk request it carries into r,
// with ANY_LAYOUT semantics: the 16-byte header is the first 16
// device-readable bytes, however they are split across descriptors; the
// status is the last byte of the last device-writable descriptor; the data
// are the bytes between them, which may share descriptors with either.
// IN and OUT must map to whole disk sectors inside the disk described by l;
// so must every segment of DISCARD and WRITE_ZEROES (see parseSegments).
//
// On error, r.HasStatus() tells the two tiers apart: without a status byte
// (a malformed chain) the request is completed with used length 0;
// otherwise BlkStatus(err) is written to the status byte. ParseRequest does
// not touch the data buffers.
func ParseRequest(c *Chain, l BlkLimits, r *Request) error {
	*r = Request{descs: r.descs[:0], data: r.data[:0], segs: r.segs[:0]}
	for {
		d, ok, err := c.Next()
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		if l.MaxDescs > 0 && len(r.descs) == l.MaxDescs {
			return fmt.Errorf("%w: more than %d", ErrTooManyDescs, l.MaxDescs)
		}
		r.descs = append(r.descs, d)
	}
	if err := r.findStatus(c.mem); err != nil {
		return err
	}
	rd := NewChainReader(c.mem, r.descs)
	if rd.Remaining() < BlkHeaderSize {
		return fmt.Errorf("%w: %d readable bytes", ErrShortHeader, rd.Remaining())
	}
	var h [BlkHeaderSize]byte
	if _, err := rd.Read(h[:]); err != nil {
		return err
	}
	r.Type = binary.LittleEndian.Uint32(h[0:])
	r.Sector = binary.LittleEndian.Uint64(h[8:])
	wr := NewChainWriter(c.mem, r.descs)
	wr.Limit(wr.Remaining() - 1) // the status byte is not data
	return r.mapData(&rd, &wr, l)
}

// mapData checks the data of the request type against its direction and
// l, and takes the host views of the data: rd and wr are the readable and
// writable bytes after the header, the status byte excluded.
func (r *Request) mapData(rd *ChainReader, wr *ChainWriter, l BlkLimits) error {
	in, out := rd.Remaining(), wr.Remaining()
	var err error
	switch r.Type {
	case BlkTIn:
		if in != 0 {
			return r.errorf(ErrDataDirection, in)
		}
		r.DataLen = out
		if err = checkRange(r.Sector, out, l); err == nil {
			r.data, err = wr.Slices(out, r.data)
		}
	case BlkTOut:
		if out != 0 {
			return r.errorf(ErrDataDirection, out)
		}
		r.DataLen = in
		if err = checkRange(r.Sector, in, l); err == nil {
			r.data, err = rd.Slices(in, r.data)
		}
	case BlkTFlush:
		if in != 0 || out != 0 {
			return r.errorf(ErrDataDirection, in+out)
		}
	case BlkTDiscard, BlkTWriteZeroes:
		if out != 0 {
			return r.errorf(ErrDataDirection, out)
		}
		err = r.parseSegments(rd, in, l)
	case BlkTGetID:
		if in != 0 {
			return r.errorf(ErrDataDirection, in)
		}
		if out < BlkIDBytes {
			return r.errorf(ErrDataLen, out)
		}
		r.DataLen = BlkIDBytes
		r.data, err = wr.Slices(BlkIDBytes, r.data)
	default:
		return r.errorf(ErrUnsupported, in+out)
	}
	if err != nil {
		return r.errorf(err, r.DataLen)
	}
	return nil
}

// findStatus locates the status byte: the last byte of the last
// device-writable descriptor.
func (r *Request) findStatus(m *Memory) error {
	if len(r.descs) == 0 || !r.descs[len(r.descs)-1].IsWriteOnly() {
		return ErrNoStatus
	}
	last := r.descs[len(r.descs)-1]
	addr, ok := last.Addr.Add(uint64(last.Len) - 1)
	if !ok {
		return fmt.Errorf("%w: %w", ErrNoStatus, ErrAddrOverflow)
	}
	st, err := m.contiguous(addr, 1, true)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNoStatus, err)
	}
	r.status = st
	return nil
}

// errorf wraps err with the request's type, sector and data length.
func (r *Request) errorf(err error, n uint64) error {
	return fmt.Errorf("%w (type %d, sector %d, %d data bytes)", err, r.Type, r.Sector, n)
}

// checkRange checks that n bytes at 512-byte sector sector are whole disk
// sectors inside the disk.
func checkRange(sector, n uint64, l BlkLimits) error {
	if n%BlkSectorSize != 0 {
		return ErrDataLen
	}
	end := sector + n/BlkSectorSize
	if end < sector || end > l.Capacity {
		return ErrOutOfRange
	}
	per := uint64(l.SectorSize / BlkSectorSize)
	if sector%per != 0 || n%uint64(l.SectorSize) != 0 {
		return ErrUnaligned
	}
	return nil
}

// BlkStatus maps a request error to its virtio-blk status byte. It is the
// only place errors become status values: nil is OK, an unsupported type or
// discard/write-zeroes segment is UNSUPP, everything else (range,
// alignment, direction, size, read-only, disk and authentication errors) is
// IOERR.
func BlkStatus(err error) uint8 {
	switch {
	case err == nil:
		return BlkSOK
	case errors.Is(err, ErrUnsupported), errors.Is(err, ErrUnsupportedSegment):
		return BlkSUnsupp
	default:
		return BlkSIOErr
	}
}
