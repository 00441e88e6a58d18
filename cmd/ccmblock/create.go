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
	p, err := o.setup(e, "create", fs, args, needOut|needKey)
	if err != nil {
		return err
	}
	defer clear(p.Key)
	if o.size == "" {
		return usagef("missing --size")
	}
	size, err := parseSize(o.size)
	if err != nil {
		return &usageError{msg: err.Error()}
	}
	ps := uint64(p.SectorSize)
	switch {
	case size == 0:
		return usagef("--size must be positive")
	case size%ps != 0:
		return usagef("--size %d bytes is not a multiple of the %d-byte sector size", size, ps)
	case size > 1<<61:
		// The image is twice the size and file offsets are signed.
		return usagef("--size %d bytes is too large", size)
	}
	if err := create(e, o.out, o.force, p, size); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "created %s: %d sectors of %d bytes (%s guest-visible, %d bytes on disk)\n", o.out, size/ps, ps, humanBytes(size), 2*size)
	return nil
}

// create writes the image of runCreate; size is a multiple of the sector
// size.
func create(e *env, path string, force bool, p ccm.Params, size uint64) error {
	return writeImage(e, "create", path, force, p, size/uint64(p.SectorSize), func(_ uint64, buf []byte) error {
		// The buffer starts zeroed; clearing again keeps the plaintext
		// zero whatever the engine does with its source buffers.
		clear(buf)
		return nil
	})
}
