// Package virtio implements the device side of split virtqueues and the
// virtio-blk device that serves a Disk through them.
//
// # Scope
//
// The package owns guest memory access (Memory, Region, GuestAddr), the split
// virtqueue state machine (Queue), descriptor-chain traversal (Chain, Desc),
// byte streams over a chain (ChainReader, ChainWriter), virtio-blk request
// parsing (ParseRequest), the virtio-blk configuration space and the
// per-queue request loop (BlockDevice). It knows nothing about sockets or
// vhost-user messages and nothing about encryption: requests are executed
// against the Disk interface. DISCARD and WRITE_ZEROES are offered when
// BlockOptions ask and the Disk implements Discarder or Zeroer; their
// segments are copied out of guest memory and checked, all of them,
// before the Disk sees any.
//
// # Trust model
//
// Everything in guest memory is controlled by the guest: descriptor tables,
// available ring entries and indices, the used_event field, request headers
// and data buffers. Every guest address goes through Memory, which checks it
// against the validated region list; every descriptor index, length and flag
// combination is checked by Chain; chain walks are bounded. A malformed chain
// is completed with used length 0; a driver error that makes the queue
// unusable (available index jumping by more than the queue size, a head out
// of range or already in flight) breaks the queue: it stops taking requests,
// finishes those in flight and reports the error. Guest memory that vanishes
// under the device (a truncated mapping) is caught with
// runtime/debug.SetPanicOnFault and reported as an error instead of crashing;
// any other panic on a queue goroutine or one of its workers (a bug) breaks
// that queue the same way, and ServeQueue returns only once no worker of
// the queue touches guest memory any more.
//
// A queue's inflight region (QueueConfig.Inflight, vhost-user
// INFLIGHT_SHMFD) is front-end memory too: a queue started on one checks
// every value it reads there (version, descriptor count, flags, heads,
// the length of the last batch) and is refused with ErrInflight rather
// than trusting it; its walks are bounded by the ring size.
//
// # Durability
//
// FLUSH completes with OK only once Disk.Flush (fdatasync) succeeded; in
// write-through mode (writeback 0 in the configuration space) every write
// is flushed before it completes. Once a flush has failed, every later
// FLUSH and write-through write fails with IOERR for the device's lifetime:
// the kernel reports a writeback error once and may have dropped the pages,
// so a later successful fdatasync proves nothing about them.
//
// # Concurrency
//
// Memory is immutable and safe for concurrent use. BlockDevice.ServeQueue
// runs on the caller's goroutine, which waits for kicks, owns the available
// side of the queue and runs fast disk calls inline, publishing the used
// ring once per batch: about one thread wake-up per batch, as in a
// single-threaded event loop. When disk calls are slow, requests that arrive
// together go to a small worker pool it owns, and workers complete their own
// requests under the queue's completion lock, so the used ring keeps one
// writer at a time. Different queues of one BlockDevice run in parallel on
// the same Disk.
//
// # Memory ordering
//
// The rings are shared with a driver running on other CPUs. The device reads
// avail.idx (and used_event) with an atomic load of the naturally aligned
// 32-bit word that contains it, because Go has no 16-bit atomics; ring
// entries, descriptors and data are read with plain loads afterwards (the
// atomic load orders them, matching the driver's write barrier before it
// publishes avail.idx). Used elements are written with plain stores and then
// published with one atomic 32-bit store of used.flags and used.idx. Before
// the device reads used_event to decide on a notification, and before it
// re-reads avail.idx after publishing avail_event, a sequentially consistent
// atomic operation separates the write from the read (a full barrier on
// amd64). This is the same write-then-publish protocol as the virtio 1.2
// specification's section 2.7.
//
// The project is Linux/amd64 only; the ring accessors rely on a little-endian
// host, which matches the little-endian ring layout of VIRTIO_F_VERSION_1.
package virtio
