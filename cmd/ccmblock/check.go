package main

import (
	"fmt"
	"sync/atomic"
)

// runCheck decrypts and verifies every sector of an encrypted image without
// writing anything, and lists the sectors that fail on stdout. With
// --sparse, unwritten sectors are counted apart and not decrypted.
func runCheck(e *env, args []string) error {
	var o options
	fs := newFlagSet("check")
	o.addKeyFlags(fs)
	o.addIn(fs)
	o.addSparse(fs)
	p, err := o.setup(e, "check", fs, args, needIn|needKey)
	if err != nil {
		return err
	}
	defer clear(p.Key)

	img, err := openImage(e, o.in, p, o.sparse)
	if err != nil {
		return err
	}
	defer img.Close()
	sectors := img.Sectors()
	ps := uint64(p.SectorSize)

	var bad badSectors
	var unwritten atomic.Uint64
	prog := newProgress(e, "check", sectors*ps)
	err = forChunks(sectors, p.SectorSize, prog, func(start uint64, buf []byte) error {
		if o.sparse {
			all, err := countUnwritten(img, start, uint64(len(buf))/ps, &unwritten)
			if err != nil || all {
				return err
			}
		}
		return readChunk(img, start, buf, p.SectorSize, &bad)
	})
	if err != nil {
		return err
	}
	u := unwritten.Load()
	if o.sparse {
		fmt.Fprintf(e.stdout, "unwritten sectors: %d of %d\n", u, sectors)
	}
	if err := bad.explainSector0(img); err != nil {
		return err
	}
	if err := bad.report(e.stdout, "", e.stderr, sectors); err != nil {
		return err
	}
	if o.sparse {
		fmt.Fprintf(e.stdout, "ok: all %d written sectors authenticate\n", sectors-u)
		return nil
	}
	fmt.Fprintf(e.stdout, "ok: all %d sectors authenticate\n", sectors)
	return nil
}
