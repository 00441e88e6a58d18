package virtio

import (
	"bytes"
	"errors"
	"testing"
)

// garbageDisk fills every buffer it is handed with a marker and then fails,
// like a Disk whose read breaks off half way and leaves its buffers in an
// unspecified state.
type garbageDisk struct{ ss int }

var errGarbage = errors.New("garbageDisk: read failed")

func (g garbageDisk) SectorSize() int { return g.ss }
func (g garbageDisk) Sectors() uint64 { return 1 << 20 }
func (g garbageDisk) ReadOnly() bool  { return false }
func (g garbageDisk) Flush() error    { return nil }

func (g garbageDisk) ReadSectors(_ uint64, bufs [][]byte) error {
	for _, b := range bufs {
		for i := range b {
			b[i] = 0xee
		}
	}
	return errGarbage
}

func (g garbageDisk) WriteSectors(uint64, [][]byte) error { return nil }

// TestRegression_BounceNotScatteredOnError: a read that failed still
// copied the bounce buffer into the guest's fragments of straddling
// sectors. What a failed Disk call leaves in the bounce buffer is
// unspecified: stale data of an earlier request (other sectors, or a
// write's plaintext) or bytes that never authenticated. Found in review of
// blk_io.go.
func TestRegression_BounceNotScatteredOnError(t *testing.T) {
	const ss = 512
	// Two guest buffers that split the only sector: it goes through the
	// bounce buffer.
	a, b := bytes.Repeat([]byte{1}, 100), bytes.Repeat([]byte{2}, ss-100)
	var x xfer
	err := x.transfer(garbageDisk{ss: ss}, false, 0, [][]byte{a, b}, ss)
	if !errors.Is(err, errGarbage) {
		t.Fatalf("transfer: got %v, want %v", err, errGarbage)
	}
	if !bytes.Equal(a, bytes.Repeat([]byte{1}, 100)) || !bytes.Equal(b, bytes.Repeat([]byte{2}, ss-100)) {
		t.Error("a failed read copied the bounce buffer into guest memory")
	}
}
