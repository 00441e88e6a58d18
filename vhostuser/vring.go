package vhostuser

import (
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ccmblk/ccmblk/virtio"
)

// vring is the front end's configuration of one queue.
type vring struct {
	index int
	// num is the ring size from SET_VRING_NUM; 0 until then.
	num uint16
	// addr holds the SET_VRING_ADDR addresses as front-end virtual
	// addresses; they are translated against the memory table at every
	// start, so a table change cannot leave a stale translation.
	addr    vringAddr
	hasAddr bool
	// base is the next available index: from SET_VRING_BASE, or where the
	// last run stopped.
	base uint16
	// kickFD is the SET_VRING_KICK eventfd, or -1.
	kickFD  int
	enabled bool
	// call and errs are fixed for the vring's lifetime; their descriptors
	// change under their own locks, so running rings may signal them.
	call *eventSlot
	errs *eventSlot
	// run is the current run, nil when the ring is stopped.
	run *ringRun
}

// ringRun is one start of a ring: a Queue served by a goroutine.
type ringRun struct {
	q    *virtio.Queue
	kick *kick
	done chan struct{}
}

func newVring(i int) *vring {
	return &vring{index: i, kickFD: -1, call: newEventSlot(), errs: newEventSlot()}
}

// reset closes the ring's descriptors and forgets its configuration.
// Preconditions: the ring is stopped.
func (vr *vring) reset() {
	vr.setKick(-1)
	vr.call.set(-1)
	vr.errs.set(-1)
	vr.num, vr.hasAddr, vr.addr, vr.base, vr.enabled = 0, false, vringAddr{}, 0, false
}

func (vr *vring) setKick(fd int) {
	if vr.kickFD >= 0 {
		_ = unix.Close(vr.kickFD)
	}
	vr.kickFD = fd
}

// Split ring extents (virtio 1.2 §2.7): 16-byte descriptors; avail and
// used rings with flags, idx, the entries and the trailing event index.
// With num ≤ 32768 none of these overflow.
func descBytes(num uint16) uint64  { return 16 * uint64(num) }
func availBytes(num uint16) uint64 { return 6 + 2*uint64(num) }
func usedBytes(num uint16) uint64  { return 6 + 8*uint64(num) }

// isEnabled reports whether the ring may run: always without
// VHOST_USER_F_PROTOCOL_FEATURES, otherwise after SET_VRING_ENABLE(1)
// (spec "Ring states").
func (s *session) isEnabled(vr *vring) bool {
	return vr.enabled || s.features&FeatureProtocolFeatures == 0
}

// isReady reports whether the ring has everything it needs to run.
func (s *session) isReady(vr *vring) bool {
	return vr.num != 0 && vr.hasAddr && vr.kickFD >= 0 && s.mem != nil && s.mem.mem != nil && s.isEnabled(vr)
}

// reconcile starts a ready ring that is stopped and stops a running ring
// that is no longer ready.
func (s *session) reconcile(vr *vring) error {
	ready := s.isReady(vr)
	switch {
	case vr.run != nil && !ready:
		s.stopRing(vr)
	case vr.run == nil && ready:
		return s.startRing(vr)
	}
	return nil
}

// translateRing maps the ring's three areas into guest physical addresses.
func (s *session) translateRing(vr *vring) (desc, avail, used virtio.GuestAddr, err error) {
	var ok [3]bool
	desc, ok[0] = s.mem.translate(vr.addr.desc, descBytes(vr.num))
	avail, ok[1] = s.mem.translate(vr.addr.avail, availBytes(vr.num))
	used, ok[2] = s.mem.translate(vr.addr.used, usedBytes(vr.num))
	if !ok[0] || !ok[1] || !ok[2] {
		return 0, 0, 0, fmt.Errorf("vhostuser: vring %d: ring of %d entries at desc %#x avail %#x used %#x is not inside one region each",
			vr.index, vr.num, vr.addr.desc, vr.addr.avail, vr.addr.used)
	}
	return desc, avail, used, nil
}

// startRing builds the Queue and starts the ring's goroutine.
// Preconditions: s.isReady(vr) and vr.run == nil.
func (s *session) startRing(vr *vring) error {
	if s.broken != nil {
		return s.broken
	}
	desc, avail, used, err := s.translateRing(vr)
	if err != nil {
		return err
	}
	if a, ok := s.b.(Activator); ok {
		if err := a.Activate(); err != nil {
			s.log.Errorf("q=%d not started: %v", vr.index, err)
			if err := vr.errs.Notify(); err != nil {
				s.log.Errorf("q=%d: %v", vr.index, err)
			}
			return nil
		}
	}
	q, err := virtio.NewQueue(s.mem.mem, virtio.QueueConfig{
		Size:        vr.num,
		Desc:        desc,
		Avail:       avail,
		Used:        used,
		EventIdx:    s.features&virtio.FRingEventIdx != 0,
		NextAvail:   vr.base,
		Inflight:    s.inflightRegion(vr.index),
		Log:         s.dlog,
		LogUsed:     vr.addr.flags&vringAddrFLog != 0,
		UsedLogAddr: virtio.GuestAddr(vr.addr.log),
	})
	if err != nil {
		return fmt.Errorf("vhostuser: vring %d: %w", vr.index, err)
	}
	if s.inflight != nil {
		s.logInflightStart(vr, q)
	}
	vr.base = q.NextAvail()
	k, err := newKick(vr.kickFD)
	if err != nil {
		return err
	}
	run := &ringRun{q: q, kick: k, done: make(chan struct{})}
	vr.run = run
	s.deviceStarting()
	s.log.Infof("q=%d started: size %d, next avail %d, event idx %t",
		vr.index, vr.num, vr.base, s.features&virtio.FRingEventIdx != 0)
	go s.serveRing(vr, run)
	return nil
}

// serveRing runs Backend.ServeQueue for one run of a ring.
func (s *session) serveRing(vr *vring, run *ringRun) {
	defer close(run.done)
	err := s.serveQueue(vr, run)
	if err != nil && !errors.Is(err, errStopped) {
		s.log.Errorf("q=%d broken: %v", vr.index, err)
		if err := vr.errs.Notify(); err != nil {
			s.log.Errorf("q=%d: %v", vr.index, err)
		}
	}
}

// serveQueue calls the Backend, containing faults on guest RAM (a front end
// may truncate the memory file) and Backend panics to this ring.
func (s *session) serveQueue(vr *vring, run *ringRun) (err error) {
	debug.SetPanicOnFault(true)
	defer func() {
		if p := recover(); p != nil {
			s.log.Errorf("q=%d panic: %v\n%s", vr.index, p, debug.Stack())
			err = fmt.Errorf("vhostuser: vring %d: panic: %v", vr.index, p)
		}
	}()
	return s.b.ServeQueue(vr.index, run.q, run.kick, vr.call)
}

// stopRing stops one ring (see stopRings).
func (s *session) stopRing(vr *vring) { s.stopRings(vr) }

// stopAll stops every running ring.
func (s *session) stopAll() { s.stopRings(s.vrings...) }

// hangUpGrace is how long a ring may still take to stop once the front
// end has hung up, and pollHangUp how often that is checked.
const (
	hangUpGrace = 100 * time.Millisecond
	pollHangUp  = 20 * time.Millisecond
)

// stopRings stops the running rings of vrs: all their kicks are closed,
// then each ServeQueue is waited for until its popped requests are
// complete, and the next available index is kept in vr.base. A ring
// stuck on guest memory or a disk call must not hold the session, the next
// front end or shutdown: a ring that has not returned within
// stopTimeout of the call, or hangUpGrace after the front end hung up, is
// abandoned (see abandon).
func (s *session) stopRings(vrs ...*vring) {
	var running []*vring
	pending := make(map[*vring]int)
	for _, vr := range vrs {
		if vr.run != nil {
			pending[vr] = vr.run.q.InFlight()
			vr.run.kick.close()
			running = append(running, vr)
		}
	}
	start := time.Now()
	var hungUp time.Time
	for _, vr := range running {
		for done := false; !done; {
			select {
			case <-vr.run.done:
				done = true
				vr.base = vr.run.q.NextAvail()
				vr.run = nil
				s.started.Store(s.anyRunning())
				s.log.Infof("q=%d stopped at next avail %d, after completing the %d requests in flight when asked to stop",
					vr.index, vr.base, pending[vr])
			case <-time.After(pollHangUp):
				if hungUp.IsZero() && s.hungUp() {
					hungUp = time.Now()
				}
				switch {
				case time.Since(start) >= s.stopTimeout:
					done = true
					s.abandon(vr, fmt.Sprintf("it did not stop within %v", s.stopTimeout))
				case !hungUp.IsZero() && time.Since(hungUp) >= hangUpGrace:
					done = true
					s.abandon(vr, "the front end hung up")
				}
			}
		}
	}
}

// abandon gives up on a ring that does not stop: its goroutine keeps its
// Queue and the guest RAM it maps, which stays mapped (and counted against
// the limits) until the goroutine returns; the session ends after the
// current request.
func (s *session) abandon(vr *vring, why string) {
	err := fmt.Errorf("vhostuser: vring %d abandoned: %s", vr.index, why)
	s.log.Errorf("q=%d abandoned, its requests in flight left incomplete: %s", vr.index, why)
	s.abandoned = append(s.abandoned, vr.run)
	s.stuck.Add(1)
	vr.run = nil
	s.started.Store(s.anyRunning())
	if s.broken == nil {
		s.broken = err
	}
}

// reconcileAll reconciles every ring and returns the first error.
func (s *session) reconcileAll() error {
	var first error
	for _, vr := range s.vrings {
		if err := s.reconcile(vr); err != nil {
			s.log.Errorf("q=%d: %v", vr.index, err)
			if first == nil {
				first = err
			}
		}
	}
	return first
}
