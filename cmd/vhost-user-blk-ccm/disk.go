package main

import (
	"errors"
	"fmt"

	"github.com/golang/glog"

	"github.com/ccmblk/ccmblk/ccm"
	"github.com/ccmblk/ccmblk/virtio"
)

// closingDisk is a virtio.Disk the daemon closes on exit.
type closingDisk interface {
	virtio.Disk
	Close() error
}

// openDisk opens --blk-file in the chosen format. A CCM image must
// authenticate at sector 0 with the given key and parameters, so a wrong key
// or geometry is refused at start rather than served as I/O errors.
// Preconditions: lockImage has checked that --blk-file is set.
func openDisk(o *options) (closingDisk, error) {
	switch o.format {
	case "raw":
		if o.sparse {
			return nil, errors.New("--sparse applies to --format ccm; raw images punch holes anyway")
		}
		return openRaw(o.blkFile, o.image.SectorSize, o.readOnly)
	case "ccm":
	default:
		return nil, fmt.Errorf("--format %q: want ccm or raw", o.format)
	}
	p, err := o.image.Params(glog.Warningf)
	if err != nil {
		return nil, err
	}
	// The engine keeps only its expanded key schedule.
	defer clear(p.Key)
	img, err := ccm.Open(o.blkFile, p, ccm.OpenOptions{ReadOnly: o.readOnly, Sparse: o.sparse})
	if err != nil {
		return nil, err
	}
	if err := checkKey(o, img); err != nil {
		_ = img.Close()
		return nil, err
	}
	return img, nil
}

// checkKey refuses an image whose first written sector does not
// authenticate: sector 0, or with --sparse the first sector that is not
// unwritten (an image that is all unwritten cannot tell a wrong key).
func checkKey(o *options, img *ccm.Image) error {
	if img.Sectors() == 0 {
		return fmt.Errorf("%s holds no whole logical sector: make the image with ccmblock create or enc", o.blkFile)
	}
	var first uint64
	if o.sparse {
		s, ok, err := img.FirstWritten()
		if err != nil {
			return err
		}
		if !ok {
			glog.Warningf("%s has no written sector yet: the key cannot be checked until the guest writes", o.blkFile)
			return nil
		}
		first = s
	}
	sector := make([]byte, img.SectorSize())
	defer clear(sector)
	err := img.ReadSectors(first, [][]byte{sector})
	if errors.Is(err, ccm.ErrAuth) {
		return fmt.Errorf("%s: sector %d does not authenticate: wrong key, --mac-len, --nonce-len or --sector-size?", o.blkFile, first)
	}
	return err
}

// refresher is a disk that can re-read its size (ccm.Image, rawDisk).
type refresher interface {
	Refresh() error
}

// takeoverRecheck returns what to read again when the daemon takes the
// image over from another one (see owner): its size, which the other may
// have grown, and the key check of a CCM image, read afresh.
func takeoverRecheck(o *options, d closingDisk) func() error {
	return func() error {
		if r, ok := d.(refresher); ok {
			if err := r.Refresh(); err != nil {
				return err
			}
		}
		if img, ok := d.(*ccm.Image); ok {
			return checkKey(o, img)
		}
		return nil
	}
}

// setZeroing sets what the device offers of DISCARD and WRITE_ZEROES:
//   - raw: both; WRITE_ZEROES with unmap punches holes;
//   - ccm: WRITE_ZEROES only, storing encrypted zero sectors (unmap is a
//     hint); a freed slot would fail authentication, so no DISCARD;
//   - ccm --sparse: both; holes are unwritten sectors that read as zeros.
//
// A read-only disk offers neither.
func setZeroing(o *options, bo *virtio.BlockOptions) {
	if o.readOnly {
		return
	}
	bo.WriteZeroes = true
	if o.format == "raw" || o.sparse {
		bo.Discard, bo.WriteZeroesMayUnmap = true, true
	}
}
