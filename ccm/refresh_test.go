package ccm

import (
	"bytes"
	"errors"
	"os"
	"testing"
)

// TestRefreshAdoptsGrowth: an image open in two places, grown through one,
// reaches the other's capacity only through Refresh, and the other then
// reads what the first wrote in the new sectors. An image found smaller
// than its capacity is refused and the capacity kept.
func TestRefreshAdoptsGrowth(t *testing.T) {
	p := testParams(t, 32, 16, 8, 512)
	a, path := newTestImage(t, p, 8)
	b, err := Open(path, p, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := a.Grow(16); err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte{0x5a}, 512)
	if err := a.WriteSectors(12, [][]byte{data}); err != nil {
		t.Fatal(err)
	}
	if got := b.Sectors(); got != 8 {
		t.Fatalf("capacity %d before Refresh, want the 8 it opened with", got)
	}
	if err := b.Refresh(); err != nil {
		t.Fatal(err)
	}
	if got := b.Sectors(); got != 16 {
		t.Fatalf("capacity %d after Refresh, want 16", got)
	}
	got := make([]byte, 512)
	if err := b.ReadSectors(12, [][]byte{got}); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("sector 12 after Refresh: %v, equal %t", err, bytes.Equal(got, data))
	}
	if err := os.Truncate(path, 4*int64(2*512)); err != nil {
		t.Fatal(err)
	}
	if err := b.Refresh(); !errors.Is(err, ErrShrink) {
		t.Fatalf("Refresh of a shrunk image: %v, want ErrShrink", err)
	}
	if got := b.Sectors(); got != 16 {
		t.Fatalf("capacity %d after a refused Refresh, want 16", got)
	}
}
