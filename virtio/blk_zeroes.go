package virtio

import (
	"encoding/binary"
	"fmt"
)

// BlkWriteZeroesFlagUnmap is VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP, bit 0 of a
// segment's flags: WRITE_ZEROES may free the sectors.
const BlkWriteZeroesFlagUnmap uint32 = 1

// BlkSegmentSize is the size of struct virtio_blk_discard_write_zeroes:
// le64 sector, le32 num_sectors, le32 flags.
const BlkSegmentSize = 16

// The limits the device offers for DISCARD and WRITE_ZEROES (the
// configuration fields max_discard_sectors, max_discard_seg,
// max_write_zeroes_sectors and max_write_zeroes_seg). 0 would mean
// "unlimited" to Linux, so they are always filled when offered. 32768
// sectors (16 MiB) per segment is what qemu-storage-daemon offers and keeps
// one segment's work bounded (encrypting 16 MiB of zeros takes
// milliseconds); 8 segments let Linux merge the ranges of several bios
// into one request.
const (
	maxZeroSectors  = 32768
	maxZeroSegments = 8
)

// ZeroLimits bounds the segments of DISCARD or WRITE_ZEROES requests.
// MaxSegments 0 means the request type is not offered.
type ZeroLimits struct {
	// MaxSectors is the most 512-byte sectors one segment may cover.
	MaxSectors uint32
	// MaxSegments is the most segments one request may carry.
	MaxSegments uint32
}

// Segment is one range of a DISCARD or WRITE_ZEROES request, copied out of
// guest memory by ParseRequest and checked against the limits.
type Segment struct {
	// Sector is the first 512-byte sector.
	Sector uint64
	// Sectors is the number of 512-byte sectors.
	Sectors uint32
	// Flags holds BlkWriteZeroesFlagUnmap or nothing.
	Flags uint32
}

// Segments returns the segments of a DISCARD or WRITE_ZEROES request.
func (r *Request) Segments() []Segment { return r.segs }

// Zeroer is a Disk that can make sectors read as zeros without the data
// passing through the device, for WRITE_ZEROES.
type Zeroer interface {
	// WriteZeroes makes the sectors [start, start+n) read as zeros. With
	// unmap it may free their space.
	WriteZeroes(start, n uint64, unmap bool) error
}

// Discarder is a Disk that can free sectors, for DISCARD. What they read
// afterwards is up to the disk.
type Discarder interface {
	// Discard frees the sectors [start, start+n).
	Discard(start, n uint64) error
}

// parseSegments copies the segments of a DISCARD or WRITE_ZEROES request
// out of the in readable bytes of rd and checks each one, with the
// statuses of virtio 1.2 section 5.2.6.2 (and QEMU's device): a type not
// offered, flags other than UNMAP, UNMAP on DISCARD and more segments than
// offered are unsupported; a partial segment, a segment larger than
// offered, past the capacity or not aligned to the disk's sectors is an
// I/O error. Nothing is executed unless every segment passes.
func (r *Request) parseSegments(rd *ChainReader, in uint64, l BlkLimits) error {
	lim := l.WriteZeroes
	if r.Type == BlkTDiscard {
		lim = l.Discard
	}
	switch {
	case lim.MaxSegments == 0:
		return ErrUnsupported
	case in == 0 || in%BlkSegmentSize != 0:
		return fmt.Errorf("%w: %d bytes of segments", ErrDataLen, in)
	case in/BlkSegmentSize > uint64(lim.MaxSegments):
		return fmt.Errorf("%w: %d segments, at most %d", ErrUnsupportedSegment, in/BlkSegmentSize, lim.MaxSegments)
	}
	// Bounded by lim.MaxSegments; copying the segments out means the guest
	// cannot change them between the checks and the disk call.
	for i := uint64(0); i < in/BlkSegmentSize; i++ {
		var b [BlkSegmentSize]byte
		if _, err := rd.Read(b[:]); err != nil {
			return err
		}
		sg := Segment{
			Sector:  binary.LittleEndian.Uint64(b[0:]),
			Sectors: binary.LittleEndian.Uint32(b[8:]),
			Flags:   binary.LittleEndian.Uint32(b[12:]),
		}
		if err := sg.check(r.Type, lim, l); err != nil {
			return fmt.Errorf("segment %d [%d, +%d) flags %#x: %w", i, sg.Sector, sg.Sectors, sg.Flags, err)
		}
		r.segs = append(r.segs, sg)
	}
	return nil
}

// check validates one segment of a request of type t.
func (sg Segment) check(t uint32, lim ZeroLimits, l BlkLimits) error {
	switch {
	case sg.Flags&^BlkWriteZeroesFlagUnmap != 0:
		return ErrUnsupportedSegment // virtio 1.2 5.2.6.2: unknown flags
	case t == BlkTDiscard && sg.Flags != 0:
		return ErrUnsupportedSegment // virtio 1.2 5.2.6.2: UNMAP is for WRITE_ZEROES
	case sg.Sectors > lim.MaxSectors:
		return ErrSegmentSize
	}
	// A uint32 count times 512 fits in 64 bits.
	return checkRange(sg.Sector, uint64(sg.Sectors)*BlkSectorSize, l)
}

// zero runs the segments of a DISCARD or WRITE_ZEROES request on the disk,
// in order.
func (b *BlockDevice) zero(r *Request) error {
	per := uint64(b.sectorSz / BlkSectorSize)
	for _, sg := range r.segs {
		start, n := sg.Sector/per, uint64(sg.Sectors)/per
		if n == 0 {
			continue
		}
		var err error
		if r.Type == BlkTDiscard {
			err = b.discarder.Discard(start, n)
		} else {
			err = b.zeroer.WriteZeroes(start, n, sg.Flags&BlkWriteZeroesFlagUnmap != 0)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
