package virtio

import "io"

// cursor is a position in the byte stream formed by a list of buffer
// descriptors of one direction.
type cursor struct {
	mem   *Memory
	descs []Desc // buffers of one direction, in chain order
	i     int    // current descriptor
	off   uint32 // offset in descs[i]
	left  uint64 // bytes that may still be consumed
}

func newCursor(m *Memory, descs []Desc) cursor {
	var n uint64
	for _, d := range descs {
		n += uint64(d.Len)
	}
	return cursor{mem: m, descs: descs, left: n}
}

// next returns the guest range of at most max bytes at the cursor and
// consumes it.
func (c *cursor) next(max uint64) (GuestAddr, uint64) {
	for c.off == c.descs[c.i].Len {
		c.i++
		c.off = 0
	}
	d := c.descs[c.i]
	k := min(max, uint64(d.Len-c.off), c.left)
	gpa := d.Addr + GuestAddr(c.off)
	c.off += uint32(k)
	c.left -= k
	return gpa, k
}

// slices consumes n bytes and appends their host views to dst.
func (c *cursor) slices(n uint64, write bool, dst [][]byte) ([][]byte, error) {
	if n > c.left {
		return dst, io.ErrUnexpectedEOF
	}
	for n > 0 {
		gpa, k := c.next(n)
		var err error
		if dst, err = c.mem.Slices(gpa, k, write, dst); err != nil {
			return dst, err
		}
		n -= k
	}
	return dst, nil
}

// splitWritable returns the index of the first device-writable descriptor
// in descs (len(descs) if there is none). A walked Chain never yields a
// readable descriptor after a writable one, so the readable buffers are
// descs[:i] and the writable ones descs[i:].
func splitWritable(descs []Desc) int {
	for i, d := range descs {
		if d.IsWriteOnly() {
			return i
		}
	}
	return len(descs)
}

// ChainReader reads the device-readable part of a walked chain as one byte
// stream, whatever the driver's descriptor layout (VIRTIO_F_ANY_LAYOUT
// semantics).
type ChainReader struct {
	c cursor
}

// NewChainReader returns a reader over the device-readable descriptors of
// descs, which are the descriptors a Chain yielded, in order.
func NewChainReader(m *Memory, descs []Desc) ChainReader {
	return ChainReader{c: newCursor(m, descs[:splitWritable(descs)])}
}

// Remaining returns the number of unread bytes.
func (r *ChainReader) Remaining() uint64 { return r.c.left }

// Read reads up to len(p) bytes; it returns io.EOF at the end.
func (r *ChainReader) Read(p []byte) (int, error) {
	if r.c.left == 0 {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && r.c.left > 0 {
		gpa, k := r.c.next(uint64(len(p) - n))
		if err := r.c.mem.ReadAt(p[n:n+int(k)], gpa); err != nil {
			return n, err
		}
		n += int(k)
	}
	return n, nil
}

// Slices consumes the next n bytes and appends host views of them to dst,
// without copying.
func (r *ChainReader) Slices(n uint64, dst [][]byte) ([][]byte, error) {
	return r.c.slices(n, false, dst)
}

// ChainWriter writes the device-writable part of a walked chain as one byte
// stream.
type ChainWriter struct {
	c cursor
}

// NewChainWriter returns a writer over the device-writable descriptors of
// descs, which are the descriptors a Chain yielded, in order.
func NewChainWriter(m *Memory, descs []Desc) ChainWriter {
	return ChainWriter{c: newCursor(m, descs[splitWritable(descs):])}
}

// Remaining returns the number of bytes that may still be written.
func (w *ChainWriter) Remaining() uint64 { return w.c.left }

// Limit restricts the writer to at most n more bytes, for example to keep
// the trailing status byte of a request out of the data stream.
func (w *ChainWriter) Limit(n uint64) {
	w.c.left = min(w.c.left, n)
}

// Write writes p; it returns io.ErrShortWrite if the chain has less room.
func (w *ChainWriter) Write(p []byte) (int, error) {
	n := 0
	for n < len(p) && w.c.left > 0 {
		gpa, k := w.c.next(uint64(len(p) - n))
		if err := w.c.mem.WriteAt(p[n:n+int(k)], gpa); err != nil {
			return n, err
		}
		n += int(k)
	}
	if n < len(p) {
		return n, io.ErrShortWrite
	}
	return n, nil
}

// Slices consumes the next n bytes and appends writable host views of them
// to dst, without copying.
func (w *ChainWriter) Slices(n uint64, dst [][]byte) ([][]byte, error) {
	return w.c.slices(n, true, dst)
}
