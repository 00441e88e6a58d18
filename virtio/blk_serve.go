package virtio

import (
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"

	"github.com/golang/glog"
)

// blkRequest is one request slot of a queue: popped by the queue
// goroutine, executed by a worker, completed by the queue goroutine.
type blkRequest struct {
	chain  Chain
	req    Request
	status uint8 // status the worker wrote
	err    error // the worker's error, for the log
	fault  error // the worker recovered a panic: ErrFault or ErrPanic
}

// queueServer is the state of one ServeQueue call. Everything but the work
// and done channels belongs to the queue goroutine.
type queueServer struct {
	b     *BlockDevice
	index int
	q     *Queue
	call  Notifier
	log   *rateLog

	work chan *blkRequest // to the workers; capacity limit, never blocks
	done chan *blkRequest // from the workers; capacity limit, never blocks

	free     []*blkRequest // request slots to reuse
	inflight int           // popped and not yet completed
	limit    int           // most requests in flight: the queue size
	broken   error
}

// maxWorkers bounds the I/O goroutines of one queue.
const maxWorkers = 8

// serve runs queue index on the calling goroutine; see ServeQueue.
func serve(b *BlockDevice, index int, q *Queue, kick Kick, call Notifier) error {
	s := &queueServer{
		b:     b,
		index: index,
		q:     q,
		call:  call,
		log:   newRateLog(fmt.Sprintf("dev=%s q=%d", b.opts.Name, index)),
		limit: int(q.Size()),
	}
	s.work = make(chan *blkRequest, s.limit)
	s.done = make(chan *blkRequest, s.limit)

	kicks := make(chan struct{}, 1)
	stopped := make(chan struct{})
	var kicker sync.WaitGroup
	kicker.Add(1)
	go func() {
		defer kicker.Done()
		defer close(stopped)
		for kick.Wait() == nil {
			select {
			case kicks <- struct{}{}:
			default: // a kick is already pending
			}
		}
	}()

	var workers sync.WaitGroup
	for range max(1, min(s.limit/2, maxWorkers)) {
		workers.Add(1)
		go func() {
			defer workers.Done()
			w := worker{s: s}
			w.run()
		}()
	}

	// Deferred, so that nothing can unwind this call while a worker still
	// touches guest memory: the caller may unmap it once serve returns.
	defer func() {
		close(s.work)
		workers.Wait()
		kicker.Wait() // returns once kick is closed
		if glog.V(1) {
			glog.Infof("dev=%s q=%d: stopped at avail %d", b.opts.Name, index, q.NextAvail())
		}
	}()
	if glog.V(1) {
		glog.Infof("dev=%s q=%d: serving, size %d", b.opts.Name, index, q.Size())
	}
	return s.run(kicks, stopped)
}

// run is the queue loop: pop, dispatch, complete, publish, notify, wait.
func (s *queueServer) run(kicks, stopped <-chan struct{}) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if x := recover(); x != nil {
			// The requests in flight are not completed: the queue state
			// may be half updated, so the used ring is left alone.
			s.breakQueue(s.recovered(x))
			err = s.broken
		}
	}()
	stopping := false
	for {
		if s.broken == nil && !stopping {
			s.fill()
		}
		s.publish()
		if s.inflight == 0 && (stopping || s.broken != nil) {
			return s.broken
		}
		if s.broken == nil && !stopping && s.inflight < s.limit {
			more, err := s.q.EnableNotify()
			if err != nil {
				s.breakQueue(err)
				continue
			}
			if more {
				continue
			}
		}
		select {
		case r := <-s.done:
			s.finish(r)
			s.drainDone()
		case <-kicks:
		case <-stopped:
			stopping, stopped = true, nil
		}
	}
}

// fill pops and starts requests while there are free slots.
func (s *queueServer) fill() {
	for s.inflight < s.limit {
		r := s.get()
		ok, err := s.q.Pop(&r.chain)
		if err != nil || !ok {
			s.put(r)
			if err != nil {
				s.breakQueue(err)
			}
			return
		}
		s.inflight++
		s.start(r)
	}
}

// start parses a popped request and either completes it at once or hands
// it to a worker.
func (s *queueServer) start(r *blkRequest) {
	if err := ParseRequest(&r.chain, s.b.limits, &r.req); err != nil {
		s.reject(r, err)
		return
	}
	switch r.req.Type {
	case BlkTGetID:
		scatter(r.req.data, s.b.serial[:])
		r.req.setStatus(BlkSOK)
		s.complete(r, BlkSOK)
	case BlkTOut:
		if s.b.readOnly {
			s.reject(r, r.req.errorf(ErrReadOnly, r.req.DataLen))
			return
		}
		s.work <- r
	default:
		s.work <- r
	}
}

// reject completes a request that failed before reaching the disk.
func (s *queueServer) reject(r *blkRequest, err error) {
	s.log.warningf("request rejected: %v", err)
	if !r.req.HasStatus() {
		s.complete(r, BlkSIOErr)
		return
	}
	st := BlkStatus(err)
	r.req.setStatus(st)
	s.complete(r, st)
}

// finish completes a request a worker executed.
func (s *queueServer) finish(r *blkRequest) {
	if r.fault != nil {
		s.breakQueue(r.fault)
		if errors.Is(r.fault, ErrFault) {
			// Guest memory vanished under the request, its status byte
			// perhaps with it: the request is not completed.
			s.inflight--
			s.put(r)
			return
		}
		// A bug, not the guest: the status byte is still writable.
		r.err, r.status = r.fault, BlkSIOErr
		r.req.setStatus(r.status)
	}
	if r.err != nil {
		s.log.warningf("%s sector %d, %d bytes: %v", blkTypeName(r.req.Type), r.req.Sector, r.req.DataLen, r.err)
	} else if glog.V(2) {
		glog.Infof("dev=%s q=%d: %s sector %d, %d bytes: ok", s.b.opts.Name, s.index, blkTypeName(r.req.Type), r.req.Sector, r.req.DataLen)
	}
	s.complete(r, r.status)
}

// drainDone finishes every completion already waiting.
func (s *queueServer) drainDone() {
	for {
		select {
		case r := <-s.done:
			s.finish(r)
		default:
			return
		}
	}
}

// complete pushes the used element of r (status st decides its length) and
// frees its slot.
func (s *queueServer) complete(r *blkRequest, st uint8) {
	if err := s.q.PushUsed(r.chain.Head(), r.req.usedLen(st)); err != nil {
		s.breakQueue(err)
	}
	s.inflight--
	s.put(r)
}

// publish makes completions visible and notifies the driver if it asked.
func (s *queueServer) publish() {
	s.q.PublishUsed()
	if s.q.NeedsNotify() {
		if err := s.call.Notify(); err != nil {
			s.log.warningf("notify: %v", err)
		}
	}
}

// breakQueue latches the first error that makes the queue unusable.
func (s *queueServer) breakQueue(err error) {
	if s.broken != nil {
		return
	}
	s.broken = fmt.Errorf("virtio: queue %d broken: %w", s.index, err)
	glog.Errorf("dev=%s q=%d: %v", s.b.opts.Name, s.index, s.broken)
}

// recovered turns a panic recovered on the queue goroutine or a worker
// into the error that breaks the queue: ErrFault for a fault on guest
// memory (runtime/debug.SetPanicOnFault is on), ErrPanic with the stack
// logged for anything else, which is a bug. Either way the daemon's other
// queues and sessions keep running.
func (s *queueServer) recovered(x any) error {
	if e, ok := x.(runtime.Error); ok {
		if _, isFault := x.(interface{ Addr() uintptr }); isFault {
			return fmt.Errorf("%w: %v", ErrFault, e)
		}
	}
	glog.Errorf("dev=%s q=%d: panic: %v\n%s", s.b.opts.Name, s.index, x, debug.Stack())
	return fmt.Errorf("%w: %v", ErrPanic, x)
}

// get returns a free request slot.
func (s *queueServer) get() *blkRequest {
	if n := len(s.free); n > 0 {
		r := s.free[n-1]
		s.free = s.free[:n-1]
		return r
	}
	return new(blkRequest)
}

// put returns a request slot for reuse.
func (s *queueServer) put(r *blkRequest) {
	r.err, r.fault = nil, nil
	s.free = append(s.free, r)
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
	default:
		return fmt.Sprintf("type %d", t)
	}
}
