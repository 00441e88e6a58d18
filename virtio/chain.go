package virtio

// MaxQueueSize is the largest split virtqueue size (virtio 1.2 section 2.7)
// and the largest indirect table this package accepts.
const MaxQueueSize = 32768

// maxChainBytes is the longest chain the driver may make available
// (virtio 1.2 section 2.7.5.2).
const maxChainBytes = 1 << 32

// Chain walks one descriptor chain. Queue.Pop fills it; Next yields its
// buffer descriptors in order, following at most one indirect table. The
// walk is bounded: a chain visits each table entry at most once, so a loop
// ends with ErrChainLoop. A Chain is used by one goroutine.
type Chain struct {
	mem  *Memory
	head uint16

	table     []byte    // host view of the current table, nil if it spans regions
	tableAddr GuestAddr // guest address of the current table
	tableLen  uint32    // entries in the current table
	next      uint16    // index of the next descriptor in the current table
	ttl       uint32    // descriptors the current table may still yield

	total    uint64 // bytes yielded so far
	indirect bool   // walking an indirect table
	writable bool   // a device-writable descriptor was yielded
	done     bool   // the last descriptor was yielded
	err      error  // sticky walk error
}

// Head returns the index of the chain's head descriptor, the id the used
// ring reports back to the driver.
func (c *Chain) Head() uint16 { return c.head }

// Bytes returns the total length of the descriptors yielded so far.
func (c *Chain) Bytes() uint64 { return c.total }

// Next returns the chain's next buffer descriptor. It returns ok false at
// the end of the chain, and an error (a *ChainError) on any driver
// violation: index out of range, loop, nested or malformed indirect
// descriptor, zero length, a readable descriptor after a writable one, or
// more than 2^32 bytes in total. Errors are sticky. Indirect descriptors are
// followed, never returned.
func (c *Chain) Next() (d Desc, ok bool, err error) {
	if c.err != nil {
		return Desc{}, false, c.err
	}
	if c.done {
		return Desc{}, false, nil
	}
	for {
		if c.ttl == 0 {
			return c.fail(ErrChainLoop)
		}
		if uint32(c.next) >= c.tableLen {
			return c.fail(ErrDescIndex)
		}
		d, err := c.readDesc(c.next)
		if err != nil {
			return c.fail(err)
		}
		if !d.IsIndirect() {
			return c.yield(d)
		}
		if err := c.enterIndirect(d); err != nil {
			return c.fail(err)
		}
	}
}

// yield checks a buffer descriptor and advances past it.
func (c *Chain) yield(d Desc) (Desc, bool, error) {
	if d.Len == 0 {
		// libvhost-user and the spec's buffer model: empty buffers are a
		// driver bug, and a zero-length status buffer cannot hold a status.
		return c.fail(ErrZeroLen)
	}
	if !d.IsWriteOnly() && c.writable {
		return c.fail(ErrDescOrder) // virtio 1.2 2.7.4.2: readable before writable
	}
	if c.total+uint64(d.Len) > maxChainBytes {
		return c.fail(ErrChainTooLong)
	}
	c.writable = c.writable || d.IsWriteOnly()
	c.total += uint64(d.Len)
	c.ttl--
	if d.HasNext() {
		c.next = d.Next
	} else {
		c.done = true
	}
	return d, true, nil
}

// enterIndirect switches the walk to the indirect table d points to.
func (c *Chain) enterIndirect(d Desc) error {
	// virtio 1.2 2.7.5.3.1: no indirect descriptor inside an indirect
	// table, and never INDIRECT together with NEXT (rust-vmm tolerates the
	// latter by ignoring NEXT; refusing it is the stricter choice, and no
	// Linux driver sets both).
	if c.indirect {
		return ErrNestedIndirect
	}
	if d.HasNext() || d.Len == 0 || d.Len%descSize != 0 || d.Len/descSize > MaxQueueSize {
		return ErrBadIndirect
	}
	n := uint64(d.Len)
	view, err := c.mem.contiguous(d.Addr, n, false)
	if err != nil {
		if !c.mem.covers(d.Addr, n) {
			return &AddrError{GPA: d.Addr, Len: n, Err: ErrBadIndirect}
		}
		view = nil // spans regions: descriptors are read with ReadAt
	}
	c.table = view
	c.tableAddr = d.Addr
	c.tableLen = d.Len / descSize
	c.next = 0
	c.ttl = c.tableLen
	c.indirect = true
	return nil
}

// readDesc reads entry i of the current table; i < c.tableLen.
func (c *Chain) readDesc(i uint16) (Desc, error) {
	off := uint64(i) * descSize
	if c.table != nil {
		return decodeDesc(c.table[off : off+descSize]), nil
	}
	var b [descSize]byte
	if err := c.mem.ReadAt(b[:], c.tableAddr+GuestAddr(off)); err != nil {
		return Desc{}, err
	}
	return decodeDesc(b[:]), nil
}

// fail records err as the chain's sticky error.
func (c *Chain) fail(err error) (Desc, bool, error) {
	c.err = &ChainError{Head: c.head, Index: c.next, Err: err}
	c.done = true
	return Desc{}, false, c.err
}
