package virtio

import "runtime/debug"

// offload hands r to a worker, starting the pool on first use. The work
// channel holds a queue's worth of requests, more than can be in flight,
// so the send never blocks.
func (s *queueServer) offload(r *blkRequest) {
	if s.work == nil {
		s.work = make(chan *blkRequest, s.q.Size())
		for range max(1, min(int(s.q.Size())/2, maxWorkers)) {
			s.workers.Add(1)
			go s.worker(s.work)
		}
	}
	s.busy.Add(1)
	s.held.Add(int64(len(r.req.descs)))
	s.work <- r
}

// stopWorkers lets the workers finish the requests handed to them and
// waits until they have stopped. It is idempotent.
func (s *queueServer) stopWorkers() {
	if s.work != nil {
		close(s.work)
		s.work = nil
	}
	s.workers.Wait()
}

// worker runs requests until work is closed. Each request is completed by
// the worker itself: its used element is pushed and published under mu,
// and the driver notified if it asked.
func (s *queueServer) worker(work <-chan *blkRequest) {
	defer s.workers.Done()
	debug.SetPanicOnFault(true) // guest memory may be unmapped under us
	var x xfer
	for r := range work {
		s.serveOne(&x, r)
	}
}

// serveOne runs and completes one request on a worker. A panic outside the
// disk call (a fault on the used ring, a bug) breaks the queue like one on
// the queue goroutine.
func (s *queueServer) serveOne(x *xfer, r *blkRequest) {
	defer s.busy.Add(-1)
	defer s.held.Add(-int64(len(r.req.descs)))
	defer func() {
		if p := recover(); p != nil {
			s.fail(p)
		}
	}()
	s.execute(x, r)
	if s.completePublish(r) {
		s.notify()
	}
}

// completePublish pushes and publishes r's used element and reports
// whether the driver wants a notification.
func (s *queueServer) completePublish(r *blkRequest) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.finishLocked(r)
	return s.publishLocked()
}

// do performs an IN, OUT, DISCARD, WRITE_ZEROES or FLUSH request with x.
func (s *queueServer) do(x *xfer, r *Request) error {
	b := s.b
	start := r.Sector / uint64(b.sectorSz/BlkSectorSize)
	switch r.Type {
	case BlkTIn:
		return x.transfer(b.disk, false, start, r.data, b.sectorSz)
	case BlkTOut, BlkTDiscard, BlkTWriteZeroes:
		var err error
		if r.Type == BlkTOut {
			err = x.transfer(b.disk, true, start, r.data, b.sectorSz)
		} else {
			err = b.zero(r)
		}
		if err != nil {
			return err
		}
		if !b.writeback.Load() {
			return b.Flush()
		}
		return nil
	default:
		return b.Flush()
	}
}
