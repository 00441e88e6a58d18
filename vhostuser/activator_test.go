package vhostuser_test

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ccmblk/ccmblk/vhostuser"
	"github.com/ccmblk/ccmblk/vhostuser/vhostusertest"
	"github.com/ccmblk/ccmblk/virtio"
)

// ownedDevice is a block device that records the session's Activator
// calls, with the disk's flush count at each Deactivate.
type ownedDevice struct {
	*virtio.BlockDevice
	disk *memDisk

	mu     sync.Mutex
	calls  []string
	refuse bool // Activate fails
}

func (d *ownedDevice) Activate() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, "activate")
	if d.refuse {
		return errors.New("image held elsewhere")
	}
	return nil
}

func (d *ownedDevice) Deactivate() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, "deactivate")
	return d.Flush()
}

func (d *ownedDevice) log() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.calls)
}

// TestActivator checks the session's side of the image handoff of a
// migration: a ring starts only after Activate, GET_VRING_BASE of the last
// running ring calls Deactivate (which flushes) before its reply, after
// the ring's requests completed, and a refused Activate keeps the ring
// stopped and signals its error eventfd.
func TestActivator(t *testing.T) {
	disk := newMemDisk(128, false)
	dev, err := virtio.NewBlockDevice(disk, virtio.BlockOptions{NumQueues: 2, QueueSize: 64, Serial: "activator"})
	must(t, err)
	od := &ownedDevice{BlockDevice: dev, disk: disk}
	var _ vhostuser.Activator = od
	s, fe, _, rs := startBlk(t, od, 2, blkLayouts[0])
	if got := od.log(); len(got) != 2 || got[0] != "activate" {
		t.Fatalf("calls %v after two rings started, want activate twice", got)
	}
	if st, _, _ := blkReq(t, fe, rs[0], virtio.BlkTOut, 1, make([]byte, 512), 0); st != virtio.BlkSOK {
		t.Fatalf("write status %d", st)
	}
	flushes := disk.flushCount()
	if _, err := s.fe.Stop(rs...); err != nil {
		t.Fatal(err)
	}
	if got := od.log(); !slices.Equal(got[2:], []string{"deactivate", "deactivate"}) {
		t.Errorf("calls %v after GET_VRING_BASE of both rings, want a deactivate each once none runs", got)
	}
	if disk.flushCount() == flushes {
		t.Error("GET_VRING_BASE replied before the image was flushed")
	}

	od.mu.Lock()
	od.refuse = true
	od.mu.Unlock()
	if err := s.fe.SetupRing(rs[0]); err != nil {
		t.Fatal(err)
	}
	must(t, s.fe.EnableRing(0, true))
	must(t, s.fe.WaitErr(0, waitFor))
	_, err = rs[0].Post(vhostusertest.Buf{GPA: 1 << 20, Len: 16}, vhostusertest.Buf{GPA: 1<<20 + 0x8000, Len: 1, Write: true})
	must(t, err)
	must(t, s.fe.Kick(0))
	if u, err := rs[0].Wait(300 * time.Millisecond); err == nil {
		t.Fatalf("ring served (used %+v) although Activate failed", u)
	}
	s.alive()
}
