package virtio

import "runtime/debug"

// worker executes requests on the disk.
type worker struct {
	s *queueServer
	x xfer
}

// run executes requests until the work channel is closed.
func (w *worker) run() {
	debug.SetPanicOnFault(true) // guest memory may be unmapped under us
	for r := range w.s.work {
		w.execute(r)
		w.s.done <- r
	}
}

// execute runs r on the disk and writes its status byte.
func (w *worker) execute(r *blkRequest) {
	defer func() {
		if x := recover(); x != nil {
			r.fault = w.s.recovered(x)
		}
	}()
	r.err = w.do(&r.req)
	r.status = BlkStatus(r.err)
	r.req.setStatus(r.status)
}

// do performs an IN, OUT or FLUSH request.
func (w *worker) do(r *Request) error {
	b := w.s.b
	start := r.Sector / uint64(b.sectorSz/BlkSectorSize)
	switch r.Type {
	case BlkTIn:
		return w.x.transfer(b.disk, false, start, r.data, b.sectorSz)
	case BlkTOut:
		if err := w.x.transfer(b.disk, true, start, r.data, b.sectorSz); err != nil {
			return err
		}
		if !b.writeback.Load() {
			return b.flush()
		}
		return nil
	default:
		return b.flush()
	}
}
