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
	img, err := ccm.Open(o.blkFile, p, ccm.OpenOptions{ReadOnly: o.readOnly})
	if err != nil {
		return nil, err
	}
	if img.Sectors() == 0 {
		_ = img.Close()
		return nil, fmt.Errorf("%s holds no whole logical sector", o.blkFile)
	}
	sector0 := make([]byte, img.SectorSize())
	if err := img.ReadSectors(0, [][]byte{sector0}); err != nil {
		_ = img.Close()
		if errors.Is(err, ccm.ErrAuth) {
			return nil, fmt.Errorf("%s: sector 0 does not authenticate: wrong key, --mac-len, --nonce-len or --sector-size?", o.blkFile)
		}
		return nil, err
	}
	clear(sector0)
	return img, nil
}
