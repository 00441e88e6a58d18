package virtio

import (
	"fmt"
	"sync"
	"sync/atomic"
)

// BlockOptions configures a BlockDevice.
type BlockOptions struct {
	// NumQueues is the number of request queues, 1..MaxBlkQueues.
	NumQueues int
	// QueueSize is the largest ring size the device accepts, a power of
	// two in [4, MaxQueueSize], e.g. 256.
	QueueSize uint16
	// Serial is the GET_ID answer, at most BlkIDBytes bytes.
	Serial string
	// Name prefixes the device's log lines (for example the socket path);
	// it may be empty.
	Name string
	// Discard offers DISCARD; the disk must be a Discarder.
	Discard bool
	// WriteZeroes offers WRITE_ZEROES; the disk must be a Zeroer.
	WriteZeroes bool
	// WriteZeroesMayUnmap tells the driver that WRITE_ZEROES with UNMAP
	// may free space (write_zeroes_may_unmap); it needs WriteZeroes.
	WriteZeroesMayUnmap bool
	// AuthError, if set, is the error (matched with errors.Is) a disk
	// returns for data that does not authenticate; such failures are
	// counted apart in Stats.
	AuthError error
}

// MaxBlkQueues is the largest NumQueues a BlockDevice accepts.
const MaxBlkQueues = 1024

// BlockDevice is a virtio-blk device serving a Disk. It implements the
// vhostuser Backend interface. Its methods are safe for concurrent use.
// Calls of ServeQueue share only the Disk: a call a front end's session
// abandoned (stuck on guest memory) may still run beside a later call for
// the same queue index, on another Queue.
type BlockDevice struct {
	disk     Disk
	opts     BlockOptions
	sectorSz int
	// capacity is in 512-byte sectors; Grow raises it while queues run.
	capacity atomic.Uint64
	// limits are fixed, except Capacity, which limitsNow fills in.
	limits    BlkLimits
	readOnly  bool
	zeroer    Zeroer    // set if WRITE_ZEROES is offered
	discarder Discarder // set if DISCARD is offered
	serial    [BlkIDBytes]byte
	writeback atomic.Bool // config writeback: false means write-through
	// flushErr is the first failed flush, returned by every later one.
	flushErr atomic.Pointer[error]

	// log limits the lines the guest can trigger, across all queues and
	// their restarts.
	log *LogLimiter

	// stats has one entry per queue.
	stats []queueCounters
	// growMu serialises Grow.
	growMu sync.Mutex
}

// NewBlockDevice returns a device serving d. The disk's sector size must be
// a power of two from 512 to 65536 bytes and its capacity must fit in 2^64
// bytes. The device starts in write-back mode.
func NewBlockDevice(d Disk, o BlockOptions) (*BlockDevice, error) {
	if d == nil {
		return nil, fmt.Errorf("%w: nil disk", ErrBadOptions)
	}
	ss := d.SectorSize()
	if ss < BlkSectorSize || ss > 1<<16 || ss&(ss-1) != 0 {
		return nil, fmt.Errorf("%w: disk sector size %d", ErrBadOptions, ss)
	}
	capacity, ok := diskCapacity(d, ss)
	if !ok {
		return nil, fmt.Errorf("%w: disk of %d sectors too large", ErrBadOptions, d.Sectors())
	}
	if o.NumQueues < 1 || o.NumQueues > MaxBlkQueues {
		return nil, fmt.Errorf("%w: %d queues", ErrBadOptions, o.NumQueues)
	}
	if n := o.QueueSize; n < 4 || n > MaxQueueSize || n&(n-1) != 0 {
		return nil, fmt.Errorf("%w: queue size %d", ErrBadOptions, n)
	}
	if len(o.Serial) > BlkIDBytes {
		return nil, fmt.Errorf("%w: serial longer than %d bytes", ErrBadOptions, BlkIDBytes)
	}
	b := &BlockDevice{
		disk:     d,
		opts:     o,
		sectorSz: ss,
		readOnly: d.ReadOnly(),
		stats:    make([]queueCounters, o.NumQueues),
		log:      NewLogLimiter("dev="+o.Name, DefaultLogBurst, DefaultLogEvery),
	}
	b.capacity.Store(capacity)
	b.limits = BlkLimits{SectorSize: ss, MaxDescs: int(o.QueueSize)}
	if err := b.setZeroing(o); err != nil {
		return nil, err
	}
	copy(b.serial[:], o.Serial)
	b.writeback.Store(true)
	return b, nil
}

// setZeroing takes the DISCARD and WRITE_ZEROES options.
func (b *BlockDevice) setZeroing(o BlockOptions) error {
	lim := ZeroLimits{MaxSectors: maxZeroSectors, MaxSegments: maxZeroSegments}
	if o.Discard {
		d, ok := b.disk.(Discarder)
		if !ok {
			return fmt.Errorf("%w: DISCARD offered, the disk cannot discard", ErrBadOptions)
		}
		b.discarder, b.limits.Discard = d, lim
	}
	if o.WriteZeroes {
		z, ok := b.disk.(Zeroer)
		if !ok {
			return fmt.Errorf("%w: WRITE_ZEROES offered, the disk cannot write zeroes", ErrBadOptions)
		}
		b.zeroer, b.limits.WriteZeroes = z, lim
	} else if o.WriteZeroesMayUnmap {
		return fmt.Errorf("%w: WriteZeroesMayUnmap without WriteZeroes", ErrBadOptions)
	}
	return nil
}

// Features returns the virtio features the device offers: VERSION_1,
// RING_INDIRECT_DESC, RING_EVENT_IDX, SEG_MAX, BLK_SIZE, TOPOLOGY, FLUSH,
// CONFIG_WCE, MQ, RO when the disk is read-only, and DISCARD and
// WRITE_ZEROES as the options ask.
func (b *BlockDevice) Features() uint64 {
	f := FVersion1 | FRingIndirectDesc | FRingEventIdx |
		BlkFSegMax | BlkFBlkSize | BlkFTopology | BlkFFlush | BlkFConfigWCE | BlkFMQ
	if b.readOnly {
		f |= BlkFRO
	}
	if b.discarder != nil {
		f |= BlkFDiscard
	}
	if b.zeroer != nil {
		f |= BlkFWriteZeroes
	}
	return f
}

// NumQueues returns the number of request queues.
func (b *BlockDevice) NumQueues() int { return b.opts.NumQueues }

// MaxQueueSize returns the largest ring size the device accepts.
func (b *BlockDevice) MaxQueueSize() uint16 { return b.opts.QueueSize }

// config returns the current configuration.
func (b *BlockDevice) config() blkConfig {
	return blkConfig{
		capacity:    b.capacity.Load(),
		segMax:      uint32(b.limits.MaxDescs) - 2, // header and status take two descriptors
		blkSize:     uint32(b.sectorSz),
		writeback:   b.writeback.Load(),
		numQueues:   uint16(b.opts.NumQueues),
		discard:     b.limits.Discard,
		writeZeroes: b.limits.WriteZeroes,
		mayUnmap:    b.opts.WriteZeroesMayUnmap,
	}
}

// ReadConfig copies len(buf) bytes of the configuration space (struct
// virtio_blk_config, BlkConfigSize bytes) from offset into buf.
func (b *BlockDevice) ReadConfig(offset uint32, buf []byte) error {
	if uint64(offset)+uint64(len(buf)) > BlkConfigSize {
		return fmt.Errorf("%w: read [%d, +%d)", ErrConfigRange, offset, len(buf))
	}
	var cs [BlkConfigSize]byte
	c := b.config()
	c.encode(&cs)
	copy(buf, cs[offset:])
	return nil
}

// WriteConfig writes the configuration space. Only the writeback byte may be
// written, with 0 (write-through: every write is flushed before it
// completes) or 1 (write-back: FLUSH makes writes durable).
func (b *BlockDevice) WriteConfig(offset uint32, data []byte) error {
	if uint64(offset)+uint64(len(data)) > BlkConfigSize {
		return fmt.Errorf("%w: write [%d, +%d)", ErrConfigRange, offset, len(data))
	}
	if offset != cfgWriteback || len(data) != 1 || data[0] > 1 {
		return fmt.Errorf("%w: write [%d, +%d)", ErrConfigReadOnly, offset, len(data))
	}
	b.writeback.Store(data[0] == 1)
	return nil
}

// ServeQueue serves queue index until kick.Wait returns an error: it pops
// requests, runs them on the disk, completes each popped request exactly
// once and notifies call as the driver asks. It runs on the caller's
// goroutine, which also waits for the kicks and runs the disk calls itself
// while they are fast; when they are slow, requests that arrive together go
// to a small pool of worker goroutines so that they overlap on the disk. It
// handles what is already available before it first waits. When kick is
// closed it stops popping, waits for the requests in flight, publishes their
// completions and returns nil. If the driver breaks the queue (see
// Queue.Pop) or guest memory faults, it stops popping, completes what it
// can, logs the error and, once kick is closed, returns it. A panic on the
// queue or in a worker breaks the queue the same way (ErrPanic) instead of
// escaping. ServeQueue returns only once its workers have stopped touching
// guest memory. q must not be used by anyone else until ServeQueue returns.
func (b *BlockDevice) ServeQueue(index int, q *Queue, kick Kick, call Notifier) error {
	if q == nil || kick == nil || call == nil || q.Size() > b.opts.QueueSize {
		return fmt.Errorf("%w: queue %d: missing queue, kick or call, or size above %d", ErrBadOptions, index, b.opts.QueueSize)
	}
	if index < 0 || index >= b.opts.NumQueues {
		return fmt.Errorf("%w: %d (of %d)", ErrQueueIndex, index, b.opts.NumQueues)
	}
	return serve(b, index, q, kick, call)
}

// Flush makes the completed writes durable, as a FLUSH request does; the
// daemon calls it on its way out. Once a flush has failed, every
// later one fails too: Linux reports a writeback error to one fdatasync
// only and may have dropped the pages it could not write, so a later
// success would vouch for data that is lost (QEMU's file-posix latches the
// same way). The latch holds for the device's lifetime.
func (b *BlockDevice) Flush() error {
	if p := b.flushErr.Load(); p != nil {
		return *p
	}
	if err := b.disk.Flush(); err != nil {
		latched := fmt.Errorf("%w: %w", ErrFlushFailed, err)
		b.flushErr.CompareAndSwap(nil, &latched)
		return err
	}
	return nil
}
