package vhostuser

import "github.com/ccmblk/ccmblk/virtio"

// Backend is the virtio device served over a vhost-user connection. It knows
// nothing of sockets or messages; virtio.BlockDevice implements it.
type Backend interface {
	// Features returns the virtio feature bits the device offers, transport
	// bits (VERSION_1, RING_INDIRECT_DESC, RING_EVENT_IDX) included. The
	// vhost-user bit PROTOCOL_FEATURES is added by this package.
	Features() uint64
	// NumQueues is the number of queues the device can serve.
	NumQueues() int
	// MaxQueueSize is the largest ring size SET_VRING_NUM may ask for.
	MaxQueueSize() uint16
	// ReadConfig fills buf from the device configuration space at offset.
	ReadConfig(offset uint32, buf []byte) error
	// WriteConfig writes data to the configuration space at offset; it
	// refuses writes to fields the driver may not change.
	WriteConfig(offset uint32, data []byte) error
	// ServeQueue processes queue index until kick.Wait returns an error. It
	// handles what is already available before it first waits, and returns
	// only after every request it popped has been completed.
	ServeQueue(index int, q *virtio.Queue, kick virtio.Kick, call virtio.Notifier) error
}

// Activator is implemented by a Backend whose storage one back end at a
// time may serve, such as an image that the source and the destination
// daemon of a live migration both open. The session follows QEMU's order:
// the source's rings stop (GET_VRING_BASE) before the destination's start.
type Activator interface {
	// Activate is called before every ring start and makes the Backend
	// ready to serve, doing nothing if it is. An error keeps the ring
	// stopped: it is logged and the ring's error eventfd signalled.
	Activate() error
	// Deactivate is called when GET_VRING_BASE finds no ring running,
	// before the reply: the Backend makes what it wrote durable and lets
	// go of its storage, doing nothing if it is inactive. An error ends
	// the session without a reply.
	Deactivate() error
}
