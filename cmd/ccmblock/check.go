package main

import "fmt"

// runCheck decrypts and verifies every sector of an encrypted image without
// writing anything, and lists the sectors that fail on stdout.
func runCheck(e *env, args []string) error {
	var o options
	fs := newFlagSet("check")
	o.addKeyFlags(fs)
	o.addIn(fs)
	p, err := o.setup(e, "check", fs, args, needIn|needKey)
	if err != nil {
		return err
	}
	defer clear(p.Key)

	img, err := openImage(e, o.in, p)
	if err != nil {
		return err
	}
	defer img.Close()
	sectors := img.Sectors()

	var bad badSectors
	prog := newProgress(e, "check", sectors*uint64(p.SectorSize))
	err = forChunks(sectors, p.SectorSize, prog, func(start uint64, buf []byte) error {
		return readChunk(img, start, buf, p.SectorSize, &bad)
	})
	if err != nil {
		return err
	}
	if err := bad.report(e.stdout, "", e.stderr, sectors); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "ok: all %d sectors authenticate\n", sectors)
	return nil
}
