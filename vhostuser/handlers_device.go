package vhostuser

import (
	"errors"
	"fmt"
)

// offeredFeatures is what GET_FEATURES returns.
func (s *session) offeredFeatures() uint64 {
	return s.b.Features() | FeatureProtocolFeatures | FeatureLogAll
}

func (s *session) getFeatures(empty, []int) ([]byte, error) {
	return u64(s.offeredFeatures()).encode(), nil
}

// setFeatures accepts only offered bits (rust-vmm set_features). Rings
// restart so that EVENT_IDX and the enable rule take effect.
func (s *session) setFeatures(v u64, _ []int) ([]byte, error) {
	f := uint64(v)
	if extra := f &^ s.offeredFeatures(); extra != 0 {
		return nil, protoErr(SetFeatures, "features %#x were not offered", extra)
	}
	if f^s.features == FeatureLogAll {
		return nil, s.toggleLogAll(f)
	}
	changed := f != s.features
	if changed {
		s.stopAll()
	}
	s.features = f
	s.log.Infof("features %#x", f)
	if !changed {
		return nil, nil
	}
	return nil, s.reconcileAll()
}

// toggleLogAll applies features f that differ from the current ones in
// LOG_ALL only: logging starts or stops (migration start, cancel or
// failure) while the rings run on.
func (s *session) toggleLogAll(f uint64) error {
	s.features = f
	s.log.Infof("features %#x: dirty logging %t", f, f&FeatureLogAll != 0)
	if f&FeatureLogAll == 0 {
		s.dropLog()
		return nil
	}
	return s.applyLog()
}

func (s *session) setOwner(empty, []int) ([]byte, error) { return nil, nil }

// resetDevice handles RESET_DEVICE and the deprecated RESET_OWNER: every
// ring is stopped and forgotten, the inflight area dropped and the virtio
// features are cleared. The
// memory table and protocol features stay, as the connection does.
func (s *session) resetDevice(empty, []int) ([]byte, error) {
	s.resetRings()
	s.setInflight(nil)
	s.features = 0
	s.log.Infof("device reset")
	return nil, nil
}

// offeredProtocolFeatures is what GET_PROTOCOL_FEATURES returns.
func (s *session) offeredProtocolFeatures() uint64 {
	if s.noInflight {
		return OfferedProtocolFeatures &^ ProtocolFeatureInflightShmfd
	}
	return OfferedProtocolFeatures
}

func (s *session) getProtocolFeatures(empty, []int) ([]byte, error) {
	return u64(s.offeredProtocolFeatures()).encode(), nil
}

func (s *session) setProtocolFeatures(v u64, _ []int) ([]byte, error) {
	// Spec: the front end acknowledges a subset of what was offered.
	if extra := uint64(v) &^ s.offeredProtocolFeatures(); extra != 0 {
		return nil, protoErr(SetProtocolFeatures, "protocol features %#x were not offered", extra)
	}
	s.protocol = uint64(v)
	s.log.Infof("protocol features %#x", s.protocol)
	return nil, nil
}

func (s *session) getQueueNum(empty, []int) ([]byte, error) {
	return u64(len(s.vrings)).encode(), nil
}

func (s *session) getMaxMemSlots(empty, []int) ([]byte, error) {
	return u64(MaxMemSlots).encode(), nil
}

// setBackendReqFD keeps the back-end request channel, on which
// configuration change notices go (see Server.NotifyConfigChange); it is
// closed with the session. Only a socket of a fresh pair is kept (see
// checkFreshSocket). Requests on it ask for an acknowledgement if
// REPLY_ACK is negotiated at this point, as QEMU decides the same way.
func (s *session) setBackendReqFD(_ empty, fds []int) ([]byte, error) {
	if err := checkFreshSocket(fds[0], s.own); err != nil {
		return nil, &ProtocolError{Req: SetBackendReqFD, Reason: "descriptor", Err: err}
	}
	c, err := newBackendChannel(take(fds, 0), s.hasReplyAck(), backendReplyTimeout, s.log.Warningf)
	if err != nil {
		return nil, err
	}
	s.setBackend(c)
	return nil, nil
}

// getConfig replies with exactly the bytes asked for (QEMU rejects any
// other size).
func (s *session) getConfig(c configMsg, _ []int) ([]byte, error) {
	out := configMsg{offset: c.offset, flags: c.flags, data: make([]byte, len(c.data))}
	if err := s.b.ReadConfig(c.offset, out.data); err != nil {
		return nil, fmt.Errorf("vhostuser: read config [%d,+%d): %w", c.offset, len(c.data), err)
	}
	return out.encode(), nil
}

// errMigrationConfig refuses SET_CONFIG with VHOST_SET_CONFIG_TYPE_MIGRATION,
// which could overwrite read-only fields (QSD and the QEMU contrib back end
// refuse it too).
var errMigrationConfig = errors.New("vhostuser: configuration writes for migration are not supported")

func (s *session) setConfig(c configMsg, _ []int) ([]byte, error) {
	if c.flags != 0 {
		return nil, errMigrationConfig
	}
	if err := s.b.WriteConfig(c.offset, c.data); err != nil {
		return nil, fmt.Errorf("vhostuser: write config [%d,+%d): %w", c.offset, len(c.data), err)
	}
	return nil, nil
}
