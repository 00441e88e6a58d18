package main

import (
	"fmt"
	"os"
	"sync/atomic"

	"github.com/ccmblk/ccmblk/ccm"
	"github.com/ccmblk/ccmblk/cmd/internal/imagelock"
)

// runFill turns a sparse image into one upstream mirage-block-ccm reads:
// every unwritten sector becomes an encrypted zero sector. Written sectors
// are left alone and not decrypted.
func runFill(e *env, args []string) error {
	var o options
	fs := newFlagSet("fill")
	o.addKeyFlags(fs)
	o.addIn(fs)
	p, err := o.setup(e, "fill", fs, args, needIn|needKey)
	if err != nil {
		return err
	}
	defer clear(p.Key)
	img, lock, err := openForUpdate(o.in, p, false)
	if err != nil {
		return err
	}
	defer lock.Close()
	defer img.Close()
	sectors := img.Sectors()
	var filled atomic.Uint64
	prog := newProgress(e, "fill", sectors*uint64(p.SectorSize))
	err = forChunks(sectors, p.SectorSize, prog, func(start uint64, buf []byte) error {
		var runs []span
		err := img.Unwritten(start, uint64(len(buf)/p.SectorSize), func(s, n uint64) { runs = append(runs, span{s, n}) })
		for _, r := range runs {
			if err != nil {
				break
			}
			err = img.WriteZeroes(r.start, r.n, false)
			filled.Add(r.n)
		}
		return err
	})
	if err != nil {
		return err
	}
	if err := img.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "filled %s: %d unwritten sectors are now encrypted zero sectors; all %d sectors authenticate\n", o.in, filled.Load(), sectors)
	return nil
}

// openForUpdate locks the image at path against the daemon and other
// updates and opens it read-write (with sparse, reading unwritten sectors
// as zeros and growing with holes). The caller closes both.
func openForUpdate(path string, p ccm.Params, sparse bool) (*ccm.Image, *os.File, error) {
	if err := checkInput(path); err != nil {
		return nil, nil, err
	}
	lock, err := imagelock.Lock(path, false)
	if err != nil {
		return nil, nil, err
	}
	img, err := ccm.Open(path, p, ccm.OpenOptions{Sparse: sparse})
	if err != nil {
		lock.Close()
		return nil, nil, err
	}
	return img, lock, nil
}
