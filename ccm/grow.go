package ccm

import (
	"fmt"
	"math"
)

// Grow raises the capacity to newSectors logical sectors. The new sectors
// read as zeros: on a default image they are encrypted zero sectors, each
// with a fresh nonce and adata, so the image stays fully readable by
// mirage-block-ccm; on a sparse image they are unwritten sectors, holes
// that take no space. A regular file is extended; a block device must
// already be large enough.
//
// Grow is safe to call while the image is served. Reads and writes in
// flight keep working on the old capacity, and nothing touches the new
// slots until the new capacity is published, which happens only once the
// new slots and the file size are on stable storage (fdatasync). Calls to
// Grow are serialised. A failed Grow leaves the capacity unchanged and, on
// a regular file, truncates the file back to its former size. Growing to
// the current capacity does nothing; a smaller size is ErrShrink.
func (img *Image) Grow(newSectors uint64) error {
	switch {
	case img.closed.Load():
		return ErrDisconnected
	case img.readOnly:
		return ErrReadOnly
	case img.holes == nil:
		return fmt.Errorf("ccm: grow: the image is neither a regular file nor a block device: %w", ErrUnimplemented)
	}
	img.growMu.Lock()
	defer img.growMu.Unlock()
	old := img.sectors.Load()
	slot := uint64(img.sc.slotLen)
	switch {
	case newSectors < old:
		return fmt.Errorf("ccm: grow to %d sectors, capacity %d: %w", newSectors, old, ErrShrink)
	case newSectors == old:
		return nil
	case newSectors > math.MaxInt64/slot:
		return fmt.Errorf("ccm: grow to %d sectors: beyond the largest file: %w", newSectors, ErrOutOfRange)
	}
	var err error
	if img.holes.IsBlockDevice() {
		err = img.growDevice(old, newSectors)
	} else {
		err = img.growFile(old, newSectors)
	}
	if err != nil {
		return err
	}
	if err := img.Flush(); err != nil {
		return err
	}
	img.sectors.Store(newSectors)
	return nil
}

// growDevice fills the slots [old, newSectors) of a block device.
//
// Preconditions: growMu is held; newSectors*slotLen fits an int64.
func (img *Image) growDevice(old, newSectors uint64) error {
	have, err := img.slotsHeld()
	if err != nil {
		return err
	}
	if have < newSectors {
		return fmt.Errorf("ccm: grow to %d sectors: the device holds %d: %w", newSectors, have, ErrOutOfRange)
	}
	slot := int64(img.sc.slotLen)
	if img.sc.sparse {
		if err := img.holes.Punch(int64(old)*slot, int64(newSectors-old)*slot); err != nil {
			return img.ioError("write", err)
		}
		return nil
	}
	return img.seal(old, newSectors-old, nil)
}

// growFile extends a regular file to newSectors slots. A trailing partial
// slot, which no capacity covered, is overwritten.
//
// Preconditions: growMu is held; newSectors*slotLen fits an int64.
func (img *Image) growFile(old, newSectors uint64) error {
	st, err := img.f.Stat()
	if err != nil {
		return img.ioError("size", err)
	}
	slot := int64(img.sc.slotLen)
	oldEnd, newEnd := int64(old)*slot, int64(newSectors)*slot
	if img.sc.sparse {
		// Drop the partial slot first so the new slots are all holes.
		err = img.f.Truncate(oldEnd)
		if err == nil {
			err = img.f.Truncate(newEnd)
		}
		if err != nil {
			err = img.ioError("write", err)
		}
	} else {
		err = img.seal(old, newSectors-old, nil)
	}
	if err != nil {
		// Best effort: the slots past the old capacity were never served.
		_ = img.f.Truncate(st.Size())
	}
	return err
}
