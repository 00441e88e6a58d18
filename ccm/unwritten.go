package ccm

import "github.com/ccmblk/ccmblk/ccm/holes"

// Unwritten calls fn, in order, for each run of unwritten sectors among the
// logical sectors [start, start+n): sectors whose slot is all zeros, which
// a sparse image reads as zeros and a default one fails. Holes of the file
// are found with SEEK_DATA and SEEK_HOLE and not read, so a scan of a
// mostly empty sparse image reads only its allocated slots. It works on
// any image, sparse or not, and decrypts nothing.
func (img *Image) Unwritten(start, n uint64, fn func(start, n uint64)) error {
	if err := img.checkRange(start, n); err != nil {
		return err
	}
	return img.scan(start, start+n, func(s, k uint64, unwritten bool) bool {
		if unwritten {
			fn(s, k)
		}
		return true
	})
}

// FirstWritten returns the first sector that is not unwritten (see
// Unwritten), and false if every sector is unwritten.
func (img *Image) FirstWritten() (uint64, bool, error) {
	var first uint64
	found := false
	err := img.scan(0, img.sectors.Load(), func(s, _ uint64, unwritten bool) bool {
		if !unwritten {
			first, found = s, true
		}
		return !found
	})
	return first, found, err
}

// scan walks the slots [start, end) and calls fn with runs of them, each
// all unwritten or all written, in order, until fn returns false. Runs of
// unwritten slots are coalesced; written ones come at most a chunk at a
// time.
//
// Preconditions: [start, end) is within the capacity.
func (img *Image) scan(start, end uint64, fn func(s, k uint64, unwritten bool) bool) error {
	if img.closed.Load() {
		return ErrDisconnected
	}
	j := img.jobs.Get().(*job)
	defer img.putJob(j)
	slot := uint64(img.sc.slotLen)
	r := runs{fn: fn}
	// Each pass advances s by at least one slot.
	for s := start; s < end && !r.stopped; {
		data, hole, err := holes.NextData(img.f, int64(s*slot))
		if err != nil {
			return img.ioError("read", err)
		}
		if d := uint64(data) / slot; d > s {
			d = min(d, end)
			r.add(s, d-s, true)
			s = d
			continue
		}
		// Slots that hold data bytes: the last one may end in the hole.
		de := min(end, (uint64(hole)+slot-1)/slot, s+uint64(img.chunk))
		ct := j.ct[:(de-s)*slot]
		if err := img.readAt(ct, s); err != nil {
			return err
		}
		for i := range de - s {
			r.add(s+i, 1, isZero(ct[i*slot:(i+1)*slot]))
		}
		if !r.unwritten {
			// Hand out written slots a chunk at a time, so FirstWritten
			// stops early.
			r.flush()
		}
		s = de
	}
	r.flush()
	return nil
}

// runs coalesces the runs of scan.
type runs struct {
	fn        func(s, k uint64, unwritten bool) bool
	s, k      uint64
	unwritten bool
	stopped   bool
}

func (r *runs) add(s, k uint64, unwritten bool) {
	if r.k > 0 && r.unwritten == unwritten && r.s+r.k == s {
		r.k += k
		return
	}
	r.flush()
	r.s, r.k, r.unwritten = s, k, unwritten
}

func (r *runs) flush() {
	if r.k > 0 && !r.stopped {
		r.stopped = !r.fn(r.s, r.k, r.unwritten)
	}
	r.k = 0
}
