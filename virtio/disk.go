package virtio

// Disk is the block store a BlockDevice serves. ccm.Image satisfies it, and
// so does the daemon's raw-file store.
//
// Sector numbers and buffers are in the Disk's own SectorSize units. Every
// buffer handed to ReadSectors or WriteSectors is a whole number of sectors;
// the buffers are consecutive on the disk, starting at start. They may be
// views of guest memory: a Disk must not keep them after it returns, and
// the guest may read and change them while a call runs, so a Disk writes
// into them only data it is ready to hand out (ccm.Image verifies each
// sector in its own scratch first) and never reads back what it wrote.
// Implementations are safe for concurrent use on different sectors.
type Disk interface {
	// SectorSize is the size of one sector in bytes (512 or 4096).
	SectorSize() int
	// Sectors is the capacity in sectors.
	Sectors() uint64
	// ReadOnly reports whether writes are refused.
	ReadOnly() bool
	// ReadSectors fills bufs from the disk, starting at sector start.
	ReadSectors(start uint64, bufs [][]byte) error
	// WriteSectors stores bufs on the disk, starting at sector start.
	WriteSectors(start uint64, bufs [][]byte) error
	// Flush returns once every completed write is durable.
	Flush() error
}

// Notifier signals the driver that the used ring has advanced (the vring's
// call eventfd).
type Notifier interface {
	Notify() error
}

// Kick is the driver's doorbell for one queue (the vring's kick eventfd).
type Kick interface {
	// Wait blocks until the driver kicks the queue. It returns an error once
	// the Kick is closed, which is how ServeQueue is told to stop.
	Wait() error
}
