package vhostusertest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ccmblk/ccmblk/vhostuser"
	"github.com/ccmblk/ccmblk/virtio"
)

// vhost-user is native-endian.
var ne = binary.NativeEndian

const (
	headerSize    = 12
	flagVersion   = 1
	defaultRAM    = 4 << 20
	fakeQVABase   = 0x7f00_0000_0000
	vringNoFD     = 1 << 8
	maxReplyBytes = 0x1000
)

// Region is one guest RAM region: Size bytes at Offset in the memfd,
// described to the back end at guest physical address GPA and front-end
// address QVA.
type Region struct {
	GPA    virtio.GuestAddr
	Size   uint64
	Offset uint64
	QVA    uint64
}

// Options configure a Frontend.
type Options struct {
	// Regions lay out guest RAM. The default is one 4 MiB region at GPA 0.
	// QVA 0 means a made-up address distinct from the GPA.
	Regions []Region
	// NumQueues is the number of queues Init and Start set up (default 1).
	NumQueues int
	// ConfigSize is the GET_CONFIG size Init asks for (default 57: the
	// virtio-blk configuration up to write_zeroes_may_unmap, what QEMU
	// 7.2.22 reads with its default device properties).
	ConfigSize int
	// ProtocolFeatures masks the protocol features Init accepts; 0 accepts
	// everything offered.
	ProtocolFeatures uint64
	// InflightQueueSize, if set, is the queue size of the inflight area
	// Start gets (once) and hands to the back end when INFLIGHT_SHMFD is
	// negotiated: QEMU's queue-size property. 0 leaves the area out.
	InflightQueueSize uint16
}

// Frontend is the front end of one vhost-user connection.
type Frontend struct {
	conn    *net.UnixConn
	memFD   int
	ram     []byte
	regions []Region
	kicks   []int
	calls   []int
	errs    []int
	opts    Options
	// protocol holds the negotiated protocol features.
	protocol uint64
	// added counts the regions SetMemory has sent with ADD_MEM_REG.
	added int
	// backend is the front end's end of the back-end request channel, or
	// nil.
	backend *os.File
	// inflight is the area from GetInflight, or nil.
	inflight *Inflight
}

// Dial connects to the back end listening at path.
func Dial(path string, o Options) (*Frontend, error) {
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, err
	}
	f, err := New(c, o)
	if err != nil {
		_ = c.Close()
		return nil, err
	}
	return f, nil
}

// New makes a Frontend on an established connection, creating its guest
// RAM and eventfds. Close releases them and closes c.
func New(c *net.UnixConn, o Options) (*Frontend, error) {
	if o.NumQueues == 0 {
		o.NumQueues = 1
	}
	if o.ConfigSize == 0 {
		o.ConfigSize = 57
	}
	if len(o.Regions) == 0 {
		o.Regions = []Region{{GPA: 0, Size: defaultRAM}}
	}
	f := &Frontend{conn: c, memFD: -1, opts: o}
	if err := f.setup(); err != nil {
		f.release()
		return nil, err
	}
	return f, nil
}

func (f *Frontend) setup() error {
	var size uint64
	for i, r := range f.opts.Regions {
		if r.QVA == 0 {
			r.QVA = fakeQVABase + r.Offset + uint64(i)<<32
		}
		f.regions = append(f.regions, r)
		size = max(size, r.Offset+r.Size)
	}
	fd, err := unix.MemfdCreate("vhostusertest-ram", unix.MFD_CLOEXEC)
	if err != nil {
		return fmt.Errorf("memfd: %w", err)
	}
	f.memFD = fd
	if err := unix.Ftruncate(fd, int64(size)); err != nil {
		return fmt.Errorf("ftruncate: %w", err)
	}
	f.ram, err = unix.Mmap(fd, 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("mmap: %w", err)
	}
	for range f.opts.NumQueues {
		k, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
		if err != nil {
			return err
		}
		f.kicks = append(f.kicks, k)
		c, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
		if err != nil {
			return err
		}
		f.calls = append(f.calls, c)
		e, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
		if err != nil {
			return err
		}
		f.errs = append(f.errs, e)
	}
	return nil
}

func (f *Frontend) release() {
	for _, fds := range [][]int{f.kicks, f.calls, f.errs} {
		for _, fd := range fds {
			_ = unix.Close(fd)
		}
	}
	f.kicks, f.calls, f.errs = nil, nil, nil
	f.releaseInflight()
	if f.ram != nil {
		_ = unix.Munmap(f.ram)
		f.ram = nil
	}
	if f.memFD >= 0 {
		_ = unix.Close(f.memFD)
		f.memFD = -1
	}
}

// Close disconnects and releases guest RAM and eventfds.
func (f *Frontend) Close() error {
	err := f.conn.Close()
	if f.backend != nil {
		_ = f.backend.Close()
	}
	f.release()
	return err
}

// MemFD returns the guest RAM memfd (owned by the Frontend).
func (f *Frontend) MemFD() int { return f.memFD }

// RAM returns the whole guest RAM as laid out in the memfd.
func (f *Frontend) RAM() []byte { return f.ram }

// Regions returns the guest RAM layout, QVAs filled in.
func (f *Frontend) Regions() []Region { return f.regions }

// Host returns the n bytes of guest RAM at gpa.
func (f *Frontend) Host(gpa virtio.GuestAddr, n uint64) ([]byte, error) {
	for _, r := range f.regions {
		if gpa >= r.GPA && uint64(gpa-r.GPA) <= r.Size && n <= r.Size-uint64(gpa-r.GPA) {
			off := r.Offset + uint64(gpa-r.GPA)
			return f.ram[off : off+n : off+n], nil
		}
	}
	return nil, fmt.Errorf("vhostusertest: GPA %#x+%#x not in one region", gpa, n)
}

// QVA returns the front-end address of gpa.
func (f *Frontend) QVA(gpa virtio.GuestAddr) (uint64, error) {
	for _, r := range f.regions {
		if gpa >= r.GPA && uint64(gpa-r.GPA) < r.Size {
			return r.QVA + uint64(gpa-r.GPA), nil
		}
	}
	return 0, fmt.Errorf("vhostusertest: GPA %#x not in guest RAM", gpa)
}

// Send writes one request with fds attached.
func (f *Frontend) Send(req vhostuser.Request, flags uint32, payload []byte, fds ...int) error {
	b := make([]byte, headerSize+len(payload))
	ne.PutUint32(b[0:], uint32(req))
	ne.PutUint32(b[4:], flags|flagVersion)
	ne.PutUint32(b[8:], uint32(len(payload)))
	copy(b[headerSize:], payload)
	return f.SendRaw(b, fds...)
}

// SendRaw writes b as is, with fds attached to its first byte.
func (f *Frontend) SendRaw(b []byte, fds ...int) error {
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	n, _, err := f.conn.WriteMsgUnix(b, oob, nil)
	if err == nil && n != len(b) {
		err = io.ErrShortWrite
	}
	return err
}

// Recv reads one reply and checks that it answers req.
func (f *Frontend) Recv(req vhostuser.Request) ([]byte, error) {
	var h [headerSize]byte
	if _, err := io.ReadFull(f.conn, h[:]); err != nil {
		return nil, fmt.Errorf("vhostusertest: reply to %v: %w", req, err)
	}
	got, flags, size := vhostuser.Request(ne.Uint32(h[0:])), ne.Uint32(h[4:]), ne.Uint32(h[8:])
	if got != req || flags != flagVersion|vhostuser.FlagReply || size > maxReplyBytes {
		return nil, fmt.Errorf("vhostusertest: reply header %v flags %#x size %d to %v", got, flags, size, req)
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(f.conn, b); err != nil {
		return nil, fmt.Errorf("vhostusertest: reply to %v: %w", req, err)
	}
	return b, nil
}

// Get sends a request that has a reply body and returns the body.
func (f *Frontend) Get(req vhostuser.Request, payload []byte) ([]byte, error) {
	if err := f.Send(req, 0, payload); err != nil {
		return nil, err
	}
	return f.Recv(req)
}

// GetU64 sends a request whose reply is one u64.
func (f *Frontend) GetU64(req vhostuser.Request) (uint64, error) {
	b, err := f.Get(req, nil)
	if err != nil {
		return 0, err
	}
	if len(b) != 8 {
		return 0, fmt.Errorf("vhostusertest: %v reply of %d bytes", req, len(b))
	}
	return ne.Uint64(b), nil
}

// ErrNack is returned when the back end acknowledges a request with
// failure.
var ErrNack = errors.New("vhostusertest: back end reported failure")

// Set sends a request without a reply body. If REPLY_ACK was negotiated
// and ack is true it asks for, and checks, the acknowledgement.
func (f *Frontend) Set(req vhostuser.Request, ack bool, payload []byte, fds ...int) error {
	var flags uint32
	ack = ack && f.protocol&vhostuser.ProtocolFeatureReplyAck != 0
	if ack {
		flags = vhostuser.FlagNeedReply
	}
	if err := f.Send(req, flags, payload, fds...); err != nil {
		return err
	}
	if !ack {
		return nil
	}
	b, err := f.Recv(req)
	if err != nil {
		return err
	}
	if len(b) != 8 {
		return fmt.Errorf("vhostusertest: %v ack of %d bytes", req, len(b))
	}
	if ne.Uint64(b) != 0 {
		return fmt.Errorf("%v: %w", req, ErrNack)
	}
	return nil
}

// Kick signals queue q's kick eventfd.
func (f *Frontend) Kick(q int) error {
	var b [8]byte
	ne.PutUint64(b[:], 1)
	_, err := unix.Write(f.kicks[q], b[:])
	return err
}

// WaitCall waits up to d for queue q's call eventfd and consumes it.
func (f *Frontend) WaitCall(q int, d time.Duration) error {
	return waitEvent(f.calls[q], "call", q, d)
}

// WaitErr waits up to d for queue q's error eventfd (SET_VRING_ERR) and
// consumes it.
func (f *Frontend) WaitErr(q int, d time.Duration) error {
	return waitEvent(f.errs[q], "error", q, d)
}

// waitEvent waits up to d for the eventfd fd of queue q and consumes it.
func waitEvent(fd int, what string, q int, d time.Duration) error {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	deadline := time.Now().Add(d)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("vhostusertest: no %s on queue %d within %v", what, q, d)
		}
		n, err := unix.Poll(fds, int(left.Milliseconds())+1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		if n == 1 {
			var b [8]byte
			_, err := unix.Read(fd, b[:])
			if errors.Is(err, unix.EAGAIN) {
				continue
			}
			return err
		}
	}
}
