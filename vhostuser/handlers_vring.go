package vhostuser

import (
	"fmt"

	"github.com/ccmblk/ccmblk/virtio"
)

// setVringNum sets a ring's size: a power of two up to the Backend's
// maximum (split rings, virtio 1.2 §2.7).
func (s *session) setVringNum(v vringState, _ []int) ([]byte, error) {
	limit := uint32(s.b.MaxQueueSize())
	if v.num == 0 || v.num > limit || v.num&(v.num-1) != 0 {
		return nil, protoErr(SetVringNum, "vring %d size %d, want a power of two up to %d", v.index, v.num, limit)
	}
	vr := s.vrings[v.index]
	s.stopRing(vr)
	vr.num = uint16(v.num)
	return nil, s.reconcile(vr)
}

// setVringAddr records a ring's addresses after checking that they lie in
// guest RAM, so that a wrong address is reported with its own message. A
// running ring whose addresses stay the same keeps running: only its used
// ring logging changes (QEMU sets and clears VHOST_VRING_F_LOG this way at
// migration start, cancel and failure).
func (s *session) setVringAddr(v vringAddr, _ []int) ([]byte, error) {
	vr := s.vrings[v.index]
	if s.logging() {
		if err := checkUsedLog(v, vr.num, s.logArea.covers()); err != nil {
			return nil, err
		}
	}
	if vr.run != nil && v.desc == vr.addr.desc && v.used == vr.addr.used && v.avail == vr.addr.avail {
		vr.addr = v
		vr.run.q.SetUsedLog(v.flags&vringAddrFLog != 0, virtio.GuestAddr(v.log))
		return nil, nil
	}
	// Check before changing anything: with the size known the whole areas,
	// else their first elements.
	check := &vring{index: vr.index, num: max(vr.num, 1), addr: v}
	if _, _, _, err := s.translateRing(check); err != nil {
		return nil, err
	}
	s.stopRing(vr)
	vr.addr, vr.hasAddr = v, true
	return nil, s.reconcile(vr)
}

// setVringBase sets the next available index (split rings use 16 bits).
func (s *session) setVringBase(v vringState, _ []int) ([]byte, error) {
	// Split rings use 16 bits; the upper half is for packed rings, never
	// offered here.
	if v.num > 0xffff {
		return nil, protoErr(SetVringBase, "vring %d base %d exceeds 16 bits", v.index, v.num)
	}
	vr := s.vrings[v.index]
	s.stopRing(vr)
	vr.base = uint16(v.num)
	return nil, s.reconcile(vr)
}

// getVringBase stops the ring once its in-flight requests are complete and
// returns where the front end must resume. The kick is closed; a new
// SET_VRING_KICK starts the ring again (libvhost-user does the same).
//
// Everything written into guest memory, dirty log included, is written
// before the reply: at a migration's switchover the front end reads the
// log for the last time right after it. Once no ring runs, an Activator
// Backend flushes and lets go of its storage before the reply too, so the
// migration destination can take it over.
func (s *session) getVringBase(v vringState, _ []int) ([]byte, error) {
	vr := s.vrings[v.index]
	s.stopRing(vr)
	vr.setKick(-1)
	if a, ok := s.b.(Activator); ok && !s.anyRunning() {
		if err := a.Deactivate(); err != nil {
			return nil, fmt.Errorf("vhostuser: vring %d: %w", v.index, err)
		}
	}
	return vringState{index: v.index, num: uint32(vr.base)}.encode(), nil
}

// setVringKick installs the kick eventfd. Polling mode is refused.
func (s *session) setVringKick(v vringFile, fds []int) ([]byte, error) {
	if v.noFD {
		return nil, fmt.Errorf("%w: vring %d: kick without a descriptor (polling mode)", ErrUnsupported, v.index)
	}
	if err := checkEventFD(fds[0]); err != nil {
		return nil, &ProtocolError{Req: SetVringKick, Reason: fmt.Sprintf("vring %d", v.index), Err: err}
	}
	vr := s.vrings[v.index]
	s.stopRing(vr)
	vr.setKick(take(fds, 0))
	return nil, s.reconcile(vr)
}

// setVringCall swaps the call eventfd, also under a running ring. The new
// descriptor is signalled once so that a completion signalled to the old
// one is not lost (libvhost-user does the same).
func (s *session) setVringCall(v vringFile, fds []int) ([]byte, error) {
	vr := s.vrings[v.index]
	if err := installSignal(SetVringCall, vr.call, v, fds); err != nil {
		return nil, err
	}
	if vr.run != nil && !v.noFD {
		if err := vr.call.Notify(); err != nil {
			s.log.Warningf("q=%d: %v", vr.index, err)
		}
	}
	return nil, nil
}

// setVringErr installs the eventfd signalled when the ring breaks.
func (s *session) setVringErr(v vringFile, fds []int) ([]byte, error) {
	return nil, installSignal(SetVringErr, s.vrings[v.index].errs, v, fds)
}

// installSignal puts the descriptor of a SET_VRING_CALL or SET_VRING_ERR
// message (or none, with the no-fd bit) into slot.
func installSignal(req Request, slot *eventSlot, v vringFile, fds []int) error {
	if v.noFD {
		slot.set(-1)
		return nil
	}
	if err := prepareSignalFD(fds[0]); err != nil {
		return &ProtocolError{Req: req, Reason: fmt.Sprintf("vring %d", v.index), Err: err}
	}
	slot.set(take(fds, 0))
	return nil
}

// setVringEnable enables or disables a ring. QEMU 7.2 disables the rings
// before GET_VRING_BASE; a disabled ring is stopped here already, keeping
// its next available index.
func (s *session) setVringEnable(v vringState, _ []int) ([]byte, error) {
	// Spec: num is 0 (disable) or 1 (enable).
	if v.num > 1 {
		return nil, protoErr(SetVringEnable, "vring %d enable %d, want 0 or 1", v.index, v.num)
	}
	vr := s.vrings[v.index]
	vr.enabled = v.num == 1
	return nil, s.reconcile(vr)
}
