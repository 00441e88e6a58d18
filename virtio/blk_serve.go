package virtio

import (
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang/glog"
)

// blkRequest is the state of one popped request. It lives in the slot of
// its head, which is in flight at most once: the queue goroutine fills it
// when it pops the head, and whoever completes the request stops touching
// it once PushUsed has returned the head.
type blkRequest struct {
	chain  Chain
	req    Request
	status uint8 // the status the disk call produced
	err    error // the disk call's error, for the log
	fault  error // a panic recovered during the disk call: ErrFault or ErrPanic
}

// queueServer is the state of one ServeQueue call.
//
// The queue goroutine waits for kicks, pops requests, parses them and runs
// their disk calls itself, one after the other, publishing and notifying
// once per batch: on a fast disk one wake-up serves a whole batch and no
// request changes threads. Once disk calls are slow (see slowRequest), a
// request that has company (more popped behind it, or others already with
// the workers) goes to a small pool of worker goroutines instead, so that
// the requests of one queue overlap on the disk. A worker completes its own
// request: PushUsed, PublishUsed and the notification decision run under mu,
// which makes whoever holds mu the used ring's single writer (see Queue).
//
// Memory ordering: a used element is written with plain stores under mu,
// possibly by another goroutine than the one that publishes it. Unlocking
// mu orders those stores before the next holder's atomic store of
// used.idx, and amd64 makes stores visible to other CPUs in one global
// order, so a driver that sees the new index sees the element.
type queueServer struct {
	b     *BlockDevice
	index int
	q     *Queue
	call  Notifier

	// The queue goroutine's own.
	slots   []*blkRequest // by head
	batch   []*blkRequest // popped in this pass
	scratch Chain         // where Pop builds the chain before it goes to its slot
	x       xfer          // for the disk calls run inline
	work    chan *blkRequest
	workers sync.WaitGroup

	busy atomic.Int32 // requests handed to workers and not yet completed
	// held counts the descriptors of those requests (see maxHeldDescs).
	held atomic.Int64
	cost atomic.Int64 // moving average of a disk call's duration, in ns

	mu sync.Mutex
	// broken is the first error that made the queue unusable.
	// +checklocks:mu
	broken error
	// dead means the used ring may be half written (a panic interrupted
	// the queue goroutine or a completion): it is left alone from then on.
	// +checklocks:mu
	dead bool
}

// Tuning of the data path.
const (
	// maxWorkers bounds the I/O goroutines of one queue.
	maxWorkers = 8
	// maxBatch bounds the requests popped before their completions are
	// published, so that the driver sees completions while a long burst
	// is still being served.
	maxBatch = 32
	// slowRequest is the average disk call duration from which requests
	// are spread over the workers. Below it, the thread switches a hand-off
	// costs (several µs each) outweigh what overlapping gains. The average
	// starts above it, so a queue overlaps its requests until it has
	// measured that its disk is fast.
	slowRequest = 100 * time.Microsecond
	// costShift sets the weight of a new sample in the moving average:
	// 1/2^costShift.
	costShift = 3
	// maxHeldDescs bounds the descriptors of the requests a queue has
	// handed to its workers and not completed. Their parsed descriptor and
	// data lists are what a queue's memory grows with, up to seg_max
	// entries each; a request that would pass the bound runs inline.
	maxHeldDescs = 4096
)

// serve runs queue index on the calling goroutine; see ServeQueue.
func serve(b *BlockDevice, index int, q *Queue, kick Kick, call Notifier) error {
	s := &queueServer{
		b:     b,
		index: index,
		q:     q,
		call:  call,
		slots: make([]*blkRequest, q.Size()),
		batch: make([]*blkRequest, 0, min(maxBatch, int(q.Size()))),
	}
	s.cost.Store(int64(slowRequest) + 1)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	if glog.V(1) {
		glog.Infof("dev=%s q=%d: serving, size %d", b.opts.Name, index, q.Size())
	}
	// Deferred, so that nothing unwinds this call while a worker still
	// touches guest memory: the caller may unmap it once serve returns.
	defer s.stopWorkers()
	s.guard(s.drain)
	for kick.Wait() == nil {
		s.guard(s.drain)
	}
	if glog.V(1) {
		glog.Infof("dev=%s q=%d: stopped at avail %d", b.opts.Name, index, q.NextAvail())
	}
	s.stopWorkers()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.broken
}

// guard runs f on the queue goroutine. A panic (a fault on guest memory or
// a bug) breaks the queue and leaves the used ring alone: the queue state
// may be half updated, so the requests in flight are not completed.
func (s *queueServer) guard(f func()) {
	defer func() {
		if x := recover(); x != nil {
			s.fail(x)
		}
	}()
	f()
}

// drain serves what the driver has made available, until the ring is empty
// with notifications enabled or the queue is broken.
func (s *queueServer) drain() {
	for !s.isBroken() {
		if !s.popBatch() {
			// Re-enable notifications and re-check: a chain made
			// available meanwhile is either seen here or kicked.
			more, err := s.q.EnableNotify()
			if err != nil {
				s.breakQueue(err)
				return
			}
			if !more {
				return
			}
			continue
		}
		for i, r := range s.batch {
			s.start(r, len(s.batch)-1-i)
		}
		s.publish()
	}
}

// popBatch pops up to maxBatch requests into s.batch and reports whether
// it popped any. A driver error breaks the queue; what was popped before
// it is still served.
func (s *queueServer) popBatch() bool {
	s.batch = s.batch[:0]
	for len(s.batch) < cap(s.batch) {
		ok, err := s.q.Pop(&s.scratch)
		if err != nil {
			s.breakQueue(err)
			break
		}
		if !ok {
			break
		}
		head := s.scratch.Head()
		r := s.slots[head]
		if r == nil {
			r = new(blkRequest)
			s.slots[head] = r
		}
		r.chain = s.scratch
		r.err, r.fault = nil, nil
		s.batch = append(s.batch, r)
	}
	return len(s.batch) > 0
}

// start parses a popped request and completes it at once (malformed,
// refused, GET_ID), runs its disk call inline, or hands it to a worker.
// behind is the number of requests popped after it in this batch.
func (s *queueServer) start(r *blkRequest, behind int) {
	if err := ParseRequest(&r.chain, s.b.limitsNow(), &r.req); err != nil {
		s.reject(r, err)
		return
	}
	switch r.req.Type {
	case BlkTGetID:
		scatter(r.req.data, s.b.serial[:])
		r.req.setStatus(BlkSOK)
		r.status = BlkSOK
		s.complete(r)
		return
	case BlkTOut, BlkTDiscard, BlkTWriteZeroes:
		if s.b.readOnly {
			s.reject(r, r.req.errorf(ErrReadOnly, r.req.DataLen))
			return
		}
	}
	s.b.stats[s.index].inFlight.Add(1)
	if s.cost.Load() > int64(slowRequest) && (behind > 0 || s.busy.Load() > 0) &&
		s.held.Load()+int64(len(r.req.descs)) <= maxHeldDescs {
		s.offload(r)
		return
	}
	s.execute(&s.x, r)
	s.complete(r)
}

// reject completes a request that failed before reaching the disk.
func (s *queueServer) reject(r *blkRequest, err error) {
	r.err, r.status = err, BlkSIOErr
	if r.req.HasStatus() {
		r.status = BlkStatus(err)
		r.req.setStatus(r.status)
		if !errors.Is(err, ErrShortHeader) {
			// The header was read: the request has a type to count.
			s.countInvalid(&r.req)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.log.Warningf("q=%d: request rejected: %v", s.index, err)
	s.pushLocked(r)
}

// execute runs the disk call of r with x, counts it and writes its status
// byte. A panic is recovered into r.fault.
func (s *queueServer) execute(x *xfer, r *blkRequest) {
	defer s.b.stats[s.index].inFlight.Add(-1)
	defer func() {
		if p := recover(); p != nil {
			r.fault = s.recovered(p)
		}
	}()
	t := time.Now()
	r.err = s.do(x, &r.req)
	d := time.Since(t)
	s.account(d)
	s.countDone(&r.req, d, r.err)
	r.status = BlkStatus(r.err)
	r.req.setStatus(r.status)
}

// account adds the duration of one disk call to the moving average. Queue
// goroutine and workers update it without a lock: a lost sample is
// harmless.
func (s *queueServer) account(d time.Duration) {
	c := s.cost.Load()
	s.cost.Store(c + (int64(d)-c)>>costShift)
}

// complete pushes the used element of a request whose disk call ran (or
// was skipped); it becomes visible at the next publish.
func (s *queueServer) complete(r *blkRequest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.finishLocked(r)
}

// finishLocked handles what the disk call of r left (a fault, an error for
// the log) and pushes r's used element.
//
// +checklocks:s.mu
func (s *queueServer) finishLocked(r *blkRequest) {
	if r.fault != nil {
		s.breakLocked(r.fault)
		if errors.Is(r.fault, ErrFault) {
			// Guest memory vanished under the request, its status byte
			// perhaps with it: the request is not completed.
			return
		}
		// A bug, not the guest: the status byte is still writable.
		r.err, r.status = r.fault, BlkSIOErr
		r.req.setStatus(r.status)
	}
	if r.err != nil {
		s.b.log.Warningf("q=%d: %s sector %d, %d bytes: %v", s.index, blkTypeName(r.req.Type), r.req.Sector, r.req.DataLen, r.err)
	} else if glog.V(2) {
		glog.Infof("dev=%s q=%d: %s sector %d, %d bytes: ok", s.b.opts.Name, s.index, blkTypeName(r.req.Type), r.req.Sector, r.req.DataLen)
	}
	s.pushLocked(r)
}

// pushLocked writes the used element of r, whose status is r.status. It is
// the last use of r: once its head is pushed the queue goroutine may pop
// it again.
//
// +checklocks:s.mu
func (s *queueServer) pushLocked(r *blkRequest) {
	if s.dead {
		return
	}
	n := r.req.usedLen(r.status)
	err := s.q.PushUsed(r.chain.Head(), n, r.req.descs)
	r.req.trim()
	if err != nil {
		s.breakLocked(err)
	}
}

// publish makes the pushed completions visible and notifies the driver if
// it asked.
func (s *queueServer) publish() {
	if s.publishUsed() {
		s.notify()
	}
}

// publishUsed publishes the used index and reports whether the driver
// wants a notification.
func (s *queueServer) publishUsed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.publishLocked()
}

// publishLocked is publishUsed for a caller that holds mu.
//
// +checklocks:s.mu
func (s *queueServer) publishLocked() bool {
	if s.dead {
		return false
	}
	if err := s.q.PublishUsed(); err != nil {
		s.breakLocked(err)
	}
	return s.q.NeedsNotify()
}

// notify signals the driver. It runs outside mu: the decision was taken
// under it, and signals may reach the driver in any order.
func (s *queueServer) notify() {
	if err := s.call.Notify(); err != nil {
		s.b.log.Warningf("q=%d: notify: %v", s.index, err)
	}
}

// isBroken reports whether the queue is broken.
func (s *queueServer) isBroken() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.broken != nil
}

// breakQueue latches the first error that makes the queue unusable.
func (s *queueServer) breakQueue(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.breakLocked(err)
}

// breakLocked is breakQueue with mu held.
//
// +checklocks:s.mu
func (s *queueServer) breakLocked(err error) {
	if s.broken != nil {
		return
	}
	s.broken = fmt.Errorf("virtio: queue %d broken: %w", s.index, err)
	s.b.log.Errorf("q=%d: %v", s.index, s.broken)
}

// fail breaks the queue after a panic outside a disk call, which may have
// interrupted an update of the used ring: the ring is left alone from then
// on.
func (s *queueServer) fail(x any) {
	err := s.recovered(x)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dead = true
	s.breakLocked(err)
}

// recovered turns a recovered panic into the error that breaks the queue:
// ErrFault for a fault on guest memory (runtime/debug.SetPanicOnFault is
// on), ErrPanic with the stack logged for anything else, which is a bug.
// Either way the daemon's other queues and sessions keep running.
func (s *queueServer) recovered(x any) error {
	if e, ok := x.(runtime.Error); ok {
		if _, isFault := x.(interface{ Addr() uintptr }); isFault {
			return fmt.Errorf("%w: %v", ErrFault, e)
		}
	}
	s.b.log.Errorf("q=%d: panic: %v\n%s", s.index, x, debug.Stack())
	return fmt.Errorf("%w: %v", ErrPanic, x)
}

// blkTypeName names a request type for log lines.
func blkTypeName(t uint32) string {
	switch t {
	case BlkTIn:
		return "IN"
	case BlkTOut:
		return "OUT"
	case BlkTFlush:
		return "FLUSH"
	case BlkTGetID:
		return "GET_ID"
	case BlkTDiscard:
		return "DISCARD"
	case BlkTWriteZeroes:
		return "WRITE_ZEROES"
	default:
		return fmt.Sprintf("type %d", t)
	}
}
