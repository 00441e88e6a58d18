package main

import (
	"fmt"

	"github.com/ccmblk/ccmblk/ccm"
)

// runCreate writes a new encrypted image of a given guest-visible size in
// which every sector holds an encrypted zero sector. A never-written sector
// would not authenticate, so an image must be formatted like this before a
// guest can read it.
func runCreate(e *env, args []string) error {
	var o options
	fs := newFlagSet("create")
	o.addKeyFlags(fs)
	o.addOut(fs)
	fs.StringVar(&o.size, "size", "", "")
	o.addSparse(fs)
	p, err := o.setup(e, "create", fs, args, needOut|needKey)
	if err != nil {
		return err
	}
	defer clear(p.Key)
	size, err := checkSize(o.size, p)
	if err != nil {
		return err
	}
	ps := uint64(p.SectorSize)
	if o.sparse {
		if err := createSparse(o.out, o.force, size); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "created %s: %d unwritten sectors of %d bytes (%s guest-visible, a sparse file of %d bytes; serve it with --sparse, or run ccmblock fill for upstream readers)\n", o.out, size/ps, ps, humanBytes(size), 2*size)
		return nil
	}
	if err := create(e, o.out, o.force, p, size); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "created %s: %d sectors of %d bytes (%s guest-visible, %d bytes on disk)\n", o.out, size/ps, ps, humanBytes(size), 2*size)
	return nil
}

// createSparse makes an image of unwritten sectors: a file of holes, in
// constant time whatever the size.
func createSparse(path string, force bool, size uint64) error {
	out, err := createOutput(path, 2*size, force, 0o644)
	if err != nil {
		return err
	}
	defer out.discard()
	if err := out.f.Sync(); err != nil {
		return err
	}
	if err := out.f.Close(); err != nil {
		return err
	}
	out.keep()
	return nil
}

// create writes the image of runCreate; size is a multiple of the sector
// size.
func create(e *env, path string, force bool, p ccm.Params, size uint64) error {
	return writeImage(e, "create", path, force, p, size/uint64(p.SectorSize), func(_ uint64, buf []byte) ([]span, error) {
		// The buffer starts zeroed; clearing again keeps the plaintext
		// zero whatever the engine does with its source buffers.
		clear(buf)
		return nil, nil
	})
}
