package vhostuser_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"sync"
	"testing"

	"github.com/ccmblk/ccmblk/vhostuser"
	"github.com/ccmblk/ccmblk/vhostuser/vhostusertest"
	"github.com/ccmblk/ccmblk/virtio"
	"golang.org/x/sys/unix"
)

// memDisk is an in-memory virtio.Disk of 512-byte sectors.
type memDisk struct {
	mu      sync.Mutex
	data    []byte
	ro      bool
	flushes int
}

func newMemDisk(sectors int, ro bool) *memDisk {
	d := &memDisk{data: make([]byte, sectors*512), ro: ro}
	for i := range d.data {
		d.data[i] = byte(i*7 + i/512)
	}
	return d
}

func (d *memDisk) SectorSize() int { return 512 }
func (d *memDisk) Sectors() uint64 { return uint64(len(d.data) / 512) }
func (d *memDisk) ReadOnly() bool  { return d.ro }

func (d *memDisk) span(start uint64, bufs [][]byte) (int, error) {
	n := 0
	for _, b := range bufs {
		n += len(b)
	}
	if start > d.Sectors() || uint64(n) > uint64(len(d.data))-start*512 {
		return 0, errors.New("memdisk: out of range")
	}
	return int(start * 512), nil
}

func (d *memDisk) ReadSectors(start uint64, bufs [][]byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	off, err := d.span(start, bufs)
	for _, b := range bufs {
		off += copy(b, d.data[off:])
	}
	return err
}

func (d *memDisk) WriteSectors(start uint64, bufs [][]byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ro {
		return errors.New("memdisk: read-only")
	}
	off, err := d.span(start, bufs)
	for _, b := range bufs {
		off += copy(d.data[off:], b)
	}
	return err
}

func (d *memDisk) Flush() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.flushes++
	return nil
}

func (d *memDisk) flushCount() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.flushes
}

func (d *memDisk) sectors(start, n int) []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]byte(nil), d.data[start*512:(start+n)*512]...)
}

// blkFE is a front end whose request buffers start at data in guest RAM
// (rings are from 0x1000).
type blkFE struct {
	*vhostusertest.Frontend
	data virtio.GuestAddr
}

// blkReq posts one virtio-blk request on r and returns its status, used
// length and (for device-writable data) the data.
func blkReq(t *testing.T, fe blkFE, r *vhostusertest.Ring, typ uint32, sector uint64, data []byte, n uint32) (uint8, uint32, []byte) {
	t.Helper()
	hdr := fe.data + virtio.GuestAddr(r.Index)<<16
	buf, status := hdr+16, hdr+0x8000
	h := make([]byte, 16)
	binary.LittleEndian.PutUint32(h, typ)
	binary.LittleEndian.PutUint64(h[8:], sector)
	must(t, fe.Write(hdr, h))
	must(t, fe.Write(status, []byte{0xff}))
	bufs := []vhostusertest.Buf{{GPA: hdr, Len: 16}}
	switch {
	case data != nil:
		must(t, fe.Write(buf, data))
		bufs = append(bufs, vhostusertest.Buf{GPA: buf, Len: uint32(len(data))})
	case n > 0:
		must(t, fe.Write(buf, make([]byte, n)))
		bufs = append(bufs, vhostusertest.Buf{GPA: buf, Len: n, Write: true})
	}
	bufs = append(bufs, vhostusertest.Buf{GPA: status, Len: 1, Write: true})
	head, err := r.Post(bufs...)
	must(t, err)
	must(t, fe.Kick(r.Index))
	u, err := r.Wait(waitFor)
	must(t, err)
	if u.ID != uint32(head) {
		t.Fatalf("used id %d, want head %d", u.ID, head)
	}
	st, err := fe.Read(status, 1)
	must(t, err)
	out, err := fe.Read(buf, uint64(n))
	must(t, err)
	return st[0], u.Len, out
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// blkLayout is guest RAM and protocol features for a blk test.
type blkLayout struct {
	name string
	opts vhostusertest.Options
	data virtio.GuestAddr
}

var blkLayouts = []blkLayout{
	// What QEMU 7.2 negotiates: REPLY_ACK, ADD_MEM_REG.
	{name: "qemu", data: 1 << 20},
	// No REPLY_ACK nor CONFIGURE_MEM_SLOTS: SET_MEM_TABLE, and requests in
	// a second region far from the first.
	{name: "memtable", data: 1 << 32, opts: vhostusertest.Options{
		ProtocolFeatures: vhostuser.ProtocolFeatureMQ | vhostuser.ProtocolFeatureConfig,
		Regions: []vhostusertest.Region{
			{GPA: 0, Size: 1 << 20},
			{GPA: 1 << 32, Size: 2 << 20, Offset: 1 << 20},
		},
	}},
}

// startBlk runs the QEMU 7.2 handshake against dev and starts n rings.
func startBlk(t *testing.T, dev vhostuser.Backend, n int, l blkLayout) (*session, blkFE, vhostusertest.Info, []*vhostusertest.Ring) {
	t.Helper()
	o := l.opts
	o.NumQueues = n
	s := newSession(t, dev, o)
	in, err := s.fe.Init()
	must(t, err)
	rs := rings(t, s.fe, n)
	// QEMU acknowledges LOG_ALL only while it migrates.
	must(t, s.fe.Start(in.Features&^vhostuser.FeatureProtocolFeatures&^vhostuser.FeatureLogAll, rs...))
	return s, blkFE{s.fe, l.data}, in, rs
}

// TestBlockDevice drives a virtio.BlockDevice over a real socket with the
// QEMU 7.2 handshake: IN, OUT, FLUSH and GET_ID on two queues, stop with
// GET_VRING_BASE, restart, and a second session on the same device.
func TestBlockDevice(t *testing.T) {
	for _, l := range blkLayouts {
		t.Run(l.name, func(t *testing.T) { testBlockDevice(t, l) })
	}
}

func testBlockDevice(t *testing.T, l blkLayout) {
	disk := newMemDisk(128, false)
	dev, err := virtio.NewBlockDevice(disk, virtio.BlockOptions{NumQueues: 2, QueueSize: 64, Serial: "vhostuser-test"})
	must(t, err)
	s, fe, in, rs := startBlk(t, dev, 2, l)
	if got := binary.LittleEndian.Uint64(in.Config); got != 128 {
		t.Errorf("config capacity %d, want 128", got)
	}
	if in.Features&virtio.BlkFRO != 0 {
		t.Errorf("features %#x offer RO for a writable disk", in.Features)
	}

	st, n, got := blkReq(t, fe, rs[0], virtio.BlkTIn, 2, nil, 4*512)
	if st != virtio.BlkSOK || n != 4*512+1 || !bytes.Equal(got, disk.sectors(2, 4)) {
		t.Errorf("IN: status %d len %d, data equal %t; want OK, %d, true", st, n, bytes.Equal(got, disk.sectors(2, 4)), 4*512+1)
	}
	pattern := bytes.Repeat([]byte("vhost-user"), 1024)[:2*512]
	if st, _, _ := blkReq(t, fe, rs[1], virtio.BlkTOut, 10, pattern, 0); st != virtio.BlkSOK || !bytes.Equal(disk.sectors(10, 2), pattern) {
		t.Errorf("OUT: status %d, written %t; want OK, true", st, bytes.Equal(disk.sectors(10, 2), pattern))
	}
	if st, _, _ := blkReq(t, fe, rs[0], virtio.BlkTFlush, 0, nil, 0); st != virtio.BlkSOK || disk.flushCount() != 1 {
		t.Errorf("FLUSH: status %d, flushes %d; want OK, 1", st, disk.flushCount())
	}
	st, _, id := blkReq(t, fe, rs[1], virtio.BlkTGetID, 0, nil, 20)
	if want := append([]byte("vhostuser-test"), make([]byte, 6)...); st != virtio.BlkSOK || !bytes.Equal(id, want) {
		t.Errorf("GET_ID: status %d id %q; want OK, %q", st, id, want)
	}
	if st, _, _ := blkReq(t, fe, rs[0], virtio.BlkTIn, 127, nil, 2*512); st != virtio.BlkSIOErr {
		t.Errorf("IN past the end: status %d, want IOERR", st)
	}

	bases, err := s.fe.Stop(rs...)
	must(t, err)
	for i, r := range rs {
		if bases[i] != r.AvailIdx() {
			t.Errorf("GET_VRING_BASE(%d) = %d, want %d", i, bases[i], r.AvailIdx())
		}
	}
	// Restart from the bases, as after a guest reset or migration.
	// QEMU acknowledges LOG_ALL only while it migrates.
	must(t, s.fe.Start(in.Features&^vhostuser.FeatureProtocolFeatures&^vhostuser.FeatureLogAll, rs...))
	if st, _, got := blkReq(t, fe, rs[0], virtio.BlkTIn, 10, nil, 2*512); st != virtio.BlkSOK || !bytes.Equal(got, pattern) {
		t.Errorf("IN after restart: status %d, data equal %t", st, bytes.Equal(got, pattern))
	}
	must(t, s.fe.Close())
	must(t, s.wait())

	// A second front end (QEMU reconnecting) gets the same disk.
	s2, fe2, _, rs2 := startBlk(t, dev, 1, l)
	if st, _, got := blkReq(t, fe2, rs2[0], virtio.BlkTIn, 10, nil, 2*512); st != virtio.BlkSOK || !bytes.Equal(got, pattern) {
		t.Errorf("IN in a second session: status %d, data equal %t", st, bytes.Equal(got, pattern))
	}
	base, err := s2.fe.GetVringBase(0)
	if err != nil || base != 1 {
		t.Errorf("GET_VRING_BASE in a second session = %d, %v; want 1", base, err)
	}
}

// TestBlockDeviceReadOnly checks that a read-only disk is offered with RO
// and refuses writes with IOERR, leaving the disk unchanged.
func TestBlockDeviceReadOnly(t *testing.T) {
	disk := newMemDisk(16, true)
	dev, err := virtio.NewBlockDevice(disk, virtio.BlockOptions{NumQueues: 1, QueueSize: 16, Serial: "ro"})
	must(t, err)
	_, fe, in, rs := startBlk(t, dev, 1, blkLayouts[0])
	if in.Features&virtio.BlkFRO == 0 {
		t.Errorf("features %#x lack RO", in.Features)
	}
	before := disk.sectors(0, 16)
	if st, n, _ := blkReq(t, fe, rs[0], virtio.BlkTOut, 1, make([]byte, 512), 0); st != virtio.BlkSIOErr || n != 1 {
		t.Errorf("OUT on a read-only disk: status %d len %d, want IOERR, 1", st, n)
	}
	if !bytes.Equal(disk.sectors(0, 16), before) {
		t.Error("a refused write changed the disk")
	}
	if st, _, got := blkReq(t, fe, rs[0], virtio.BlkTIn, 0, nil, 512); st != virtio.BlkSOK || !bytes.Equal(got, before[:512]) {
		t.Errorf("IN on a read-only disk: status %d", st)
	}
}

// TestTruncatedGuestRAM shrinks the guest RAM file under running rings: the
// ring breaks and reports on its err eventfd, the session ends with an
// error when a ring restart faults, and the process lives on.
func TestTruncatedGuestRAM(t *testing.T) {
	disk := newMemDisk(16, false)
	dev, err := virtio.NewBlockDevice(disk, virtio.BlockOptions{NumQueues: 1, QueueSize: 16})
	must(t, err)
	s, fe, _, rs := startBlk(t, dev, 1, blkLayouts[0])
	if st, _, _ := blkReq(t, fe, rs[0], virtio.BlkTIn, 0, nil, 512); st != virtio.BlkSOK {
		t.Fatalf("IN before truncation: status %d", st)
	}
	errFD := vhostuser.EventFDs(t, 1)[0]
	must(t, fe.Set(vhostuser.SetVringErr, true, vhostusertest.VringFile(0, false), errFD))
	_, err = rs[0].Post(vhostusertest.Buf{GPA: fe.data, Len: 16}, vhostusertest.Buf{GPA: fe.data + 16, Len: 1, Write: true})
	must(t, err)
	must(t, unix.Ftruncate(fe.MemFD(), 0))
	// From here on guest RAM must not be touched from this side either.
	must(t, fe.Kick(0))
	if _, err := fe.GetVringBase(0); err != nil {
		t.Fatalf("GET_VRING_BASE after the fault: %v", err)
	}
	if got := readEventFD(t, errFD); got == 0 {
		t.Error("err eventfd not signalled for a faulted ring")
	}
	// Restarting reads the used ring: the fault ends the session.
	if err := fe.SetupRing(rs[0]); err != nil {
		t.Fatal(err)
	}
	if err := fe.EnableRing(0, true); err == nil {
		t.Error("ring restart on truncated RAM acknowledged")
	}
	if err := s.wait(); err == nil {
		t.Error("ServeConn = nil after a fault, want an error")
	}
}
