package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestRawRefresh: a raw image open twice, grown through one, reaches the
// other's capacity through Refresh; an image found smaller than its
// capacity is refused and the capacity kept.
func TestRawRefresh(t *testing.T) {
	path := filepath.Join(t.TempDir(), "raw.img")
	if err := os.WriteFile(path, make([]byte, 8*sectorSize), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := openRaw(path, sectorSize, false)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := openRaw(path, sectorSize, false)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := a.Grow(16); err != nil {
		t.Fatal(err)
	}
	if err := b.Refresh(); err != nil || b.Sectors() != 16 {
		t.Fatalf("Refresh after growth: %v, %d sectors, want 16", err, b.Sectors())
	}
	if err := os.Truncate(path, 4*sectorSize); err != nil {
		t.Fatal(err)
	}
	if err := b.Refresh(); err == nil || b.Sectors() != 16 {
		t.Fatalf("Refresh of a shrunk image: %v, %d sectors; want an error and 16", err, b.Sectors())
	}
}
