package vhostusertest

import (
	"fmt"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ccmblk/ccmblk/vhostuser"
	"github.com/ccmblk/ccmblk/virtio"
)

// Log is a dirty log as QEMU shares it for live migration: a memfd sealed
// against resizing, mapped on both sides, one bit per 4 KiB page.
type Log struct {
	fd     int
	bitmap []byte
	words  []uint64
}

// NewLog makes a log of size bytes (a multiple of 8; see
// virtio.LogBytesFor).
func NewLog(size uint64) (*Log, error) {
	fd, err := unix.MemfdCreate("vhostusertest-log", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("memfd: %w", err)
	}
	l := &Log{fd: fd}
	if err := unix.Ftruncate(fd, int64(size)); err != nil {
		l.Close()
		return nil, err
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_GROW|unix.F_SEAL_SHRINK|unix.F_SEAL_SEAL); err != nil {
		l.Close()
		return nil, err
	}
	if l.bitmap, err = unix.Mmap(fd, 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED); err != nil {
		l.Close()
		return nil, err
	}
	l.words = unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(l.bitmap))), size/8)
	return l, nil
}

// FD returns the memfd, which SET_LOG_BASE carries.
func (l *Log) FD() int { return l.fd }

// Dirty reports whether the page of gpa is marked, reading the log the
// way libvhost-user writes it: bit p%8 of byte p/8.
func (l *Log) Dirty(gpa virtio.GuestAddr) bool {
	p := uint64(gpa) / virtio.LogPageSize
	if p/8 >= uint64(len(l.bitmap)) {
		return false
	}
	w := atomic.LoadUint64(&l.words[p/64]) // keeps the race detector informed
	return w&(1<<(p%64)) != 0
}

// Sync returns the dirty pages and clears them, the way QEMU reads the log
// (an atomic exchange of each word with zero).
func (l *Log) Sync() []uint64 {
	var pages []uint64
	for i := range l.words {
		w := atomic.SwapUint64(&l.words[i], 0)
		for b := range 64 {
			if w&(1<<b) != 0 {
				pages = append(pages, uint64(i)*64+uint64(b))
			}
		}
	}
	return pages
}

// Close unmaps the log and closes its memfd.
func (l *Log) Close() {
	if l.bitmap != nil {
		_ = unix.Munmap(l.bitmap)
		l.bitmap, l.words = nil, nil
	}
	if l.fd >= 0 {
		_ = unix.Close(l.fd)
		l.fd = -1
	}
}

// SetLogBase sends SET_LOG_BASE with l and waits for the reply, which
// QEMU requires whatever the flags.
func (f *Frontend) SetLogBase(l *Log) error {
	m := ne.AppendUint64(ne.AppendUint64(nil, uint64(len(l.bitmap))), 0)
	if err := f.Send(vhostuser.SetLogBase, 0, m, l.fd); err != nil {
		return err
	}
	b, err := f.Recv(vhostuser.SetLogBase)
	if err != nil {
		return err
	}
	if len(b) != 8 {
		return fmt.Errorf("vhostusertest: SET_LOG_BASE reply of %d bytes, want 8", len(b))
	}
	return nil
}

// StartLogging sends what QEMU 7.2 sends when a migration starts:
// SET_LOG_BASE with l, SET_FEATURES with LOG_ALL added to features, and
// SET_VRING_ADDR with the log flag for each ring, the last two asking for
// an acknowledgement.
func (f *Frontend) StartLogging(l *Log, features uint64, rings ...*Ring) error {
	if err := f.SetLogBase(l); err != nil {
		return err
	}
	return f.setLogging(features|vhostuser.FeatureLogAll, 1, true, rings)
}

// StopLogging sends what QEMU 7.2 sends when a migration is cancelled or
// fails: SET_FEATURES without LOG_ALL and SET_VRING_ADDR without the log
// flag, asking for no acknowledgement.
func (f *Frontend) StopLogging(features uint64, rings ...*Ring) error {
	return f.setLogging(features&^vhostuser.FeatureLogAll, 0, false, rings)
}

func (f *Frontend) setLogging(features uint64, flags uint32, ack bool, rings []*Ring) error {
	if err := f.Set(vhostuser.SetFeatures, ack, u64(features|vhostuser.FeatureProtocolFeatures)); err != nil {
		return err
	}
	for _, r := range rings {
		if err := f.SetRingAddr(r, flags, r.Used, ack); err != nil {
			return err
		}
	}
	return nil
}

// SetRingAddr sends SET_VRING_ADDR for r with flags and the used ring's
// logged address log.
func (f *Frontend) SetRingAddr(r *Ring, flags uint32, log virtio.GuestAddr, ack bool) error {
	desc, err1 := f.QVA(r.Desc)
	used, err2 := f.QVA(r.Used)
	avail, err3 := f.QVA(r.Avail)
	if err1 != nil || err2 != nil || err3 != nil {
		return fmt.Errorf("vhostusertest: ring %d not in guest RAM", r.Index)
	}
	return f.Set(vhostuser.SetVringAddr, ack, VringAddr(r.Index, flags, desc, used, avail, uint64(log)))
}
