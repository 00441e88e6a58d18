package virtio_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/ccmblk/ccmblk/virtio"
	"github.com/ccmblk/ccmblk/virtio/virtiotest"
)

// harness runs one queue of a BlockDevice on a fake driver.
type harness struct {
	t    testing.TB
	d    *virtiotest.Driver
	disk *virtiotest.MemDisk
	dev  *virtio.BlockDevice
	q    *virtio.Queue
	kick *virtiotest.Kick
	call *virtiotest.Call
	done chan error
	err  error // ServeQueue's result once stopped
}

const serveTimeout = 10 * time.Second

func startDevice(t *testing.T, disk *virtiotest.MemDisk, o virtio.BlockOptions, eventIdx bool) *harness {
	t.Helper()
	return startDeviceTB(t, disk, o, eventIdx)
}

func startDeviceTB(t testing.TB, disk *virtiotest.MemDisk, o virtio.BlockOptions, eventIdx bool) *harness {
	t.Helper()
	return startDeviceOn(t, disk, o, eventIdx, func(*virtio.QueueConfig) {})
}

// startDeviceOn is startDeviceTB with the queue tracking its requests in
// the inflight region inflight (nil for none).
func startDeviceOn(t testing.TB, disk *virtiotest.MemDisk, o virtio.BlockOptions, eventIdx bool, setup func(*virtio.QueueConfig)) *harness {
	t.Helper()
	dev, err := virtio.NewBlockDevice(disk, o)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, disk: disk, dev: dev, kick: virtiotest.NewKick(), call: virtiotest.NewCall(), done: make(chan error, 1)}
	h.d = virtiotest.NewGuest(t, 4<<20, o.QueueSize)
	cfg := h.d.Config(eventIdx)
	setup(&cfg)
	if h.q, err = virtio.NewQueue(h.d.Memory(), cfg); err != nil {
		t.Fatal(err)
	}
	go func() { h.done <- dev.ServeQueue(0, h.q, h.kick, h.call) }()
	t.Cleanup(func() { h.stop() })
	return h
}

// publish makes heads available and kicks the device.
func (h *harness) publish(heads ...uint16) {
	h.d.Publish(heads...)
	h.kick.Kick()
}

// waitUsed collects used elements until it has n of them.
func (h *harness) waitUsed(n int) []virtiotest.UsedElem {
	h.t.Helper()
	var used []virtiotest.UsedElem
	deadline := time.Now().Add(serveTimeout)
	for len(used) < n {
		used = append(used, h.d.Used()...)
		if len(used) >= n {
			break
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("got %d used elements, want %d", len(used), n)
		}
		h.call.Wait(10 * time.Millisecond)
	}
	if len(used) != n {
		h.t.Fatalf("got %d used elements, want %d", len(used), n)
	}
	return used
}

// run publishes heads and returns their used elements.
func (h *harness) run(heads ...uint16) []virtiotest.UsedElem {
	h.t.Helper()
	h.publish(heads...)
	return h.waitUsed(len(heads))
}

// stop closes the kick and returns ServeQueue's result.
func (h *harness) stop() error {
	if h.done == nil {
		return h.err
	}
	h.kick.Close()
	select {
	case h.err = <-h.done:
	case <-time.After(serveTimeout):
		h.t.Fatal("ServeQueue did not return after kick closed")
	}
	h.done = nil
	return h.err
}

func pattern(n int, seed byte) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*7) ^ seed ^ byte(i>>9)
	}
	return p
}

func TestServeReadWrite(t *testing.T) {
	for _, indirect := range []bool{false, true} {
		for _, eventIdx := range []bool{false, true} {
			disk := virtiotest.NewMemDisk(512, 64)
			disk.Fill(0, pattern(64*512, 1))
			h := startDevice(t, disk, testOpts, eventIdx)

			in := h.d.AddBlk(virtio.BlkTIn, 8, 4096, indirect)
			out := h.d.AddBlk(virtio.BlkTOut, 40, 1024, indirect)
			copy(h.d.Data(out), pattern(1024, 2))
			used := h.run(in.Head, out.Head)
			lens := map[uint32]uint32{}
			for _, u := range used {
				lens[u.ID] = u.Len
			}
			if lens[uint32(in.Head)] != 4097 || lens[uint32(out.Head)] != 1 {
				t.Fatalf("used lengths: got %v, want IN 4097, OUT 1", lens)
			}
			if h.d.Status(in) != virtio.BlkSOK || h.d.Status(out) != virtio.BlkSOK {
				t.Fatalf("status: IN %d, OUT %d", h.d.Status(in), h.d.Status(out))
			}
			if !bytes.Equal(h.d.Data(in), pattern(64*512, 1)[8*512:16*512]) {
				t.Fatal("IN data differs from the disk")
			}
			if !bytes.Equal(disk.Contents(40, 2), pattern(1024, 2)) {
				t.Fatal("OUT data not on the disk")
			}
			if err := h.stop(); err != nil {
				t.Fatalf("ServeQueue: %v", err)
			}
			if eventIdx && h.d.AvailEvent() != h.q.NextAvail() {
				t.Fatalf("avail_event %d, want %d", h.d.AvailEvent(), h.q.NextAvail())
			}
			if h.call.Count() == 0 {
				t.Fatal("driver never notified")
			}
		}
	}
}

// TestServeZeroCopy checks that sector-aligned guest buffers reach the disk
// as views of guest memory, and that odd layouts go through the bounce
// buffer correctly.
func TestServeZeroCopy(t *testing.T) {
	disk := virtiotest.NewMemDisk(4096, 16)
	disk.Fill(0, pattern(16*4096, 3))
	h := startDevice(t, disk, testOpts, false)
	r := h.d.AddBlk(virtio.BlkTIn, 8, 8192, false)
	h.run(r.Head)
	ios := disk.IOs()
	if len(ios) != 1 || len(ios[0].Bufs) != 1 || ios[0].Start != 1 {
		t.Fatalf("disk calls: got %+v, want one read of one buffer at sector 1", ios)
	}
	if &ios[0].Bufs[0][0] != &h.d.Data(r)[0] || len(ios[0].Bufs[0]) != 8192 {
		t.Fatal("disk buffer is not the guest buffer")
	}
	if !bytes.Equal(h.d.Data(r), pattern(16*4096, 3)[4096:3*4096]) {
		t.Fatal("IN data differs from the disk")
	}
}

func TestServeOddLayouts(t *testing.T) {
	tests := []struct {
		name   string
		ss     int
		sector uint64
		pieces []int
	}{
		{"512 in pieces", 512, 3, []int{100, 700, 224}},
		{"512 byte-sized pieces", 512, 0, []int{1, 511, 3, 509, 512}},
		{"4096 straddling", 4096, 8, []int{1000, 3096 + 4096, 100, 3996}},
		{"4096 many bounce sectors", 4096, 0, manyPieces(100, 4096)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			total := 0
			for _, p := range tc.pieces {
				total += p
			}
			nsec := uint64(64 * 4096 / tc.ss)
			disk := virtiotest.NewMemDisk(tc.ss, nsec)
			disk.Fill(0, pattern(int(nsec)*tc.ss, 4))
			h := startDevice(t, disk, testOpts, false)
			build := func(typ uint32, write bool) ([]virtiotest.Seg, []virtiotest.Seg) {
				segs := []virtiotest.Seg{hdr(h.d, typ, tc.sector)}
				var data []virtiotest.Seg
				for _, p := range tc.pieces {
					data = append(data, buf(h.d, p, write))
				}
				return append(append(segs, data...), status(h.d)), data
			}
			inSegs, inData := build(virtio.BlkTIn, true)
			in := h.d.AddIndirect(inSegs...)
			h.run(in)
			var got []byte
			for _, s := range inData {
				got = append(got, h.d.Bytes(s.Addr, int(s.Len))...)
			}
			start := int(tc.sector) * 512
			if !bytes.Equal(got, pattern(int(nsec)*tc.ss, 4)[start:start+total]) {
				t.Fatal("IN through bounce buffer differs from the disk")
			}
			if bounced := straddling(tc.pieces, tc.ss); bounced > 64<<10/tc.ss && len(disk.IOs()) < 2 {
				t.Fatalf("%d bounce sectors in one disk call", bounced)
			}
			outSegs, outData := build(virtio.BlkTOut, false)
			want := pattern(total, 5)
			rest := want
			for _, s := range outData {
				rest = rest[copy(h.d.Bytes(s.Addr, int(s.Len)), rest):]
			}
			out := h.d.AddIndirect(outSegs...)
			h.run(out)
			if !bytes.Equal(disk.Contents(tc.sector*512/uint64(tc.ss), uint64(total/tc.ss)), want) {
				t.Fatal("OUT through bounce buffer not on the disk")
			}
		})
	}
}

// straddling counts the sectors that cross a piece boundary.
func straddling(pieces []int, ss int) int {
	n, off := 0, 0
	for _, p := range pieces[:len(pieces)-1] {
		off += p
		if off%ss != 0 {
			n++
		}
	}
	return n
}

// manyPieces returns n pieces of odd sizes adding up to whole sectors.
func manyPieces(n, ss int) []int {
	p := make([]int, n)
	total := 0
	for i := range p {
		p[i] = 1000 + i
		total += p[i]
	}
	p[n-1] += ss - total%ss
	return p
}

func TestServeFlushAndWriteCache(t *testing.T) {
	disk := virtiotest.NewMemDisk(512, 64)
	h := startDevice(t, disk, testOpts, false)
	out := h.d.AddBlk(virtio.BlkTOut, 0, 512, false)
	h.run(out.Head)
	if disk.Flushes() != 0 || disk.Unflushed() != 1 {
		t.Fatalf("write-back OUT: %d flushes, %d unflushed; want 0, 1", disk.Flushes(), disk.Unflushed())
	}
	fl := h.d.AddBlk(virtio.BlkTFlush, 0, 0, false)
	used := h.run(fl.Head)
	if h.d.Status(fl) != virtio.BlkSOK || used[0].Len != 1 || disk.Flushes() != 1 || disk.Unflushed() != 0 {
		t.Fatalf("FLUSH: status %d, used %d, %d flushes", h.d.Status(fl), used[0].Len, disk.Flushes())
	}
	// Write-through: every OUT is durable when it completes.
	if err := h.dev.WriteConfig(32, []byte{0}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		out := h.d.AddBlk(virtio.BlkTOut, uint64(i), 512, false)
		h.run(out.Head)
		if h.d.Status(out) != virtio.BlkSOK || disk.Unflushed() != 0 || disk.Flushes() != 2+i {
			t.Fatalf("write-through OUT %d: status %d, %d unflushed, %d flushes", i, h.d.Status(out), disk.Unflushed(), disk.Flushes())
		}
	}
}

func TestServeReadOnly(t *testing.T) {
	disk := virtiotest.NewMemDisk(512, 64)
	disk.Fill(0, pattern(64*512, 6))
	disk.SetReadOnly(true)
	h := startDevice(t, disk, testOpts, true)
	out := h.d.AddBlk(virtio.BlkTOut, 0, 512, false)
	in := h.d.AddBlk(virtio.BlkTIn, 0, 512, false)
	fl := h.d.AddBlk(virtio.BlkTFlush, 0, 0, false)
	h.run(out.Head, in.Head, fl.Head)
	if h.d.Status(out) != virtio.BlkSIOErr || h.d.Status(in) != virtio.BlkSOK || h.d.Status(fl) != virtio.BlkSOK {
		t.Fatalf("status: OUT %d, IN %d, FLUSH %d; want IOERR, OK, OK", h.d.Status(out), h.d.Status(in), h.d.Status(fl))
	}
	for _, io := range disk.IOs() {
		if io.Write {
			t.Fatal("read-only device wrote to the disk")
		}
	}
}

func TestServeDiskErrors(t *testing.T) {
	disk := virtiotest.NewMemDisk(512, 64)
	disk.Fill(0, pattern(64*512, 7))
	disk.FailSector(17)
	h := startDevice(t, disk, testOpts, false)
	bad := h.d.AddBlk(virtio.BlkTIn, 16, 1024, false)
	good := h.d.AddBlk(virtio.BlkTIn, 18, 1024, false)
	used := h.run(bad.Head, good.Head)
	if h.d.Status(bad) != virtio.BlkSIOErr || h.d.Status(good) != virtio.BlkSOK {
		t.Fatalf("status: failing %d, good %d; want IOERR, OK", h.d.Status(bad), h.d.Status(good))
	}
	for _, u := range used {
		if u.ID == uint32(bad.Head) && u.Len != 1 {
			t.Fatalf("failed IN used length %d, want 1", u.Len)
		}
	}
	if !bytes.Equal(h.d.Data(good), pattern(64*512, 7)[18*512:20*512]) {
		t.Fatal("good IN data wrong")
	}
	// The queue keeps working after the error.
	again := h.d.AddBlk(virtio.BlkTIn, 0, 512, false)
	h.run(again.Head)
	if h.d.Status(again) != virtio.BlkSOK {
		t.Fatalf("IN after error: status %d", h.d.Status(again))
	}
}

// TestServeMalformed mixes malformed chains with good ones: each completes
// exactly once, the malformed ones with used length 0 or an error status.
func TestServeMalformed(t *testing.T) {
	h := startDevice(t, virtiotest.NewMemDisk(512, 64), testOpts, false)
	good := h.d.AddBlk(virtio.BlkTIn, 0, 512, false)
	noStatus := h.d.AddChain(hdr(h.d, virtio.BlkTFlush, 0))
	loop := h.d.AddChain(virtiotest.Seg{Addr: bufAt, Len: 1}, virtiotest.Seg{Addr: bufAt, Len: 1})
	h.d.WriteDesc(loop, virtio.Desc{Addr: bufAt, Len: 1, Flags: virtio.DescFNext, Next: loop})
	unsupp := h.d.AddBlk(2, 0, 0, false)
	rng := h.d.AddBlk(virtio.BlkTIn, 64, 512, false)
	used := h.run(good.Head, noStatus, loop, unsupp.Head, rng.Head)
	lens := map[uint32]uint32{}
	for _, u := range used {
		if _, dup := lens[u.ID]; dup {
			t.Fatalf("head %d completed twice", u.ID)
		}
		lens[u.ID] = u.Len
	}
	want := map[uint32]uint32{uint32(good.Head): 513, uint32(noStatus): 0, uint32(loop): 0, uint32(unsupp.Head): 1, uint32(rng.Head): 1}
	for id, l := range want {
		if got, ok := lens[id]; !ok || got != l {
			t.Errorf("head %d: used length %d (present %v), want %d", id, got, ok, l)
		}
	}
	if h.d.Status(unsupp) != virtio.BlkSUnsupp || h.d.Status(rng) != virtio.BlkSIOErr {
		t.Fatalf("status: unsupported %d, out of range %d", h.d.Status(unsupp), h.d.Status(rng))
	}
}

// TestServeQueueDepth submits many slow requests at once: they overlap on
// the disk and each completes exactly once.
func TestServeQueueDepth(t *testing.T) {
	const n = 64
	disk := virtiotest.NewMemDisk(512, 1024)
	disk.Fill(0, pattern(1024*512, 8))
	disk.SetDelay(20 * time.Millisecond)
	h := startDevice(t, disk, testOpts, true)
	reqs := make([]virtiotest.BlkReq, n)
	heads := make([]uint16, n)
	for i := range reqs {
		typ := virtio.BlkTIn
		if i%4 == 3 {
			typ = virtio.BlkTOut
		}
		reqs[i] = h.d.AddBlk(typ, uint64(i*8), 4096, i%2 == 0)
		heads[i] = reqs[i].Head
	}
	start := time.Now()
	used := h.run(heads...)
	elapsed := time.Since(start)
	seen := map[uint32]bool{}
	for _, u := range used {
		if seen[u.ID] {
			t.Fatalf("head %d completed twice", u.ID)
		}
		seen[u.ID] = true
	}
	for i, r := range reqs {
		if !seen[uint32(r.Head)] || h.d.Status(r) != virtio.BlkSOK {
			t.Fatalf("request %d: completed %v, status %d", i, seen[uint32(r.Head)], h.d.Status(r))
		}
	}
	if got := disk.MaxInFlight(); got < 4 {
		t.Fatalf("at most %d disk calls overlapped, want at least 4", got)
	}
	if serial := time.Duration(n) * 20 * time.Millisecond; elapsed > serial/2 {
		t.Fatalf("%d requests took %v, serial execution takes %v", n, elapsed, serial)
	}
	if extra := h.d.Used(); len(extra) != 0 {
		t.Fatalf("extra used elements: %v", extra)
	}
}

// TestServeOverlapsAfterSlowdown serves requests on a fast disk, which the
// queue runs inline, then slows the disk down: the requests of the next
// burst must overlap on the disk again.
func TestServeOverlapsAfterSlowdown(t *testing.T) {
	const n = 32
	disk := virtiotest.NewMemDisk(512, 1024)
	h := startDevice(t, disk, testOpts, true)
	heads := prepare(h, n, 4096)
	for range 8 {
		batch(t, h, heads)
	}
	disk.SetDelay(20 * time.Millisecond)
	start := time.Now()
	batch(t, h, heads)
	elapsed := time.Since(start)
	if got := disk.MaxInFlight(); got < 4 {
		t.Fatalf("at most %d disk calls overlapped, want at least 4", got)
	}
	if serial := time.Duration(n) * 20 * time.Millisecond; elapsed > serial/2 {
		t.Fatalf("%d requests on the slowed disk took %v, serial execution takes %v", n, elapsed, serial)
	}
}

// TestServeStopDrains closes the kick while requests are in flight:
// ServeQueue completes them all before it returns.
func TestServeStopDrains(t *testing.T) {
	disk := virtiotest.NewMemDisk(512, 64)
	disk.SetDelay(30 * time.Millisecond)
	h := startDevice(t, disk, testOpts, false)
	var heads []uint16
	for i := range 8 {
		heads = append(heads, h.d.AddBlk(virtio.BlkTIn, uint64(i), 512, false).Head)
	}
	h.publish(heads...)
	time.Sleep(5 * time.Millisecond)
	if err := h.stop(); err != nil {
		t.Fatalf("ServeQueue: %v", err)
	}
	if used := h.d.Used(); len(used) != 8 {
		t.Fatalf("after stop: %d used elements, want 8", len(used))
	}
	if h.q.NextAvail() != 8 {
		t.Fatalf("NextAvail: got %d, want 8", h.q.NextAvail())
	}
}

// TestServeBrokenQueue jumps avail.idx: the device stops taking requests,
// completes those in flight, and reports the error once the kick closes.
func TestServeBrokenQueue(t *testing.T) {
	disk := virtiotest.NewMemDisk(512, 64)
	h := startDevice(t, disk, testOpts, false)
	r := h.d.AddBlk(virtio.BlkTIn, 0, 512, false)
	h.run(r.Head)
	h.d.SetAvailIdx(h.d.AvailIdx() + 300)
	h.kick.Kick()
	select {
	case err := <-h.done:
		t.Fatalf("ServeQueue returned before kick closed: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	if err := h.stop(); !errors.Is(err, virtio.ErrAvailIdx) {
		t.Fatalf("ServeQueue: got %v, want %v", err, virtio.ErrAvailIdx)
	}
}

// TestServeEventIdxSuppression checks that the device notifies only when
// used.idx passes the driver's used_event.
func TestServeEventIdxSuppression(t *testing.T) {
	h := startDevice(t, virtiotest.NewMemDisk(512, 64), testOpts, true)
	h.run(h.d.AddBlk(virtio.BlkTFlush, 0, 0, false).Head)
	h.d.SetUsedEvent(h.d.UsedIdx() + 10) // not interested before 10 more
	before := h.call.Count()
	for range 3 {
		h.run(h.d.AddBlk(virtio.BlkTFlush, 0, 0, false).Head)
	}
	if got := h.call.Count(); got != before {
		t.Fatalf("%d notifications while used_event was ahead", got-before)
	}
	h.d.SetUsedEvent(h.d.UsedIdx()) // notify for the next completion
	h.run(h.d.AddBlk(virtio.BlkTFlush, 0, 0, false).Head)
	if got := h.call.Count(); got != before+1 {
		t.Fatalf("got %d notifications, want 1", got-before)
	}
}

// TestServeTwoQueues runs two queues of one device in parallel on one disk.
func TestServeTwoQueues(t *testing.T) {
	disk := virtiotest.NewMemDisk(512, 1024)
	disk.Fill(0, pattern(1024*512, 9))
	disk.SetDelay(20 * time.Millisecond)
	dev, err := virtio.NewBlockDevice(disk, virtio.BlockOptions{NumQueues: 2, QueueSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	type queue struct {
		d    *virtiotest.Driver
		kick *virtiotest.Kick
		done chan error
		reqs []virtiotest.BlkReq
	}
	qs := make([]*queue, 2)
	for i := range qs {
		d := virtiotest.NewGuest(t, 1<<20, 4)
		q := &queue{d: d, kick: virtiotest.NewKick(), done: make(chan error, 1)}
		vq := d.Queue(i == 0)
		go func() { q.done <- dev.ServeQueue(i, vq, q.kick, virtiotest.NewCall()) }()
		for j := range 2 {
			q.reqs = append(q.reqs, d.AddBlk(virtio.BlkTIn, uint64(100*i+8*j), 4096, true))
		}
		qs[i] = q
	}
	for _, q := range qs {
		q.d.Publish(q.reqs[0].Head, q.reqs[1].Head)
		q.kick.Kick()
	}
	deadline := time.Now().Add(serveTimeout)
	for i, q := range qs {
		for n := 0; n < 2; n += q.d.Reap() {
			if time.Now().After(deadline) {
				t.Fatalf("queue %d: %d of 2 requests completed", i, n)
			}
			time.Sleep(time.Millisecond)
		}
		q.kick.Close()
		if err := <-q.done; err != nil {
			t.Fatalf("queue %d: %v", i, err)
		}
		for j, r := range q.reqs {
			start := (100*i + 8*j) * 512
			if q.d.Status(r) != virtio.BlkSOK || !bytes.Equal(q.d.Data(r), pattern(1024*512, 9)[start:start+4096]) {
				t.Fatalf("queue %d request %d: status %d or data wrong", i, j, q.d.Status(r))
			}
		}
	}
	if got := disk.MaxInFlight(); got < 3 {
		t.Fatalf("at most %d disk calls overlapped across two queues, want at least 3", got)
	}
}
