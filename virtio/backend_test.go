package virtio_test

import "github.com/ccmblk/ccmblk/virtio"

// BlockDevice must have the method set of vhostuser.Backend (mirrored here:
// importing vhostuser would be an import cycle).
var _ interface {
	Features() uint64
	NumQueues() int
	MaxQueueSize() uint16
	ReadConfig(offset uint32, buf []byte) error
	WriteConfig(offset uint32, data []byte) error
	ServeQueue(index int, q *virtio.Queue, kick virtio.Kick, call virtio.Notifier) error
} = (*virtio.BlockDevice)(nil)
