package vhostusertest

import (
	"fmt"
	"net"

	"golang.org/x/sys/unix"

	"github.com/ccmblk/ccmblk/vhostuser"
)

// inflightMsgSize is sizeof(VhostUserInflight): u64 mmap_size, u64
// mmap_offset, u16 num_queues, u16 queue_size and 4 bytes of padding.
const inflightMsgSize = 24

// InflightMsg encodes VhostUserInflight.
func InflightMsg(mmapSize, mmapOffset uint64, numQueues, queueSize uint16) []byte {
	b := ne.AppendUint64(nil, mmapSize)
	b = ne.AppendUint64(b, mmapOffset)
	b = ne.AppendUint16(b, numQueues)
	b = ne.AppendUint16(b, queueSize)
	return ne.AppendUint32(b, 0)
}

// Inflight is the inflight area a front end keeps, as QEMU keeps it in
// its device across back-end restarts.
type Inflight struct {
	FD        int
	Size      uint64
	Offset    uint64
	NumQueues uint16
	QueueSize uint16
	// Mem is the front end's mapping of the area.
	Mem []byte
}

// GetInflight sends GET_INFLIGHT_FD for every queue with queueSize
// descriptors, as QEMU does with its queue-size property, checks the
// 24-byte reply and its descriptor, and maps the area. The Frontend keeps
// it for SetInflight and releases it on Close.
func (f *Frontend) GetInflight(queueSize uint16) (*Inflight, error) {
	nq := uint16(f.opts.NumQueues)
	if err := f.Send(vhostuser.GetInflightFD, 0, InflightMsg(0, 0, nq, queueSize)); err != nil {
		return nil, err
	}
	b, fds, err := f.recvFDs(vhostuser.GetInflightFD)
	if err != nil {
		return nil, err
	}
	if len(b) != inflightMsgSize || len(fds) != 1 {
		closeAll(fds)
		return nil, fmt.Errorf("vhostusertest: GET_INFLIGHT_FD reply of %d bytes and %d descriptors, want %d and 1", len(b), len(fds), inflightMsgSize)
	}
	in := &Inflight{FD: fds[0], Size: ne.Uint64(b), Offset: ne.Uint64(b[8:]), NumQueues: ne.Uint16(b[16:]), QueueSize: ne.Uint16(b[18:])}
	if in.NumQueues != nq || in.QueueSize != queueSize || in.Size == 0 {
		_ = unix.Close(in.FD)
		return nil, fmt.Errorf("vhostusertest: GET_INFLIGHT_FD reply %+v for %d queues of %d", in, nq, queueSize)
	}
	if in.Mem, err = unix.Mmap(in.FD, int64(in.Offset), int(in.Size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED); err != nil {
		_ = unix.Close(in.FD)
		return nil, fmt.Errorf("vhostusertest: map the inflight area: %w", err)
	}
	f.releaseInflight()
	f.inflight = in
	return in, nil
}

// Inflight returns the area from GetInflight, or nil.
func (f *Frontend) Inflight() *Inflight { return f.inflight }

// SetInflight hands the area back with SET_INFLIGHT_FD.
func (f *Frontend) SetInflight() error {
	in := f.inflight
	if in == nil {
		return fmt.Errorf("vhostusertest: no inflight area")
	}
	return f.Set(vhostuser.SetInflightFD, false, InflightMsg(in.Size, in.Offset, in.NumQueues, in.QueueSize), in.FD)
}

// startInflight does what QEMU 7.2 does before it starts the rings when
// INFLIGHT_SHMFD is negotiated and Options.InflightQueueSize is set: get an
// area unless it kept one, then hand it to the back end.
func (f *Frontend) startInflight() error {
	if f.opts.InflightQueueSize == 0 || f.protocol&vhostuser.ProtocolFeatureInflightShmfd == 0 {
		return nil
	}
	if f.inflight == nil {
		if _, err := f.GetInflight(f.opts.InflightQueueSize); err != nil {
			return err
		}
	}
	return f.SetInflight()
}

// releaseInflight unmaps and closes the area.
func (f *Frontend) releaseInflight() {
	if f.inflight == nil {
		return
	}
	_ = unix.Munmap(f.inflight.Mem)
	_ = unix.Close(f.inflight.FD)
	f.inflight = nil
}

// Reconnect replaces the connection with c, as QEMU does when a back end
// it lost comes back: guest RAM, eventfds, rings and the inflight area are
// kept; the memory table and the back-end request channel are set up anew.
// Call Init, then RestoreBase on each ring and Start.
func (f *Frontend) Reconnect(c *net.UnixConn) error {
	err := f.conn.Close()
	if f.backend != nil {
		_ = f.backend.Close()
		f.backend = nil
	}
	f.conn, f.protocol, f.added = c, 0, 0
	return err
}

// RestoreBase sets the base Start sends to the used index in guest RAM,
// what QEMU 7.2 does for a split ring whose back end went away before
// GET_VRING_BASE (virtio_queue_restore_last_avail_idx).
func (r *Ring) RestoreBase() error {
	b, err := r.f.Host(r.Used+2, 2)
	if err != nil {
		return err
	}
	r.base = le.Uint16(b)
	return nil
}

// recvFDs reads one reply to req with the descriptors attached to it.
func (f *Frontend) recvFDs(req vhostuser.Request) ([]byte, []int, error) {
	b := make([]byte, headerSize+maxReplyBytes)
	oob := make([]byte, unix.CmsgSpace(4*4))
	n, oobn, _, _, err := f.conn.ReadMsgUnix(b, oob)
	if err != nil {
		return nil, nil, fmt.Errorf("vhostusertest: reply to %v: %w", req, err)
	}
	var fds []int
	cms, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		return nil, nil, err
	}
	for _, cm := range cms {
		got, err := unix.ParseUnixRights(&cm)
		if err != nil {
			closeAll(fds)
			return nil, nil, err
		}
		fds = append(fds, got...)
	}
	if n < headerSize {
		closeAll(fds)
		return nil, nil, fmt.Errorf("vhostusertest: reply to %v of %d bytes", req, n)
	}
	got, flags, size := vhostuser.Request(ne.Uint32(b[0:])), ne.Uint32(b[4:]), ne.Uint32(b[8:])
	if got != req || flags != flagVersion|vhostuser.FlagReply || int(size) != n-headerSize {
		closeAll(fds)
		return nil, nil, fmt.Errorf("vhostusertest: reply header %v flags %#x size %d (%d read) to %v", got, flags, size, n, req)
	}
	return b[headerSize:n], fds, nil
}

func closeAll(fds []int) {
	for _, fd := range fds {
		_ = unix.Close(fd)
	}
}
