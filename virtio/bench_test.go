package virtio_test

import (
	"runtime"
	"testing"
	"time"

	"github.com/ccmblk/ccmblk/virtio"
	"github.com/ccmblk/ccmblk/virtio/virtiotest"
)

// batch publishes the same prepared requests again and spins until the
// device completed them all.
func batch(tb testing.TB, h *harness, heads []uint16) {
	h.d.Publish(heads...)
	h.kick.Kick()
	deadline := time.Now().Add(serveTimeout)
	for n := 0; n < len(heads); {
		n += h.d.Reap()
		if time.Now().After(deadline) {
			tb.Fatalf("%d of %d requests completed", n, len(heads))
		}
		runtime.Gosched()
	}
}

func prepare(h *harness, n, size int) []uint16 {
	heads := make([]uint16, n)
	for i := range heads {
		heads[i] = h.d.AddBlk(virtio.BlkTIn, uint64(i*size/512), size, true).Head
	}
	return heads
}

// TestServeAllocs checks that the request path does not allocate once the
// queue is warm: a round of 32 requests may only allocate what the test's
// own channels and timers need, far less than one allocation per request.
func TestServeAllocs(t *testing.T) {
	h := startDevice(t, virtiotest.NewMemDisk(512, 1024), testOpts, true)
	heads := prepare(h, 32, 4096)
	batch(t, h, heads) // warm up: request slots, worker buffers
	batch(t, h, heads)
	allocs := testing.AllocsPerRun(20, func() { batch(t, h, heads) })
	if allocs > 4 {
		t.Fatalf("%v allocations per round of %d requests", allocs, len(heads))
	}
}

// BenchmarkServeQueue measures 4 KiB reads at queue depth 32 against an
// in-memory disk: the cost of the virtqueue and request path alone.
func BenchmarkServeQueue(b *testing.B) {
	b.Run("plain", func(b *testing.B) { benchServe(b, func(*virtio.QueueConfig) {}) })
	// What tracking the requests in an inflight region costs.
	b.Run("inflight", func(b *testing.B) {
		r := make([]byte, virtio.InflightQueueBytes(testOpts.QueueSize))
		benchServe(b, func(c *virtio.QueueConfig) { c.Inflight = r })
	})
	// What the dirty log of a live migration costs: every data page,
	// status byte and used ring store marked.
	b.Run("dirty-log", func(b *testing.B) {
		var l virtio.DirtyLog
		if _, err := l.Swap(logBitmap(int(virtio.LogBytesFor(4 << 20)))); err != nil {
			b.Fatal(err)
		}
		benchServe(b, func(c *virtio.QueueConfig) { c.Log, c.LogUsed, c.UsedLogAddr = &l, true, c.Used })
	})
}

func benchServe(b *testing.B, setup func(*virtio.QueueConfig)) {
	h := startDeviceOn(b, virtiotest.NewMemDisk(512, 1024), testOpts, true, setup)
	heads := prepare(h, 32, 4096)
	batch(b, h, heads)
	b.ReportAllocs()
	b.SetBytes(int64(len(heads) * 4096))
	for b.Loop() {
		batch(b, h, heads)
	}
}
