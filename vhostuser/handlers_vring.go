package vhostuser

import (
	"fmt"
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
// guest RAM, so that a wrong address is reported with its own message.
func (s *session) setVringAddr(v vringAddr, _ []int) ([]byte, error) {
	if v.flags&vringAddrFLog != 0 {
		// Logging needs VHOST_F_LOG_ALL, which is never offered.
		return nil, protoErr(SetVringAddr, "vring %d: dirty logging requested but not offered", v.index)
	}
	vr := s.vrings[v.index]
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
func (s *session) getVringBase(v vringState, _ []int) ([]byte, error) {
	vr := s.vrings[v.index]
	s.stopRing(vr)
	vr.setKick(-1)
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
