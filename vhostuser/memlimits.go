package vhostuser

import (
	"fmt"
	"sync"

	"golang.org/x/sys/unix"
)

// memLimits bounds the guest RAM a Server maps: each region, and all
// regions of all its sessions together, counting those of sessions whose
// rings could not be stopped and whose mappings are kept (see
// session.abandon). Without a bound, a front end could hand over huge
// sparse files until the daemon runs out of address space.
type memLimits struct {
	total, region uint64
	// anyFile admits region files outside tmpfs and hugetlbfs.
	anyFile bool

	mu sync.Mutex
	// +checklocks:mu
	used uint64
}

// newMemLimits applies the defaults of ServerOptions: the host's RAM for
// the total, the total for a region.
func newMemLimits(o ServerOptions) *memLimits {
	l := &memLimits{total: o.MaxGuestMemory, region: o.MaxRegionSize, anyFile: o.AnyMemoryFile}
	if l.total == 0 {
		l.total = hostRAM()
	}
	if l.region == 0 || l.region > l.total {
		l.region = l.total
	}
	return l
}

// hostRAM returns the host's RAM size in bytes; 0, so that nothing is
// mapped, if the kernel does not tell.
func hostRAM() uint64 {
	var si unix.Sysinfo_t
	if err := unix.Sysinfo(&si); err != nil {
		return 0
	}
	return uint64(si.Totalram) * uint64(si.Unit)
}

// reserve accounts for n more mapped bytes. retiring bytes, mapped now
// and unmapped once the new table is in place, count as free, so a table
// can be replaced by one of the same size.
func (l *memLimits) reserve(n, retiring uint64) error {
	if n > l.region {
		return fmt.Errorf("region of %#x bytes exceeds the %#x-byte region limit", n, l.region)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	avail := l.total - min(l.used, l.total)
	if retiring > l.total-avail {
		avail = l.total
	} else {
		avail += retiring
	}
	if n > avail {
		return fmt.Errorf("mapping %#x more bytes of guest RAM exceeds the %#x-byte limit (%#x mapped)", n, l.total, l.used)
	}
	l.used += n
	return nil
}

// release returns n bytes reserved earlier.
func (l *memLimits) release(n uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.used -= min(n, l.used)
}
