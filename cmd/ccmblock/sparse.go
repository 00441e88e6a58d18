package main

import (
	"bytes"
	"os"
	"sync/atomic"

	"github.com/ccmblk/ccmblk/ccm"
	"github.com/ccmblk/ccmblk/ccm/holes"
)

// holeBlock is the unit in which dec leaves zeros out of its output, as
// cp --sparse does with the file system's block size.
const holeBlock = 4096

// zeroBlock is what a block of holeBlock zeros compares against.
var zeroBlock [holeBlock]byte

// countUnwritten adds the unwritten sectors among [start, start+n) of img
// to count and reports whether all of them are.
func countUnwritten(img *ccm.Image, start, n uint64, count *atomic.Uint64) (all bool, err error) {
	var k uint64
	err = img.Unwritten(start, n, func(_, m uint64) { k += m })
	count.Add(k)
	return k == n, err
}

// writeSparse writes buf at off in f, leaving out the blocks of holeBlock
// bytes (counted from off) that are all zeros, so that an output created
// empty keeps holes there.
func writeSparse(f *os.File, buf []byte, off int64) error {
	for len(buf) > 0 {
		// Skip zero blocks, then write the run of blocks up to the next one.
		k := min(len(buf), holeBlock)
		if bytes.Equal(buf[:k], zeroBlock[:k]) {
			buf, off = buf[k:], off+int64(k)
			continue
		}
		n := k
		for n < len(buf) {
			m := min(len(buf)-n, holeBlock)
			if bytes.Equal(buf[n:n+m], zeroBlock[:m]) {
				break
			}
			n += m
		}
		if _, err := f.WriteAt(buf[:n], off); err != nil {
			return err
		}
		buf, off = buf[n:], off+int64(n)
	}
	return nil
}

// inputHoles returns the runs of whole sectors of ps bytes among the n
// sectors from start on that lie in holes of f.
func inputHoles(f *os.File, start, n uint64, ps int) ([]span, error) {
	var out []span
	p := uint64(ps)
	end := start + n
	// Each pass moves s past one run of data, so the loop ends.
	for s := start; s < end; {
		data, dataEnd, err := holes.NextData(f, int64(s*p))
		if err != nil {
			return nil, err
		}
		// Sectors wholly before the data are in a hole.
		if d := min(end, uint64(data)/p); d > s {
			out = append(out, span{s, d - s})
		}
		// Sectors with any data byte are data.
		s = max(s+1, min(end, (uint64(dataEnd)+p-1)/p))
	}
	return out, nil
}
