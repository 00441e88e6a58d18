package virtio

import "fmt"

// bounceBytes is the size of a worker's bounce buffer for disk sectors that
// straddle two guest buffers.
const bounceBytes = 64 << 10

// span is a bounce sector and the guest fragments it stands for.
type span struct {
	buf      []byte // sectorSize bytes of the bounce buffer
	from, to int    // its fragments: frags[from:to]
}

// xfer turns a request's guest data views into the Disk's buffer list. A run
// of whole disk sectors inside one guest buffer is handed to the Disk as a
// view of guest memory (zero copy). Only a sector that straddles two guest
// buffers goes through the bounce buffer; if a request needs more bounce
// sectors than fit, it is issued as several Disk calls. An xfer belongs to
// one worker and is reused, so the steady state allocates nothing.
type xfer struct {
	bounce []byte
	bufs   [][]byte
	frags  [][]byte
	spans  []span
}

// transfer reads (write false) or writes the disk sectors starting at
// start to or from segs, whose total length is a multiple of sectorSize.
func (x *xfer) transfer(d Disk, write bool, start uint64, segs [][]byte, sectorSize int) error {
	defer x.trim()
	i, off := 0, 0
	for i < len(segs) {
		x.bufs, x.frags, x.spans = x.bufs[:0], x.frags[:0], x.spans[:0]
		var n uint64 // disk sectors in this batch
		var err error
		if i, off, n, err = x.batch(segs, i, off, sectorSize); err != nil {
			return err
		}
		if n == 0 {
			break
		}
		if write {
			for _, s := range x.spans {
				gather(s.buf, x.frags[s.from:s.to])
			}
			err = d.WriteSectors(start, x.bufs)
		} else {
			// After a failed read the bounce buffer holds nothing the
			// guest may see: stale bytes of an earlier request, or
			// bytes that did not authenticate.
			if err = d.ReadSectors(start, x.bufs); err == nil {
				for _, s := range x.spans {
					scatter(x.frags[s.from:s.to], s.buf)
				}
			}
		}
		if err != nil {
			return err
		}
		start += n
	}
	return nil
}

// batch fills x.bufs with the buffers of one Disk call, starting at byte off
// of segs[i], until the segments or the bounce buffer run out. It returns
// where the next batch starts and the number of sectors in this one.
func (x *xfer) batch(segs [][]byte, i, off, ss int) (int, int, uint64, error) {
	var n uint64
	used := 0
	for i < len(segs) {
		seg := segs[i][off:]
		if len(seg) == 0 {
			i, off = i+1, 0
			continue
		}
		if k := len(seg) - len(seg)%ss; k > 0 {
			x.bufs = append(x.bufs, seg[:k])
			off += k
			n += uint64(k / ss)
			continue
		}
		// The next sector straddles segs[i] and the segments after it.
		if used+ss > len(x.bounce) {
			if used > 0 {
				break
			}
			x.bounce = make([]byte, max(bounceBytes, ss))
		}
		b := x.bounce[used : used+ss : used+ss]
		used += ss
		from := len(x.frags)
		for need := ss; need > 0; {
			if i >= len(segs) {
				return 0, 0, 0, fmt.Errorf("%w: data not a whole number of disk sectors", ErrUnaligned)
			}
			t := min(need, len(segs[i])-off)
			x.frags = append(x.frags, segs[i][off:off+t])
			need -= t
			if off += t; off == len(segs[i]) {
				i, off = i+1, 0
			}
		}
		x.spans = append(x.spans, span{buf: b, from: from, to: len(x.frags)})
		x.bufs = append(x.bufs, b)
		n++
	}
	return i, off, n, nil
}

// trim drops lists grown beyond keepDescs entries by a request of many
// descriptors, and the references to guest memory they hold.
func (x *xfer) trim() {
	if cap(x.bufs) > keepDescs {
		x.bufs = nil
	}
	if cap(x.frags) > keepDescs {
		x.frags = nil
	}
	if cap(x.spans) > keepDescs {
		x.spans = nil
	}
}

// gather copies frags, in order, into b.
func gather(b []byte, frags [][]byte) {
	for _, f := range frags {
		b = b[copy(b, f):]
	}
}

// scatter copies b, in order, into frags.
func scatter(frags [][]byte, b []byte) {
	for _, f := range frags {
		b = b[copy(f, b):]
	}
}
