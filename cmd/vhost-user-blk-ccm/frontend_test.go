package main

import (
	"encoding/binary"
	"errors"
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ccmblk/ccmblk/vhostuser"
	"github.com/ccmblk/ccmblk/vhostuser/vhostusertest"
	"github.com/ccmblk/ccmblk/virtio"
)

// Guest RAM layout of a client: one ring, then per request slot a 16-byte
// header, a status byte and up to the client's slot size of data.
const (
	ringGPA   = virtio.GuestAddr(0x1000)
	ringSize  = 64
	hdrGPA    = virtio.GuestAddr(0x10000)
	statusGPA = virtio.GuestAddr(0x18000)
	dataGPA   = virtio.GuestAddr(1 << 20)
	// slotBytes is the default slot size.
	slotBytes = 64 << 10
	// maxSlots requests of three descriptors fit in the ring at once.
	maxSlots = ringSize / 3
)

// ioWait bounds the wait for one request's completion.
const ioWait = 5 * time.Second

// client is a vhost-user front end with one started queue, as QEMU is
// once its guest has set DRIVER_OK.
type client struct {
	t    *testing.T
	fe   *vhostusertest.Frontend
	info vhostusertest.Info
	ring *vhostusertest.Ring
	slot int // data bytes per request slot
}

// dial connects to the daemon at sock with guest RAM laid out by o,
// retrying while the socket is not yet listening.
func dial(t *testing.T, sock string, o vhostusertest.Options) *vhostusertest.Frontend {
	t.Helper()
	fe, err := vhostusertest.New(connectSocket(t, sock), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fe.Close() })
	return fe
}

// connectSocket connects to the daemon at sock, retrying while the socket
// is not yet listening (absent, or left behind by a daemon that died).
func connectSocket(t *testing.T, sock string) *net.UnixConn {
	t.Helper()
	deadline := time.Now().Add(exitWait)
	for {
		c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: sock, Net: "unix"})
		if err == nil {
			return c
		}
		if !errors.Is(err, unix.ECONNREFUSED) && !errors.Is(err, unix.ENOENT) || time.Now().After(deadline) {
			t.Fatalf("connect to %s: %v", sock, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// connect runs QEMU 7.2's handshake with the daemon at sock and starts
// queue 0, with request slots of slotBytes.
func connect(t *testing.T, sock string) *client {
	t.Helper()
	return connectSlots(t, sock, slotBytes)
}

// connectSlots is connect with request slots of slot bytes.
func connectSlots(t *testing.T, sock string, slot int) *client {
	t.Helper()
	ram := max(4<<20, uint64(dataGPA)+uint64(maxSlots*slot))
	o := vhostusertest.Options{Regions: []vhostusertest.Region{{GPA: 0, Size: ram}}}
	c := &client{t: t, fe: dial(t, sock, o), slot: slot}
	var err error
	if c.info, err = c.fe.Init(); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	if c.ring, err = c.fe.NewRing(0, ringSize, ringGPA); err != nil {
		t.Fatal(err)
	}
	// QEMU acknowledges LOG_ALL only while it migrates.
	if err := c.fe.Start(c.info.Features&^vhostuser.FeatureProtocolFeatures&^vhostuser.FeatureLogAll, c.ring); err != nil {
		t.Fatalf("start: %v", err)
	}
	return c
}

// capacity returns the disk size in 512-byte units from the configuration
// space the handshake read.
func (c *client) capacity() uint64 {
	return binary.LittleEndian.Uint64(c.info.Config)
}

// post places a request of type typ at sector in slot's buffers and
// publishes it without kicking. data is the payload of a write; readLen
// the device-writable length of a read or GET_ID.
func (c *client) post(slot int, typ uint32, sector uint64, data []byte, readLen int) uint16 {
	c.t.Helper()
	if slot < 0 || slot >= maxSlots || len(data) > c.slot || readLen > c.slot {
		c.t.Fatalf("slot %d with %d+%d bytes does not fit", slot, len(data), readLen)
	}
	hdr := hdrGPA + virtio.GuestAddr(16*slot)
	status := statusGPA + virtio.GuestAddr(slot)
	buf := dataGPA + virtio.GuestAddr(slot*c.slot)
	h := make([]byte, 16)
	binary.LittleEndian.PutUint32(h, typ)
	binary.LittleEndian.PutUint64(h[8:], sector)
	c.must(c.fe.Write(hdr, h))
	c.must(c.fe.Write(status, []byte{0xff}))
	bufs := []vhostusertest.Buf{{GPA: hdr, Len: 16}}
	switch {
	case data != nil:
		c.must(c.fe.Write(buf, data))
		bufs = append(bufs, vhostusertest.Buf{GPA: buf, Len: uint32(len(data))})
	case readLen > 0:
		c.must(c.fe.Write(buf, make([]byte, readLen)))
		bufs = append(bufs, vhostusertest.Buf{GPA: buf, Len: uint32(readLen), Write: true})
	}
	bufs = append(bufs, vhostusertest.Buf{GPA: status, Len: 1, Write: true})
	head, err := c.ring.Post(bufs...)
	c.must(err)
	return head
}

// status returns the status byte of slot (0xff until the device writes it).
func (c *client) status(slot int) uint8 {
	c.t.Helper()
	b, err := c.fe.Read(statusGPA+virtio.GuestAddr(slot), 1)
	c.must(err)
	return b[0]
}

// data returns n bytes of slot's data buffer.
func (c *client) data(slot, n int) []byte {
	c.t.Helper()
	b, err := c.fe.Read(dataGPA+virtio.GuestAddr(slot*c.slot), uint64(n))
	c.must(err)
	return b
}

// do runs one request in slot 0 and returns its status and, for a read,
// its data. Nothing else may be in flight.
func (c *client) do(typ uint32, sector uint64, data []byte, readLen int) (uint8, []byte) {
	c.t.Helper()
	head := c.post(0, typ, sector, data, readLen)
	c.must(c.fe.Kick(0))
	u, err := c.ring.Wait(ioWait)
	c.must(err)
	if u.ID != uint32(head) {
		c.t.Fatalf("used id %d, want head %d", u.ID, head)
	}
	return c.status(0), c.data(0, readLen)
}

// read reads n sectors from s on; the request must succeed.
func (c *client) read(s, n int) []byte {
	c.t.Helper()
	st, b := c.do(virtio.BlkTIn, uint64(s), nil, n*sectorSize)
	if st != virtio.BlkSOK {
		c.t.Fatalf("read of %d sectors at %d: status %d", n, s, st)
	}
	return b
}

// readAll reads the whole disk of n sectors in slot-sized requests.
func (c *client) readAll(n int) []byte {
	c.t.Helper()
	var all []byte
	per := c.slot / sectorSize
	for s := 0; s < n; s += per {
		all = append(all, c.read(s, min(n-s, per))...)
	}
	return all
}

// write writes data at sector s; the request must succeed.
func (c *client) write(s int, data []byte) {
	c.t.Helper()
	if st, _ := c.do(virtio.BlkTOut, uint64(s), data, 0); st != virtio.BlkSOK {
		c.t.Fatalf("write of %d bytes at %d: status %d", len(data), s, st)
	}
}

func (c *client) must(err error) {
	c.t.Helper()
	if err != nil {
		c.t.Fatal(err)
	}
}
