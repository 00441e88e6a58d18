package ccm

import "sync"

// zeroSector is the plaintext of encrypted zero sectors. It is only read.
var zeroSector [maxSectorSize]byte

// zeroList holds as many references to zeroSector as a chunk has sectors
// at most.
var zeroList = sync.OnceValue(func() [][]byte {
	l := make([][]byte, chunkBytes/64) // the most sectors of a chunk: P >= 32
	for i := range l {
		l[i] = zeroSector[:]
	}
	return l
})

// zeroSectors returns k buffers that each hold at least one zero sector;
// sectorCursor takes one sector from each.
//
// Preconditions: k <= chunkBytes/64.
func zeroSectors(k uint64) [][]byte { return zeroList()[:k] }

// WriteZeroes makes the logical sectors [start, start+n) read as zeros. By
// default it stores encrypted zero sectors, each with a fresh nonce and
// adata, at the speed of a write and without reading anything. On a sparse
// image with unmap set, it punches holes over the sectors' slots instead,
// freeing their space; elsewhere unmap is a hint and is ignored.
func (img *Image) WriteZeroes(start, n uint64, unmap bool) error {
	if err := img.checkWrite(start, n); err != nil || n == 0 {
		return err
	}
	if img.sc.sparse && unmap {
		return img.punch(start, n)
	}
	return img.seal(start, n, nil)
}

// Discard frees the space of the logical sectors [start, start+n) on a
// sparse image: they become unwritten sectors that read as zeros. A
// default image cannot free a slot without making it fail authentication,
// so there Discard returns ErrUnimplemented.
func (img *Image) Discard(start, n uint64) error {
	if !img.sc.sparse {
		return ErrUnimplemented
	}
	if err := img.checkWrite(start, n); err != nil || n == 0 {
		return err
	}
	return img.punch(start, n)
}

// checkWrite validates a range for a call that modifies the image.
func (img *Image) checkWrite(start, n uint64) error {
	switch {
	case img.closed.Load():
		return ErrDisconnected
	case img.readOnly:
		return ErrReadOnly
	}
	return img.checkRange(start, n)
}

// punch zeroes the slots of [start, start+n), freeing their space where
// the storage can.
//
// Preconditions: the image is sparse and the range is within the capacity
// (so the byte offsets fit an int64).
func (img *Image) punch(start, n uint64) error {
	if img.holes == nil {
		return ErrUnimplemented
	}
	slot := int64(img.sc.slotLen)
	if err := img.holes.Punch(int64(start)*slot, int64(n)*slot); err != nil {
		return img.ioError("write", err)
	}
	return nil
}
