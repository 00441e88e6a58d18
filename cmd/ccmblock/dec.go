package main

import (
	"fmt"
	"sync/atomic"

	"github.com/ccmblk/ccmblk/ccm"
)

// runDec decrypts an encrypted image into a plaintext image of half its
// size. Sectors that fail authentication are written as zeros and reported
// together at the end. The output is sparse: blocks of zeros are holes.
// With --sparse, unwritten sectors read as zeros and are counted apart.
func runDec(e *env, args []string) error {
	var o options
	fs := newFlagSet("dec")
	o.addKeyFlags(fs)
	o.addIn(fs)
	o.addOut(fs)
	o.addSparse(fs)
	p, err := o.setup(e, "dec", fs, args, needIn|needOut|needKey)
	if err != nil {
		return err
	}
	defer clear(p.Key)
	return decrypt(e, &o, p)
}

func decrypt(e *env, o *options, p ccm.Params) error {
	img, err := openImage(e, o.in, p, o.sparse)
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
	var unwritten atomic.Uint64
	prog := newProgress(e, "dec", sectors*ps)
	err = forChunks(sectors, p.SectorSize, prog, func(start uint64, buf []byte) error {
		if o.sparse {
			// A chunk that is all holes stays a hole in the output.
			all, err := countUnwritten(img, start, uint64(len(buf))/ps, &unwritten)
			if err != nil || all {
				return err
			}
		}
		if err := readChunk(img, start, buf, p.SectorSize, &bad); err != nil {
			return err
		}
		if err := writeSparse(out.f, buf, int64(start*ps)); err != nil {
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
	if o.sparse {
		fmt.Fprintf(e.stderr, "ccmblock dec: %d of %d sectors unwritten (written as zeros)\n", unwritten.Load(), sectors)
	}
	if err := bad.explainSector0(img); err != nil {
		return err
	}
	return bad.report(e.stderr, "ccmblock dec: ", e.stderr, sectors)
}

// openImage opens the encrypted image at path read-only (sparse: reading
// unwritten sectors as zeros) and warns about bytes past its last whole
// pair of physical sectors, which are ignored as upstream does.
func openImage(e *env, path string, p ccm.Params, sparse bool) (*ccm.Image, error) {
	if err := checkInput(path); err != nil {
		return nil, err
	}
	img, err := ccm.Open(path, p, ccm.OpenOptions{ReadOnly: true, Sparse: sparse})
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
