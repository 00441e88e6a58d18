package vhostuser

import (
	"errors"
	"fmt"
	"math"

	"golang.org/x/sys/unix"

	"github.com/ccmblk/ccmblk/virtio"
)

// FeatureLogAll is VHOST_F_LOG_ALL, the virtio feature bit 26 that this
// package adds to Backend.Features: while the front end sets it, the back
// end logs its writes into guest memory in the dirty log.
const FeatureLogAll = 1 << 26

// maxLogSize bounds the SET_LOG_BASE mapping: a log this size covers 2 TiB
// of guest-physical space.
const maxLogSize = 64 << 20

// ErrLogSetup reports a dirty log setup the back end cannot honour. It
// ends the session instead of being refused with a REPLY_ACK failure,
// which QEMU answers by aborting the VM; after a disconnect QEMU goes on
// with the migration and the guest's disk simply stops being served here.
var ErrLogSetup = errors.New("vhostuser: dirty log setup cannot be honoured")

// logMsg is VhostUserLog, the SET_LOG_BASE payload.
type logMsg struct {
	size   uint64
	offset uint64
}

const logMsgSize = 16

func (m logMsg) encode() []byte {
	return ne.AppendUint64(ne.AppendUint64(nil, m.size), m.offset)
}

func decodeLog(b []byte) (logMsg, error) {
	m := logMsg{size: ne.Uint64(b), offset: ne.Uint64(b[8:])}
	switch {
	case m.size == 0 || m.size > maxLogSize || m.size%8 != 0:
		return m, fmt.Errorf("log size %#x, want a multiple of 8 up to %#x", m.size, maxLogSize)
	case m.offset%8 != 0 || m.offset > math.MaxInt32:
		return m, fmt.Errorf("log offset %#x, want 8-aligned below 2 GiB", m.offset)
	}
	return m, nil
}

// logArea is a mapped SET_LOG_BASE descriptor.
type logArea struct {
	whole  []byte // the mmap, for munmap
	bitmap []byte // whole[offset:]
}

// covers returns the guest address below which the log has bits.
func (a *logArea) covers() uint64 {
	return uint64(len(a.bitmap)) * 8 * virtio.LogPageSize
}

func (a *logArea) unmap() {
	if err := unix.Munmap(a.whole); err != nil {
		panic(fmt.Sprintf("vhostuser: munmap of a log this package mapped: %v", err))
	}
}

// setLogBase maps the new log, switches every ring to it if logging is on,
// and only then replies (QEMU frees the old log once it has the reply), so
// no write goes to the old log after the reply. The old mapping is unmapped
// once no ring uses it. A log that cannot be mapped or does not cover guest
// memory ends the session (see ErrLogSetup).
func (s *session) setLogBase(m logMsg, fds []int) ([]byte, error) {
	fd := take(fds, 0)
	defer func() { _ = unix.Close(fd) }()
	length := m.offset + m.size
	if err := checkSealedMemfd(fd, length); err != nil {
		return nil, fmt.Errorf("%w: log descriptor: %w", ErrLogSetup, err)
	}
	whole, err := unix.Mmap(fd, 0, int(length), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("%w: mmap %#x bytes of log: %w", ErrLogSetup, length, err)
	}
	old := s.logArea
	s.logArea = &logArea{whole: whole, bitmap: whole[m.offset:length:length]}
	if old != nil {
		defer old.unmap()
	}
	s.log.Infof("dirty log: %d KiB, covers guest addresses below %#x", m.size>>10, s.logArea.covers())
	if err := s.applyLog(); err != nil {
		return nil, err
	}
	return u64(0).encode(), nil
}

// logging reports whether writes are logged: LOG_ALL negotiated and a log
// mapped. LOG_ALL and the ring log flags may come before the log (a device
// started during a migration); nothing is logged until it comes.
func (s *session) logging() bool {
	return s.features&FeatureLogAll != 0 && s.logArea != nil
}

// applyLog installs the mapped log in the rings' DirtyLog when logging is
// on, after checking that it covers guest memory and every logged used
// ring, and takes it out otherwise.
func (s *session) applyLog() error {
	if !s.logging() {
		_, err := s.dlog.Swap(nil)
		return err
	}
	if err := s.checkLogCovers(s.logArea.covers()); err != nil {
		_, _ = s.dlog.Swap(nil)
		return err
	}
	if _, err := s.dlog.Swap(s.logArea.bitmap); err != nil {
		return fmt.Errorf("%w: %w", ErrLogSetup, err)
	}
	return nil
}

// checkLogCovers checks that a log covering guest addresses below covers
// has a bit for every byte of guest memory and of every used ring that is
// logged: a write it could not record would be lost by the migration.
func (s *session) checkLogCovers(covers uint64) error {
	if s.mem != nil {
		for _, m := range s.mem.maps {
			if end := uint64(m.region.gpa) + m.region.size; end > covers {
				return fmt.Errorf("%w: log covers guest addresses below %#x, memory region ends at %#x", ErrLogSetup, covers, end)
			}
		}
	}
	for _, vr := range s.vrings {
		if err := checkUsedLog(vr.addr, vr.num, covers); err != nil {
			return err
		}
	}
	return nil
}

// checkUsedLog checks that the used ring of a ring of num entries, logged
// at a.log if a has the log flag, lies in a log covering addresses below
// covers.
func checkUsedLog(a vringAddr, num uint16, covers uint64) error {
	if a.flags&vringAddrFLog == 0 {
		return nil
	}
	if end := a.log + usedBytes(max(num, 1)); end < a.log || end > covers {
		return fmt.Errorf("%w: vring %d used ring logged at %#x is outside a log covering %#x", ErrLogSetup, a.index, a.log, covers)
	}
	return nil
}

// dropLog turns logging off and unmaps the log: LOG_ALL was cleared (the
// front end freed the log, no message says so, and it sends a new one when
// logging starts again) or the session is ending.
func (s *session) dropLog() {
	_, _ = s.dlog.Swap(nil)
	if s.logArea != nil {
		s.logArea.unmap()
		s.logArea = nil
	}
}
