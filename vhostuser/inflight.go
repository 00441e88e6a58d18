package vhostuser

import (
	"fmt"
	"math"

	"golang.org/x/sys/unix"

	"github.com/ccmblk/ccmblk/virtio"
)

// Inflight I/O tracking (protocol feature INFLIGHT_SHMFD). The back end
// creates a shared area on GET_INFLIGHT_FD; the front end keeps it and
// hands it back with SET_INFLIGHT_FD, also to a restarted back end, which
// finds there the requests its predecessor had not completed. The area is
// one virtio inflight region per queue, stride bytes apart.

// inflightMsgSize is the size of VhostUserInflight on the wire: two u64,
// two u16 and the padding of the C struct (QEMU sends sizeof, 24, and
// refuses a reply of another size).
const inflightMsgSize = 24

// inflightStrideAlign is the stride of the areas this package creates
// (libvhost-user's alignment).
const inflightStrideAlign = 64

// inflightMsg is VhostUserInflight.
type inflightMsg struct {
	mmapSize   uint64
	mmapOffset uint64
	numQueues  uint16
	queueSize  uint16
	padding    uint32
}

func (m inflightMsg) encode() []byte {
	b := ne.AppendUint64(nil, m.mmapSize)
	b = ne.AppendUint64(b, m.mmapOffset)
	b = ne.AppendUint16(b, m.numQueues)
	b = ne.AppendUint16(b, m.queueSize)
	return ne.AppendUint32(b, m.padding)
}

func decodeInflight(b []byte) (inflightMsg, error) {
	return inflightMsg{
		mmapSize:   ne.Uint64(b),
		mmapOffset: ne.Uint64(b[8:]),
		numQueues:  ne.Uint16(b[16:]),
		queueSize:  ne.Uint16(b[18:]),
		padding:    ne.Uint32(b[20:]),
	}, nil
}

// inflightArea is a mapped inflight area.
type inflightArea struct {
	whole     []byte // the mmap, from file offset 0, for munmap
	fd        int    // the memfd this package created, or -1
	offset    uint64 // of queue 0's region in whole
	stride    uint64
	numQueues uint16
	queueSize uint16
}

// queue returns queue i's region, or nil if the area has none for it.
func (a *inflightArea) queue(i int) []byte {
	if i >= int(a.numQueues) {
		return nil
	}
	off := a.offset + uint64(i)*a.stride
	return a.whole[off : off+uint64(virtio.InflightQueueBytes(a.queueSize))]
}

// release unmaps the area and closes its descriptor.
func (a *inflightArea) release() {
	_ = unix.Munmap(a.whole)
	if a.fd >= 0 {
		_ = unix.Close(a.fd)
	}
}

// checkInflightMsg checks that a GET or SET may run now (the feature is
// negotiated, no ring runs) and that its queue count and size fit the
// device.
func (s *session) checkInflightMsg(req Request, m inflightMsg) error {
	if s.protocol&ProtocolFeatureInflightShmfd == 0 {
		return protoErr(req, "INFLIGHT_SHMFD not negotiated")
	}
	// The area is swapped only while no ring uses it (DPDK CVE-2020-10726
	// and CVE-2022-0669 came from handling these messages carelessly).
	for _, vr := range s.vrings {
		if vr.run != nil {
			return protoErr(req, "vring %d is running", vr.index)
		}
	}
	if m.numQueues == 0 || int(m.numQueues) > len(s.vrings) {
		return protoErr(req, "%d queues, device has %d", m.numQueues, len(s.vrings))
	}
	if m.queueSize == 0 || m.queueSize > virtio.MaxQueueSize {
		return protoErr(req, "queue size %d, want 1 to %d", m.queueSize, virtio.MaxQueueSize)
	}
	return nil
}

// getInflightFD creates a zeroed, sealed memfd area for the queues the
// front end asks for and replies with its size and descriptor.
func (s *session) getInflightFD(m inflightMsg, _ []int) ([]byte, error) {
	if err := s.checkInflightMsg(GetInflightFD, m); err != nil {
		return nil, err
	}
	stride := alignUp(uint64(virtio.InflightQueueBytes(m.queueSize)), inflightStrideAlign)
	size := stride * uint64(m.numQueues) // at most 1024 × 524352: no overflow
	a, err := newInflightMemfd(size)
	if err != nil {
		return nil, fmt.Errorf("vhostuser: %v: %w", GetInflightFD, err)
	}
	a.stride, a.numQueues, a.queueSize = stride, m.numQueues, m.queueSize
	s.setInflight(a)
	s.replyFDs = []int{a.fd}
	s.log.Infof("inflight area created: %d queues of %d, %d bytes", m.numQueues, m.queueSize, size)
	return inflightMsg{mmapSize: size, numQueues: m.numQueues, queueSize: m.queueSize}.encode(), nil
}

// newInflightMemfd creates and maps a memfd of size bytes, sealed against
// resizing as the front end's shared areas are.
func newInflightMemfd(size uint64) (*inflightArea, error) {
	fd, err := unix.MemfdCreate("ccmblk-inflight", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	a := &inflightArea{fd: fd}
	if err := unix.Ftruncate(fd, int64(size)); err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("ftruncate: %w", err)
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_GROW|unix.F_SEAL_SHRINK|unix.F_SEAL_SEAL); err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("seal: %w", err)
	}
	if a.whole, err = unix.Mmap(fd, 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED); err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("mmap %#x bytes: %w", size, err)
	}
	return a, nil
}

// setInflightFD maps the area the front end hands back: ours from
// GET_INFLIGHT_FD, or one kept from before a restart. Its geometry and
// descriptor are checked before anything is mapped; its contents are
// checked per queue when the ring starts.
func (s *session) setInflightFD(m inflightMsg, fds []int) ([]byte, error) {
	if err := s.checkInflightMsg(SetInflightFD, m); err != nil {
		return nil, err
	}
	if m.mmapSize == 0 {
		s.setInflight(nil)
		return nil, nil
	}
	stride, err := inflightStride(m)
	if err != nil {
		return nil, &ProtocolError{Req: SetInflightFD, Reason: "area", Err: err}
	}
	length := m.mmapOffset + m.mmapSize // bounded by inflightStride
	if err := checkSealedMemfd(fds[0], length); err != nil {
		return nil, &ProtocolError{Req: SetInflightFD, Reason: "descriptor", Err: err}
	}
	whole, err := unix.Mmap(fds[0], 0, int(length), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("vhostuser: %v: mmap %#x bytes: %w", SetInflightFD, length, err)
	}
	s.setInflight(&inflightArea{whole: whole, fd: -1, offset: m.mmapOffset, stride: stride, numQueues: m.numQueues, queueSize: m.queueSize})
	s.log.Infof("inflight area set: %d queues of %d, %d bytes at offset %d", m.numQueues, m.queueSize, m.mmapSize, m.mmapOffset)
	return nil, nil
}

// inflightStride returns the distance between the queue regions of the
// area m describes. Areas of other back ends read too, so the stride is
// derived, not assumed: mmap_size / num_queues, at least one region and at
// most a page more (the area is bounded), 8-aligned like the offset, so
// that the region's counters are aligned for atomic stores.
func inflightStride(m inflightMsg) (uint64, error) {
	need := uint64(virtio.InflightQueueBytes(m.queueSize))
	stride := m.mmapSize / uint64(m.numQueues)
	switch {
	case m.mmapSize%uint64(m.numQueues) != 0:
		return 0, fmt.Errorf("size %d is not a whole number of %d queues", m.mmapSize, m.numQueues)
	case stride < need || stride > alignUp(need, 4096):
		return 0, fmt.Errorf("%d bytes per queue of %d, want %d to %d", stride, m.queueSize, need, alignUp(need, 4096))
	case stride%8 != 0 || m.mmapOffset%8 != 0:
		return 0, fmt.Errorf("stride %d or offset %d not 8-aligned", stride, m.mmapOffset)
	case m.mmapOffset > math.MaxInt32:
		return 0, fmt.Errorf("offset %d too large", m.mmapOffset)
	}
	return stride, nil
}

// setInflight replaces the session's area. The old one is released at
// once, or, if an abandoned ring may still use it, once that ring has
// returned (see session.release).
// Preconditions: no ring is running.
func (s *session) setInflight(a *inflightArea) {
	switch {
	case s.inflight == nil:
	case len(s.abandoned) > 0:
		s.retiredAreas = append(s.retiredAreas, s.inflight)
	default:
		s.inflight.release()
	}
	s.inflight = a
}

// inflightRegion returns ring i's inflight region, or nil.
func (s *session) inflightRegion(i int) []byte {
	if s.inflight == nil {
		return nil
	}
	return s.inflight.queue(i)
}

func alignUp(n, a uint64) uint64 { return (n + a - 1) &^ (a - 1) }

// logInflightStart logs where a ring with an inflight area resumes.
func (s *session) logInflightStart(vr *vring, q *virtio.Queue) {
	switch {
	case s.inflightRegion(vr.index) == nil:
		s.log.Warningf("q=%d: the inflight area covers %d queues: requests of this one are not tracked", vr.index, s.inflight.numQueues)
	case q.Resubmits() > 0 || q.NextAvail() != vr.base:
		s.log.Infof("q=%d: %d requests left in flight are resubmitted, oldest first; next avail %d (front end said %d)",
			vr.index, q.Resubmits(), q.NextAvail(), vr.base)
	}
}
