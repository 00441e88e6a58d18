package virtiotest

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrAuth is what MemDisk returns for a sector marked bad, like the CCM
// engine's authentication failure.
var ErrAuth = errors.New("virtiotest: authentication failed")

// SectorError reports a failing sector.
type SectorError struct {
	Sector uint64
}

// Error implements error.
func (e *SectorError) Error() string {
	return fmt.Sprintf("%v at sector %d", ErrAuth, e.Sector)
}

// Unwrap returns the underlying error.
func (e *SectorError) Unwrap() error { return ErrAuth }

// IO is one call MemDisk received.
type IO struct {
	Write bool
	Start uint64
	Bufs  [][]byte // the caller's buffers, as passed
}

// MemDisk is an in-memory virtio.Disk for tests. It records its calls,
// counts flushes, tracks how many calls overlap, and can fail sectors or
// delay calls. It is safe for concurrent use.
type MemDisk struct {
	sectorSize int
	sectors    uint64

	mu          sync.Mutex
	data        []byte
	readOnly    bool
	bad         map[uint64]bool
	delay       time.Duration
	flushes     int
	writesSince int // writes since the last flush
	inflight    int
	maxInflight int
	ios         []IO
	zeroings    []Zeroing
}

// NewMemDisk returns a zeroed disk of sectors sectors of sectorSize bytes.
func NewMemDisk(sectorSize int, sectors uint64) *MemDisk {
	return &MemDisk{
		sectorSize: sectorSize,
		sectors:    sectors,
		data:       make([]byte, uint64(sectorSize)*sectors),
		bad:        map[uint64]bool{},
	}
}

// SectorSize implements virtio.Disk.
func (m *MemDisk) SectorSize() int { return m.sectorSize }

// Sectors implements virtio.Disk.
func (m *MemDisk) Sectors() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sectors
}

// Grow implements virtio.Grower: the disk gets n sectors, the new ones
// zeroed. It refuses to shrink.
func (m *MemDisk) Grow(n uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if n < m.sectors {
		return fmt.Errorf("virtiotest: grow to %d sectors, have %d", n, m.sectors)
	}
	m.data = append(m.data, make([]byte, (n-m.sectors)*uint64(m.sectorSize))...)
	m.sectors = n
	return nil
}

// ReadOnly implements virtio.Disk.
func (m *MemDisk) ReadOnly() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.readOnly
}

// SetReadOnly makes the disk refuse writes.
func (m *MemDisk) SetReadOnly(ro bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.readOnly = ro
}

// FailSector makes reads of sector s fail with a *SectorError.
func (m *MemDisk) FailSector(s uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.bad[s] = true
}

// SetDelay makes every read and write take at least d.
func (m *MemDisk) SetDelay(d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.delay = d
}

// ReadSectors implements virtio.Disk.
func (m *MemDisk) ReadSectors(start uint64, bufs [][]byte) error {
	return m.io(false, start, bufs)
}

// WriteSectors implements virtio.Disk.
func (m *MemDisk) WriteSectors(start uint64, bufs [][]byte) error {
	return m.io(true, start, bufs)
}

func (m *MemDisk) io(write bool, start uint64, bufs [][]byte) error {
	m.mu.Lock()
	m.inflight++
	m.maxInflight = max(m.maxInflight, m.inflight)
	if len(m.ios) < maxRecordedIOs {
		m.ios = append(m.ios, IO{Write: write, Start: start, Bufs: bufs})
	}
	delay := m.delay
	m.mu.Unlock()
	time.Sleep(delay)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.inflight--
	if write && m.readOnly {
		return errors.New("virtiotest: write to read-only disk")
	}
	s := start
	for _, b := range bufs {
		if len(b)%m.sectorSize != 0 {
			return fmt.Errorf("virtiotest: buffer of %d bytes is not whole sectors", len(b))
		}
		n := uint64(len(b) / m.sectorSize)
		if s > m.sectors || n > m.sectors-s {
			return fmt.Errorf("virtiotest: sectors [%d, +%d) out of range", s, n)
		}
		off := s * uint64(m.sectorSize)
		if write {
			copy(m.data[off:], b)
			m.writesSince++
		} else {
			for i := range n {
				if m.bad[s+i] {
					return &SectorError{Sector: s + i}
				}
			}
			copy(b, m.data[off:])
		}
		s += n
	}
	return nil
}

// Flush implements virtio.Disk.
func (m *MemDisk) Flush() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.flushes++
	m.writesSince = 0
	return nil
}

// Flushes returns the number of Flush calls.
func (m *MemDisk) Flushes() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.flushes
}

// Unflushed returns the number of buffers written since the last Flush.
func (m *MemDisk) Unflushed() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.writesSince
}

// MaxInFlight returns the largest number of overlapping reads and writes.
func (m *MemDisk) MaxInFlight() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.maxInflight
}

// maxRecordedIOs bounds the calls MemDisk remembers, so long benchmarks do
// not grow without limit.
const maxRecordedIOs = 4096

// IOs returns the first maxRecordedIOs reads and writes received. Their buffers may
// alias guest memory and are only valid to compare by identity.
func (m *MemDisk) IOs() []IO {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]IO(nil), m.ios...)
}

// Contents returns a copy of sectors [start, start+n).
func (m *MemDisk) Contents(start, n uint64) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	ss := uint64(m.sectorSize)
	return append([]byte(nil), m.data[start*ss:(start+n)*ss]...)
}

// Fill sets sectors [start, start+len(p)/SectorSize) to p.
func (m *MemDisk) Fill(start uint64, p []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	copy(m.data[start*uint64(m.sectorSize):], p)
}
