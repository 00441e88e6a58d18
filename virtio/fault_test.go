package virtio_test

import (
	"errors"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ccmblk/ccmblk/virtio"
	"github.com/ccmblk/ccmblk/virtio/virtiotest"
)

// TestServeFault revokes access to a guest memory region under the device,
// as a front end truncating its memory file would: the worker's access faults, and
// ServeQueue reports ErrFault instead of crashing the process.
func TestServeFault(t *testing.T) {
	const dataGPA = 0x100000
	ringMem, err := unix.Mmap(-1, 0, 1<<16, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(ringMem)
	dataMem, err := unix.Mmap(-1, 0, 1<<16, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(dataMem)
	d := virtiotest.New(t, ringMem, 0, 16)
	mem, err := virtio.NewMemory([]virtio.Region{virtio.NewRegion(0, ringMem), virtio.NewRegion(dataGPA, dataMem)})
	if err != nil {
		t.Fatal(err)
	}
	q, err := virtio.NewQueue(mem, d.Config(false))
	if err != nil {
		t.Fatal(err)
	}
	dev, err := virtio.NewBlockDevice(virtiotest.NewMemDisk(512, 64), testOpts)
	if err != nil {
		t.Fatal(err)
	}
	head := d.AddChain(hdr(d, virtio.BlkTIn, 0), seg{Addr: dataGPA, Len: 4096, Write: true}, status(d))
	// Revoke access rather than unmap, so nothing else can be mapped there
	// meanwhile; the device sees the same kind of fault.
	if err := unix.Mprotect(dataMem, unix.PROT_NONE); err != nil {
		t.Fatal(err)
	}
	kick, call := virtiotest.NewKick(), virtiotest.NewCall()
	done := make(chan error, 1)
	go func() { done <- dev.ServeQueue(0, q, kick, call) }()
	d.Publish(head)
	kick.Kick()
	time.Sleep(50 * time.Millisecond)
	kick.Close()
	select {
	case err := <-done:
		if !errors.Is(err, virtio.ErrFault) {
			t.Fatalf("ServeQueue: got %v, want %v", err, virtio.ErrFault)
		}
	case <-time.After(serveTimeout):
		t.Fatal("ServeQueue did not return")
	}
}
