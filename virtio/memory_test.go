package virtio_test

import (
	"bytes"
	"errors"
	"math"
	"testing"

	"github.com/ccmblk/ccmblk/virtio"
)

func TestNewMemoryRejects(t *testing.T) {
	buf := make([]byte, 0x2000)
	tests := []struct {
		name string
		rs   []virtio.Region
		want error
	}{
		{"none", nil, virtio.ErrNoRegions},
		{"empty region", []virtio.Region{virtio.NewRegion(0x1000, nil)}, virtio.ErrBadRegion},
		{"wraps", []virtio.Region{virtio.NewRegion(math.MaxUint64-0xfff, buf)}, virtio.ErrBadRegion},
		{"ends at 2^64", []virtio.Region{virtio.NewRegion(math.MaxUint64-0x1fff, buf)}, virtio.ErrBadRegion},
		{"overlap", []virtio.Region{virtio.NewRegion(0x1000, buf), virtio.NewRegion(0x2fff, buf)}, virtio.ErrBadRegion},
		{"overlap unsorted", []virtio.Region{virtio.NewRegion(0x2fff, buf), virtio.NewRegion(0x1000, buf)}, virtio.ErrBadRegion},
		{"same start", []virtio.Region{virtio.NewRegion(0x1000, buf), virtio.NewRegion(0x1000, buf[:1])}, virtio.ErrBadRegion},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := virtio.NewMemory(tc.rs); !errors.Is(err, tc.want) {
				t.Fatalf("NewMemory: got %v, want %v", err, tc.want)
			}
		})
	}
}

// twoRegions returns memory with [0x1000, 0x2000) and [0x2000, 0x3000)
// adjacent, and [0x10000, 0x11000) apart, each filled with a distinct byte.
func twoRegions(t *testing.T) (*virtio.Memory, [][]byte) {
	t.Helper()
	a := bytes.Repeat([]byte{0xaa}, 0x1000)
	b := bytes.Repeat([]byte{0xbb}, 0x1000)
	c := bytes.Repeat([]byte{0xcc}, 0x1000)
	m, err := virtio.NewMemory([]virtio.Region{
		virtio.NewRegion(0x10000, c), virtio.NewRegion(0x2000, b), virtio.NewRegion(0x1000, a),
	})
	if err != nil {
		t.Fatal(err)
	}
	return m, [][]byte{a, b, c}
}

func TestSlices(t *testing.T) {
	m, host := twoRegions(t)
	tests := []struct {
		name    string
		gpa     virtio.GuestAddr
		n       uint64
		wantLen []int
		wantErr error
	}{
		{"inside", 0x1010, 0x20, []int{0x20}, nil},
		{"zero length", 0x5, 0, nil, nil},
		{"whole region", 0x1000, 0x1000, []int{0x1000}, nil},
		{"across adjacent", 0x1ff0, 0x20, []int{0x10, 0x10}, nil},
		{"across two fully", 0x1000, 0x2000, []int{0x1000, 0x1000}, nil},
		{"into hole", 0x2ff0, 0x20, nil, virtio.ErrNotInMemory},
		{"before memory", 0xfff, 2, nil, virtio.ErrNotInMemory},
		{"hole", 0x4000, 1, nil, virtio.ErrNotInMemory},
		{"past end", 0x10fff, 2, nil, virtio.ErrNotInMemory},
		{"overflow", math.MaxUint64 - 1, 4, nil, virtio.ErrAddrOverflow},
		{"huge", 0x1000, math.MaxUint64, nil, virtio.ErrAddrOverflow},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			prefix := [][]byte{{1}}
			got, err := m.Slices(tc.gpa, tc.n, true, prefix)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Slices: got %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				if len(got) != 1 {
					t.Fatalf("on error got %d slices, want the 1 of dst", len(got))
				}
				return
			}
			got = got[1:]
			if len(got) != len(tc.wantLen) {
				t.Fatalf("got %d slices, want %d", len(got), len(tc.wantLen))
			}
			for i, s := range got {
				if len(s) != tc.wantLen[i] || cap(s) != len(s) {
					t.Errorf("slice %d: len %d cap %d, want len=cap=%d", i, len(s), cap(s), tc.wantLen[i])
				}
			}
		})
	}
	// The views alias the host memory.
	s, err := m.Slices(0x2004, 1, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	s[0][0] = 0x42
	if host[1][4] != 0x42 {
		t.Fatalf("host byte: got %#x, want 0x42", host[1][4])
	}
}

func TestReadWriteAt(t *testing.T) {
	m, host := twoRegions(t)
	p := []byte{1, 2, 3, 4}
	if err := m.WriteAt(p, 0x1ffe); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(host[0][0xffe:], []byte{1, 2}) || !bytes.Equal(host[1][:2], []byte{3, 4}) {
		t.Fatalf("write across regions: got %x %x", host[0][0xffe:], host[1][:2])
	}
	q := make([]byte, 4)
	if err := m.ReadAt(q, 0x1ffe); err != nil || !bytes.Equal(q, p) {
		t.Fatalf("ReadAt: got %x, %v; want %x", q, err, p)
	}
	// A failing access changes nothing.
	if err := m.WriteAt([]byte{9, 9}, 0x2fff); !errors.Is(err, virtio.ErrNotInMemory) {
		t.Fatalf("WriteAt into hole: got %v", err)
	}
	if host[1][0xfff] != 0xbb {
		t.Fatalf("failed WriteAt wrote %#x", host[1][0xfff])
	}
	if err := m.ReadAt(q, math.MaxUint64-1); !errors.Is(err, virtio.ErrNotInMemory) {
		t.Fatalf("ReadAt at top: got %v", err)
	}
}

func TestReadOnlyRegion(t *testing.T) {
	ro := make([]byte, 0x1000)
	m, err := virtio.NewMemory([]virtio.Region{
		virtio.NewRegion(0, make([]byte, 0x1000)), virtio.NewReadOnlyRegion(0x1000, ro),
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Slices(0xff0, 0x20, true, nil); !errors.Is(err, virtio.ErrReadOnlyMemory) {
		t.Fatalf("writable Slices over read-only region: got %v", err)
	}
	if _, err := m.Slices(0xff0, 0x20, false, nil); err != nil {
		t.Fatalf("readable Slices: %v", err)
	}
	if err := m.WriteAt([]byte{1, 2}, 0xfff); !errors.Is(err, virtio.ErrReadOnlyMemory) {
		t.Fatalf("WriteAt: got %v", err)
	}
	if ro[0] != 0 {
		t.Fatal("read-only region was written")
	}
	if got := m.Regions(); len(got) != 2 || got[1].GPA() != 0x1000 || got[1].Len() != 0x1000 {
		t.Fatalf("Regions: got %v", got)
	}
}
