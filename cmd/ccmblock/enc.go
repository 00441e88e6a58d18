package main

import (
	"fmt"

	"github.com/ccmblk/ccmblk/ccm"
)

// runEnc encrypts a plaintext image: logical sector n of the output holds
// sector n of the input, and the output is exactly twice the input's size.
func runEnc(e *env, args []string) error {
	var o options
	fs := newFlagSet("enc")
	o.addKeyFlags(fs)
	o.addIn(fs)
	o.addOut(fs)
	fs.BoolVar(&o.pad, "pad", false, "")
	o.addSparse(fs)
	p, err := o.setup(e, "enc", fs, args, needIn|needOut|needKey)
	if err != nil {
		return err
	}
	defer clear(p.Key)
	return encrypt(e, &o, p)
}

// encrypt writes the image of runEnc.
func encrypt(e *env, o *options, p ccm.Params) error {
	in, size, err := openInput(o.in)
	if err != nil {
		return err
	}
	defer in.Close()
	ps := uint64(p.SectorSize)
	if size%ps != 0 && !o.pad {
		return fmt.Errorf("input %s is %d bytes, not a multiple of the %d-byte sector size (--pad zero-pads the last sector)", o.in, size, ps)
	}
	sectors := (size + ps - 1) / ps
	return writeImage(e, "enc", o.out, o.force, p, sectors, func(start uint64, buf []byte) ([]span, error) {
		off := start * ps
		want := min(uint64(len(buf)), size-off)
		if n, err := in.ReadAt(buf[:want], int64(off)); uint64(n) < want {
			return nil, fmt.Errorf("reading %s at byte %d: %w", o.in, off+uint64(n), err)
		}
		// Only the padded tail of the last sector can be short.
		clear(buf[want:])
		if !o.sparse {
			return nil, nil
		}
		// The padded last sector is data if any of it is.
		return inputHoles(in, start, uint64(len(buf))/ps, p.SectorSize)
	}, o.in)
}

// fillFunc puts the plaintext of the sectors from start on into buf (see
// chunkFunc) and returns the runs of them to leave unwritten, in order.
type fillFunc func(start uint64, buf []byte) (skip []span, err error)

// writeImage creates the image file path (see createOutput for force and
// inputs) holding sectors logical sectors with parameters p and encrypts
// every sector into it but those fill skips, which stay unwritten (holes),
// showing progress as label. The file is removed unless every sector was
// written and flushed.
func writeImage(e *env, label, path string, force bool, p ccm.Params, sectors uint64, fill fillFunc, inputs ...string) error {
	ps := uint64(p.SectorSize)
	out, err := createOutput(path, 2*sectors*ps, force, 0o644, inputs...)
	if err != nil {
		return err
	}
	defer out.discard()
	img, err := ccm.NewImage(out.f, p, ccm.OpenOptions{})
	if err != nil {
		return err
	}
	defer img.Close()
	prog := newProgress(e, label, sectors*ps)
	err = forChunks(sectors, p.SectorSize, prog, func(start uint64, buf []byte) error {
		skip, err := fill(start, buf)
		if err != nil {
			return err
		}
		// Write the runs between the skipped ones.
		at := start
		for _, sk := range append(skip, span{start + uint64(len(buf))/ps, 0}) {
			if sk.start > at {
				if err := img.WriteSectors(at, [][]byte{buf[(at-start)*ps : (sk.start-start)*ps]}); err != nil {
					return err
				}
			}
			at = sk.start + sk.n
		}
		return nil
	})
	if err != nil {
		return err
	}
	return closeImage(img, out)
}

// closeImage flushes and closes a written image and keeps its file.
func closeImage(img *ccm.Image, out *output) error {
	if err := img.Flush(); err != nil {
		return err
	}
	if err := img.Close(); err != nil {
		return err
	}
	out.keep()
	return nil
}
