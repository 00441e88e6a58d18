package ccm

import (
	"fmt"
	"io"
)

// Refresh re-reads the capacity from the size of the file or block device
// under the image, for an image another process may have grown while this
// one had it open but did not serve it (the other end of a live
// migration). The capacity only grows: an image found smaller than its
// capacity is ErrShrink, and the capacity is left as it was.
func (img *Image) Refresh() error {
	if img.closed.Load() {
		return ErrDisconnected
	}
	img.growMu.Lock()
	defer img.growMu.Unlock()
	n, err := img.slotsHeld()
	if err != nil {
		return err
	}
	if old := img.sectors.Load(); n < old {
		return fmt.Errorf("ccm: the image now holds %d sectors, fewer than its capacity of %d: %w", n, old, ErrShrink)
	}
	img.sectors.Store(n)
	return nil
}

// slotsHeld returns how many whole slots the file or block device under
// the image holds now (seeking to the end sizes block devices too, whose
// Stat size is 0).
func (img *Image) slotsHeld() (uint64, error) {
	size, err := img.f.Seek(0, io.SeekEnd)
	if err != nil {
		return 0, img.ioError("size", err)
	}
	return uint64(size) / uint64(img.sc.slotLen), nil
}
