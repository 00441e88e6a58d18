package main

import (
	"fmt"
	"os"
	"time"

	"github.com/ccmblk/ccmblk/ccm"
)

// growStep is how much a resize grows the image between progress updates:
// each step is one durable Grow (encrypted zero sectors, or holes when the
// image is opened sparse).
const growStep = 256 << 20

// runResize changes the guest-visible size of an image offline. Growing
// appends encrypted zero sectors (holes with --sparse); shrinking needs
// --shrink and says what it drops.
func runResize(e *env, args []string) error {
	var o options
	fs := newFlagSet("resize")
	o.addKeyFlags(fs)
	o.addIn(fs)
	o.addSparse(fs)
	fs.StringVar(&o.size, "size", "", "")
	fs.BoolVar(&o.shrink, "shrink", false, "")
	p, err := o.setup(e, "resize", fs, args, needIn|needKey)
	if err != nil {
		return err
	}
	defer clear(p.Key)
	size, err := checkSize(o.size, p)
	if err != nil {
		return err
	}
	img, lock, err := openForUpdate(o.in, p, o.sparse)
	if err != nil {
		return err
	}
	defer lock.Close()
	defer img.Close()
	ps := uint64(p.SectorSize)
	old, want := img.Sectors(), size/ps
	switch {
	case want == old:
		fmt.Fprintf(e.stdout, "%s already holds %d sectors (%s)\n", o.in, old, humanBytes(size))
		return nil
	case want < old:
		return shrink(e, &o, img, want)
	}
	prog := newProgress(e, "resize", (want-old)*ps)
	for n := old; n < want; {
		next := min(want, n+growStep/ps)
		if err := img.Grow(next); err != nil {
			return err
		}
		prog.add((next - n) * ps)
		prog.tick(time.Now())
		n = next
	}
	prog.finish(time.Now())
	kind := "encrypted zero sectors"
	if o.sparse {
		kind = "unwritten sectors (holes)"
	}
	fmt.Fprintf(e.stdout, "resized %s: %d -> %d sectors (%s guest-visible); %d new %s\n", o.in, old, want, humanBytes(size), want-old, kind)
	return nil
}

// shrink drops the sectors from want on, if --shrink allows it, and says
// how many of them held data.
func shrink(e *env, o *options, img *ccm.Image, want uint64) error {
	old := img.Sectors()
	ps := uint64(img.SectorSize())
	var unwritten uint64
	if err := img.Unwritten(want, old-want, func(_, n uint64) { unwritten += n }); err != nil {
		return err
	}
	what := fmt.Sprintf("sectors %d-%d (%d sectors, %s, %d of them written)", want, old-1, old-want, humanBytes((old-want)*ps), old-want-unwritten)
	if !o.shrink {
		return fmt.Errorf("shrinking %s would drop %s; pass --shrink to drop them", o.in, what)
	}
	if err := img.Close(); err != nil {
		return err
	}
	if err := os.Truncate(o.in, int64(2*want*ps)); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "resized %s: %d -> %d sectors; dropped %s\n", o.in, old, want, what)
	return nil
}
