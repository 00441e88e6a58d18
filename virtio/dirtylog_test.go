package virtio_test

import (
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/ccmblk/ccmblk/virtio"
)

// logBitmap returns an 8-aligned bitmap of n bytes.
func logBitmap(n int) []byte {
	w := make([]uint64, n/8)
	return unsafe.Slice((*byte)(unsafe.Pointer(&w[0])), n)
}

func dirtyPages(b []byte) []uint64 {
	var ps []uint64
	for i, x := range b {
		for bit := range 8 {
			if x&(1<<bit) != 0 {
				ps = append(ps, uint64(i*8+bit))
			}
		}
	}
	return ps
}

func TestDirtyLogBitLayout(t *testing.T) {
	for _, tc := range []struct {
		name string
		gpa  virtio.GuestAddr
		n    uint64
		want []uint64
	}{
		{"first byte", 0, 1, []uint64{0}},
		{"page end", 0xfff, 2, []uint64{0, 1}},
		{"bit 7 of byte 0", 7 * 4096, 4096, []uint64{7}},
		{"byte 1", 8*4096 + 100, 1, []uint64{8}},
		{"word boundary", 63 * 4096, 4097, []uint64{63, 64}},
		{"across a word", 60 * 4096, 70 * 4096, seq(60, 130)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var l virtio.DirtyLog
			b := logBitmap(64)
			if _, err := l.Swap(b); err != nil {
				t.Fatal(err)
			}
			if err := l.Mark(tc.gpa, tc.n); err != nil {
				t.Fatal(err)
			}
			if got := dirtyPages(b); !slices.Equal(got, tc.want) {
				t.Errorf("pages %v, want %v", got, tc.want)
			}
		})
	}
}

func seq(lo, hi uint64) []uint64 {
	var s []uint64
	for p := lo; p < hi; p++ {
		s = append(s, p)
	}
	return s
}

func TestDirtyLogBounds(t *testing.T) {
	var l virtio.DirtyLog
	if err := l.Mark(1<<40, 1); err != nil {
		t.Errorf("Mark with logging off = %v, want nil", err)
	}
	for _, bad := range [][]byte{logBitmap(16)[1:9], logBitmap(16)[:12]} {
		if _, err := l.Swap(bad); !errors.Is(err, virtio.ErrLogBitmap) {
			t.Errorf("Swap of %d bytes = %v, want ErrLogBitmap", len(bad), err)
		}
	}
	b := logBitmap(16)
	if _, err := l.Swap(b); err != nil {
		t.Fatal(err)
	}
	// 128 pages: the range is clipped to the log and reported.
	if err := l.Mark(126*4096, 4*4096); !errors.Is(err, virtio.ErrLogRange) {
		t.Errorf("Mark past the end = %v, want ErrLogRange", err)
	}
	if err := l.Mark(1<<50, 1); !errors.Is(err, virtio.ErrLogRange) {
		t.Errorf("Mark far past the end = %v, want ErrLogRange", err)
	}
	if err := l.Mark(^virtio.GuestAddr(0)-10, 100); !errors.Is(err, virtio.ErrLogRange) {
		t.Errorf("wrapping Mark = %v, want ErrLogRange", err)
	}
	if got := dirtyPages(b); !slices.Equal(got, []uint64{126, 127}) {
		t.Errorf("pages %v, want [126 127]", got)
	}
	if got := virtio.LogBytesFor(256 << 20); got != 0x2000 {
		t.Errorf("LogBytesFor(256 MiB) = %#x, want 0x2000 (QEMU's size)", got)
	}
	if got := virtio.LogBytesFor(4096*64 + 1); got != 16 {
		t.Errorf("LogBytesFor(64 pages + 1) = %d, want 16", got)
	}
}

// TestDirtyLogSwapQuiesces marks from several goroutines while logs are
// swapped: once Swap has returned, the old bitmap never changes again.
func TestDirtyLogSwapQuiesces(t *testing.T) {
	var l virtio.DirtyLog
	cur := logBitmap(64)
	if _, err := l.Swap(cur); err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				_ = l.Mark(virtio.GuestAddr((i*4+g)%512)*4096, 1)
			}
		}()
	}
	var retired [][]byte
	for range 200 {
		next := logBitmap(64)
		old, err := l.Swap(next)
		if err != nil {
			t.Fatal(err)
		}
		clear(old)
		retired = append(retired, old)
	}
	stop.Store(true)
	wg.Wait()
	for i, b := range retired {
		if ps := dirtyPages(b); len(ps) != 0 {
			t.Fatalf("retired log %d marked after Swap returned: %v", i, ps)
		}
	}
}
