package virtio_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/ccmblk/ccmblk/virtio"
	"github.com/ccmblk/ccmblk/virtio/virtiotest"
)

// served is the outcome of a ServeQueue call started by serveQueue.
type served struct {
	err      error
	panicked any       // what escaped ServeQueue, if anything
	at       time.Time // when it returned
}

// newDevice returns a device on disk with testOpts.
func newDevice(t *testing.T, disk virtio.Disk) *virtio.BlockDevice {
	t.Helper()
	dev, err := virtio.NewBlockDevice(disk, testOpts)
	if err != nil {
		t.Fatal(err)
	}
	return dev
}

// serveQueue serves queue 0 of dev over a fresh 16-entry driver. The
// channel delivers ServeQueue's outcome once kick is closed.
func serveQueue(t *testing.T, dev *virtio.BlockDevice, call virtio.Notifier) (*virtiotest.Driver, *virtiotest.Kick, <-chan served) {
	t.Helper()
	d := virtiotest.NewGuest(t, 1<<20, 16)
	q := d.Queue(false)
	kick := virtiotest.NewKick()
	done := make(chan served, 1)
	go func() {
		var r served
		defer func() {
			r.panicked = recover()
			r.at = time.Now()
			done <- r
		}()
		r.err = dev.ServeQueue(0, q, kick, call)
	}()
	return d, kick, done
}

// result closes kick and returns ServeQueue's outcome.
func result(t *testing.T, kick *virtiotest.Kick, done <-chan served) served {
	t.Helper()
	kick.Close()
	select {
	case r := <-done:
		return r
	case <-time.After(serveTimeout):
		t.Fatal("ServeQueue did not return")
	}
	return served{}
}

// complete publishes r, kicks, and returns r's status once it is used.
func complete(t *testing.T, d *virtiotest.Driver, kick *virtiotest.Kick, call *virtiotest.Call, r virtiotest.BlkReq) (virtiotest.UsedElem, byte) {
	t.Helper()
	d.Publish(r.Head)
	kick.Kick()
	for deadline := time.Now().Add(serveTimeout); ; {
		if used := d.Used(); len(used) > 0 {
			if len(used) != 1 || used[0].ID != uint32(r.Head) {
				t.Fatalf("used %v, want head %d alone", used, r.Head)
			}
			return used[0], d.Status(r)
		}
		if time.Now().After(deadline) {
			t.Fatal("request not completed")
		}
		call.Wait(10 * time.Millisecond)
	}
}

// panicDisk is a Disk whose reads panic with a value that is not a memory
// fault, standing for a bug in a Disk implementation.
type panicDisk struct {
	*virtiotest.MemDisk
}

func (panicDisk) ReadSectors(uint64, [][]byte) error { panic("panicDisk: bug") }

// TestRegression_WorkerPanic: a panic in a worker that was not a guest
// memory fault was re-raised by the worker's recover and, on a goroutine
// nobody recovers, killed the whole daemon. It must break the queue like a
// fault, and the request, whose status byte is intact, completes with
// IOERR. Found in review of blk_worker.go.
func TestRegression_WorkerPanic(t *testing.T) {
	call := virtiotest.NewCall()
	d, kick, done := serveQueue(t, newDevice(t, panicDisk{virtiotest.NewMemDisk(512, 64)}), call)
	used, st := complete(t, d, kick, call, d.AddBlk(virtio.BlkTIn, 0, 512, false))
	if used.Len != 1 || st != virtio.BlkSIOErr {
		t.Errorf("used length %d, status %d; want 1, IOERR", used.Len, st)
	}
	if r := result(t, kick, done); r.panicked != nil || !errors.Is(r.err, virtio.ErrPanic) {
		t.Errorf("ServeQueue: got %v (panic %v), want %v", r.err, r.panicked, virtio.ErrPanic)
	}
}

// panicCall is a Notifier that panics, standing for a bug on the queue
// goroutine. It closes reached first.
type panicCall struct{ reached chan struct{} }

func (p panicCall) Notify() error {
	close(p.reached)
	panic("panicCall: bug")
}

// spanDisk records the time every read ends.
type spanDisk struct {
	*virtiotest.MemDisk
	mu   sync.Mutex
	ends []time.Time
}

func (s *spanDisk) ReadSectors(start uint64, bufs [][]byte) error {
	err := s.MemDisk.ReadSectors(start, bufs)
	s.mu.Lock()
	s.ends = append(s.ends, time.Now())
	s.mu.Unlock()
	return err
}

// TestRegression_QueuePanicLeavesWorkers: a panic on the queue goroutine
// unwound ServeQueue at once, skipping the shutdown of its workers: they
// went on reading and writing guest memory after ServeQueue had returned,
// when the vhostuser session (which recovers Backend panics) may already
// have unmapped it, and they were never stopped. ServeQueue must return
// only once its workers are done. Found in review of blk_serve.go.
func TestRegression_QueuePanicLeavesWorkers(t *testing.T) {
	disk := &spanDisk{MemDisk: virtiotest.NewMemDisk(512, 64)}
	disk.SetDelay(300 * time.Millisecond)
	call := panicCall{reached: make(chan struct{})}
	d, kick, done := serveQueue(t, newDevice(t, disk), call)
	// The slow read goes to a worker; GET_ID completes on the queue
	// goroutine, whose notification then panics.
	in := d.AddBlk(virtio.BlkTIn, 0, 512, false)
	id := d.AddBlk(virtio.BlkTGetID, 0, virtio.BlkIDBytes, false)
	d.Publish(in.Head, id.Head)
	kick.Kick()
	select {
	case <-call.reached:
	case <-time.After(serveTimeout):
		t.Fatal("no notification")
	}
	r := result(t, kick, done)
	time.Sleep(400 * time.Millisecond) // let a leaked worker finish its read
	if r.panicked != nil || !errors.Is(r.err, virtio.ErrPanic) {
		t.Errorf("ServeQueue: got %v (panic %v), want %v", r.err, r.panicked, virtio.ErrPanic)
	}
	disk.mu.Lock()
	defer disk.mu.Unlock()
	for _, end := range disk.ends {
		if end.After(r.at) {
			t.Errorf("a disk read ended %v after ServeQueue returned", end.Sub(r.at))
		}
	}
}

// flakyFlushDisk fails its first Flush, like an fdatasync that reports a
// writeback error: Linux reports such an error once, so the next
// fdatasync succeeds although the dirty pages were lost.
type flakyFlushDisk struct {
	*virtiotest.MemDisk
	mu     sync.Mutex
	failed bool
}

func (f *flakyFlushDisk) Flush() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.failed {
		f.failed = true
		return errors.New("flakyFlushDisk: writeback error")
	}
	return f.MemDisk.Flush()
}

// TestRegression_FlushErrorSticky: after a failed flush, the next FLUSH
// reached fdatasync again, which succeeded, and the guest was told OK
// although the writes the failed flush covered may be lost. Every later
// FLUSH, and every write in write-through mode, must now fail with IOERR
// (QEMU's file-posix latches the same way). Found in review of
// blk_worker.go.
func TestRegression_FlushErrorSticky(t *testing.T) {
	disk := &flakyFlushDisk{MemDisk: virtiotest.NewMemDisk(512, 64)}
	dev, call := newDevice(t, disk), virtiotest.NewCall()
	d, kick, done := serveQueue(t, dev, call)
	defer result(t, kick, done)
	run := func(r virtiotest.BlkReq) byte {
		t.Helper()
		_, st := complete(t, d, kick, call, r)
		return st
	}
	if st := run(d.AddBlk(virtio.BlkTOut, 0, 512, false)); st != virtio.BlkSOK {
		t.Fatalf("OUT: status %d", st)
	}
	if st := run(d.AddBlk(virtio.BlkTFlush, 0, 0, false)); st != virtio.BlkSIOErr {
		t.Fatalf("first FLUSH: status %d, want IOERR", st)
	}
	if st := run(d.AddBlk(virtio.BlkTFlush, 0, 0, false)); st != virtio.BlkSIOErr {
		t.Errorf("FLUSH after a failed one: status %d, want IOERR", st)
	}
	if err := dev.WriteConfig(32, []byte{0}); err != nil { // write-through
		t.Fatal(err)
	}
	if st := run(d.AddBlk(virtio.BlkTOut, 0, 512, false)); st != virtio.BlkSIOErr {
		t.Errorf("write-through OUT after a failed flush: status %d, want IOERR", st)
	}
}
