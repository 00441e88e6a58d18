package virtio

import (
	"errors"
	"fmt"
)

// Guest memory errors.
var (
	// ErrNoRegions is returned by NewMemory for an empty region list.
	ErrNoRegions = errors.New("virtio: no memory regions")
	// ErrBadRegion reports an empty, overflowing or overlapping region.
	ErrBadRegion = errors.New("virtio: bad memory region")
	// ErrAddrOverflow reports a guest range whose end does not fit in 64 bits.
	ErrAddrOverflow = errors.New("virtio: guest address range overflows")
	// ErrNotInMemory reports a guest range that is not backed by a region.
	ErrNotInMemory = errors.New("virtio: guest range not in memory")
	// ErrReadOnlyMemory reports a write to a read-only region.
	ErrReadOnlyMemory = errors.New("virtio: write to read-only guest memory")
)

// Queue configuration errors and errors that break a queue.
var (
	// ErrQueueSize reports a queue size that is not a power of two in
	// [1, MaxQueueSize].
	ErrQueueSize = errors.New("virtio: bad queue size")
	// ErrRingAlign reports a ring that is not aligned as the specification
	// requires (descriptor table 16, available ring 2, used ring 4), or
	// whose host mapping does not preserve that alignment.
	ErrRingAlign = errors.New("virtio: misaligned ring")
	// ErrRingNotInMemory reports a ring that does not lie inside a single
	// memory region.
	ErrRingNotInMemory = errors.New("virtio: ring not inside one memory region")
	// ErrAvailIdx reports an available index that moved by more than the
	// queue size; the queue is broken.
	ErrAvailIdx = errors.New("virtio: available index jumped beyond queue size")
	// ErrHeadIndex reports an available ring entry naming a descriptor
	// outside the table; the queue is broken.
	ErrHeadIndex = errors.New("virtio: available head out of range")
	// ErrHeadInFlight reports a head made available again before the
	// device returned it; the queue is broken.
	ErrHeadInFlight = errors.New("virtio: available head already in flight")
	// ErrNotInFlight reports PushUsed for a head that is not in flight.
	ErrNotInFlight = errors.New("virtio: used head not in flight")
	// ErrInflight reports an inflight region (vhost-user INFLIGHT_SHMFD)
	// that is too small, misaligned or holds values no device wrote.
	ErrInflight = errors.New("virtio: bad inflight region")
)

// Dirty log errors.
var (
	// ErrLogBitmap reports a dirty log bitmap that is empty, not a whole
	// number of 8-byte words or not 8-aligned.
	ErrLogBitmap = errors.New("virtio: bad dirty log bitmap")
	// ErrLogRange reports a guest write outside the pages the dirty log
	// covers; the front end would not resend those pages.
	ErrLogRange = errors.New("virtio: write outside the dirty log")
)

// Descriptor chain errors. A chain that fails with one of these is
// completed with used length 0.
var (
	// ErrDescIndex reports a next index outside the descriptor table.
	ErrDescIndex = errors.New("virtio: descriptor index out of range")
	// ErrChainLoop reports a chain longer than its table (a loop).
	ErrChainLoop = errors.New("virtio: descriptor chain loops")
	// ErrNestedIndirect reports an indirect descriptor inside an indirect
	// table.
	ErrNestedIndirect = errors.New("virtio: nested indirect descriptor")
	// ErrBadIndirect reports an indirect descriptor with NEXT set, a length
	// that is zero, not a multiple of 16 or above MaxQueueSize entries, or a
	// table outside guest memory.
	ErrBadIndirect = errors.New("virtio: bad indirect descriptor")
	// ErrZeroLen reports a zero-length buffer descriptor.
	ErrZeroLen = errors.New("virtio: zero-length descriptor")
	// ErrDescOrder reports a device-readable descriptor after a
	// device-writable one.
	ErrDescOrder = errors.New("virtio: readable descriptor after writable one")
	// ErrChainTooLong reports a chain of more than 2^32 bytes.
	ErrChainTooLong = errors.New("virtio: descriptor chain longer than 2^32 bytes")
)

// virtio-blk request errors.
var (
	// ErrNoStatus reports a request without a device-writable status byte;
	// it is completed with used length 0.
	ErrNoStatus = errors.New("virtio: blk request has no writable status byte")
	// ErrTooManyDescs reports a request with more descriptors than the
	// device's seg_max allows; it is completed with used length 0.
	ErrTooManyDescs = errors.New("virtio: blk request has too many descriptors")
	// ErrShortHeader reports a request whose readable part is shorter than
	// the 16-byte header.
	ErrShortHeader = errors.New("virtio: blk request header too short")
	// ErrUnsupported reports an unknown request type (status UNSUPP).
	ErrUnsupported = errors.New("virtio: unsupported blk request type")
	// ErrDataDirection reports data buffers of the wrong direction for the
	// request type (including FLUSH with data).
	ErrDataDirection = errors.New("virtio: blk data in wrong direction")
	// ErrDataLen reports a data length that is not a whole number of
	// 512-byte sectors, or a GET_ID buffer shorter than BlkIDBytes.
	ErrDataLen = errors.New("virtio: bad blk data length")
	// ErrUnaligned reports a request that does not map to whole disk sectors.
	ErrUnaligned = errors.New("virtio: blk request not aligned to disk sectors")
	// ErrOutOfRange reports a request beyond the disk's capacity.
	ErrOutOfRange = errors.New("virtio: blk request out of range")
	// ErrUnsupportedSegment reports a DISCARD or WRITE_ZEROES request
	// with more segments than offered, or a segment with flags the type
	// does not take (status UNSUPP).
	ErrUnsupportedSegment = errors.New("virtio: unsupported discard or write-zeroes segment")
	// ErrSegmentSize reports a DISCARD or WRITE_ZEROES segment larger than
	// the device offers.
	ErrSegmentSize = errors.New("virtio: discard or write-zeroes segment too large")
	// ErrReadOnly reports a write to a read-only disk.
	ErrReadOnly = errors.New("virtio: write to read-only disk")
)

// Device errors.
var (
	// ErrBadOptions reports invalid BlockOptions or an unusable Disk.
	ErrBadOptions = errors.New("virtio: bad block device options")
	// ErrConfigRange reports a configuration access outside the
	// configuration space.
	ErrConfigRange = errors.New("virtio: config access out of range")
	// ErrConfigReadOnly reports a configuration write to a field other than
	// writeback, or of a value other than 0 or 1.
	ErrConfigReadOnly = errors.New("virtio: config field not writable")
	// ErrQueueIndex reports a queue index outside [0, NumQueues) or a queue
	// that is already being served.
	ErrQueueIndex = errors.New("virtio: bad queue index")
	// ErrFault reports that guest memory faulted under the device; the queue
	// is broken.
	ErrFault = errors.New("virtio: guest memory fault")
	// ErrFlushFailed reports a flush or write-through write after an
	// earlier flush failed: durability of the disk is lost for good.
	ErrFlushFailed = errors.New("virtio: an earlier flush failed")
	// ErrPanic reports a panic other than a memory fault on a queue
	// goroutine or one of its workers: a bug, contained to the queue, which
	// is broken.
	ErrPanic = errors.New("virtio: panic in queue")
)

// AddrError reports a guest range that failed translation.
type AddrError struct {
	GPA GuestAddr
	Len uint64
	Err error // ErrAddrOverflow, ErrNotInMemory or ErrReadOnlyMemory
}

// Error implements error.
func (e *AddrError) Error() string {
	return fmt.Sprintf("%v: [%#x, +%#x)", e.Err, uint64(e.GPA), e.Len)
}

// Unwrap returns the underlying error.
func (e *AddrError) Unwrap() error { return e.Err }

// ChainError reports a malformed descriptor chain.
type ChainError struct {
	Head  uint16 // head index of the chain
	Index uint16 // index of the offending descriptor in its table
	Err   error  // one of the descriptor chain errors, or an *AddrError
}

// Error implements error.
func (e *ChainError) Error() string {
	return fmt.Sprintf("%v (chain head %d, descriptor %d)", e.Err, e.Head, e.Index)
}

// Unwrap returns the underlying error.
func (e *ChainError) Unwrap() error { return e.Err }
