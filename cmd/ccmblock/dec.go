package main

import (
	"fmt"

	"github.com/ccmblk/ccmblk/ccm"
)

// runDec decrypts an encrypted image into a plaintext image of half its
// size. Sectors that fail authentication are written as zeros and reported
// together at the end.
func runDec(e *env, args []string) error {
	var o options
	fs := newFlagSet("dec")
	o.addKeyFlags(fs)
	o.addIn(fs)
	o.addOut(fs)
	p, err := o.setup(e, "dec", fs, args, needIn|needOut|needKey)
	if err != nil {
		return err
	}
	defer clear(p.Key)
	return decrypt(e, &o, p)
}

func decrypt(e *env, o *options, p ccm.Params) error {
	img, err := openImage(e, o.in, p)
	if err != nil {
		return err
	}
	defer img.Close()
	ps := uint64(p.SectorSize)
	sectors := img.Sectors()

	// The plaintext is private: the output is readable by its owner only.
	out, err := createOutput(o.out, sectors*ps, o.force, 0o600, o.in)
	if err != nil {
		return err
	}
	defer out.discard()

	var bad badSectors
	prog := newProgress(e, "dec", sectors*ps)
	err = forChunks(sectors, p.SectorSize, prog, func(start uint64, buf []byte) error {
		if err := readChunk(img, start, buf, p.SectorSize, &bad); err != nil {
			return err
		}
		if _, err := out.f.WriteAt(buf, int64(start*ps)); err != nil {
			return fmt.Errorf("writing %s: %w", o.out, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := out.f.Sync(); err != nil {
		return err
	}
	if err := out.f.Close(); err != nil {
		return err
	}
	out.keep()
	return bad.report(e.stderr, "ccmblock dec: ", e.stderr, sectors)
}

// openImage opens the encrypted image at path read-only and warns about
// bytes past its last whole pair of physical sectors, which are ignored as
// upstream does.
func openImage(e *env, path string, p ccm.Params) (*ccm.Image, error) {
	if err := checkInput(path); err != nil {
		return nil, err
	}
	img, err := ccm.Open(path, p, ccm.OpenOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	if size, err := inputSize(path); err == nil {
		if g := newGeometry(size, p); g.trailing != 0 {
			e.warnf("%s: the last %d bytes are not a whole pair of %d-byte sectors and are ignored", path, g.trailing, p.SectorSize)
		}
	}
	return img, nil
}
