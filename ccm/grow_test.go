package ccm

import (
	"bytes"
	"errors"
	"math"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/ccmblk/ccmblk/ccm/holes"
)

// allocated returns the bytes path occupies on disk.
func allocated(t testing.TB, path string) int64 {
	t.Helper()
	a, err := holes.Allocated(path)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// reopen opens the image at path again with p and o.
func reopen(t testing.TB, path string, p Params, o OpenOptions) *Image {
	t.Helper()
	img, err := Open(path, p, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = img.Close() })
	return img
}

// readAll reads sectors [start, start+n) of img.
func readAll(t testing.TB, img *Image, start, n uint64) ([]byte, error) {
	t.Helper()
	b := make([]byte, n*uint64(img.SectorSize()))
	return b, img.ReadSectors(start, splitSectors(b, img.SectorSize()))
}

func TestGrowWritesEncryptedZeros(t *testing.T) {
	for _, p := range []Params{testParams(t, 16, 16, 8, 512), testParams(t, 32, 8, 12, 4096)} {
		img, path := newTestImage(t, p, 3)
		want := randBytes(t, 3*p.SectorSize)
		if err := img.WriteSectors(0, [][]byte{want}); err != nil {
			t.Fatal(err)
		}
		// Cross a chunk boundary: a chunk holds 256 KiB of slots.
		grown := uint64(3 + chunkBytes/(2*p.SectorSize) + 5)
		if err := img.Grow(grown); err != nil {
			t.Fatalf("Grow: %v", err)
		}
		if got := img.Sectors(); got != grown {
			t.Fatalf("Sectors = %d after Grow, want %d", got, grown)
		}
		if img.Info().SizeSectors != grown {
			t.Fatalf("Info = %+v", img.Info())
		}
		// A plain (not sparse) open must authenticate every sector: the
		// tail is encrypted zeros, the head is unchanged.
		again := reopen(t, path, p, OpenOptions{ReadOnly: true})
		if again.Sectors() != grown {
			t.Fatalf("reopened capacity %d, want %d", again.Sectors(), grown)
		}
		got, err := readAll(t, again, 0, grown)
		if err != nil {
			t.Fatalf("read after Grow: %v", err)
		}
		if !bytes.Equal(got[:len(want)], want) {
			t.Fatal("Grow changed the old sectors")
		}
		if !bytes.Equal(got[len(want):], make([]byte, len(got)-len(want))) {
			t.Fatal("new sectors do not read as zeros")
		}
		// Fresh nonce and adata for each new sector: no two slots alike.
		raw := readFile(t, path)
		slot := 2 * p.SectorSize
		seen := map[string]bool{}
		for s := 3; s < int(grown); s++ {
			k := string(raw[s*slot+p.SectorSize : (s+1)*slot])
			if seen[k] {
				t.Fatalf("sector %d repeats another new sector's tag, nonce and adata", s)
			}
			seen[k] = true
		}
	}
}

func TestGrowSparseAddsHoles(t *testing.T) {
	p := testParams(t, 16, 16, 8, 512)
	img, path := newTestImage(t, p, 4)
	if err := img.WriteSectors(0, [][]byte{randBytes(t, 4*512)}); err != nil {
		t.Fatal(err)
	}
	_ = img.Close()
	sp := reopen(t, path, p, OpenOptions{Sparse: true})
	before := allocated(t, path)
	const grown = 1 << 20 // 512 MiB of plaintext, 1 GiB of slots
	if err := sp.Grow(grown); err != nil {
		t.Fatalf("Grow: %v", err)
	}
	if after := allocated(t, path); after > before+1<<20 {
		t.Fatalf("sparse Grow to 1 GiB allocated %d bytes (before %d)", after, before)
	}
	st, err := os.Stat(path)
	if err != nil || st.Size() != grown*1024 {
		t.Fatalf("file size %v, %v; want %d", st.Size(), err, grown*1024)
	}
	got, err := readAll(t, sp, grown-300, 300)
	if err != nil || !bytes.Equal(got, make([]byte, len(got))) {
		t.Fatalf("new sparse sectors: %v, zeros %v", err, bytes.Equal(got, make([]byte, len(got))))
	}
	// Without Sparse the holes are what they are: unwritten sectors.
	plain := reopen(t, path, p, OpenOptions{ReadOnly: true})
	if _, err := readAll(t, plain, grown-1, 1); !errors.Is(err, ErrAuth) {
		t.Fatalf("plain read of a hole = %v, want ErrAuth", err)
	}
	if _, err := readAll(t, plain, 0, 4); err != nil {
		t.Fatalf("plain read of the old sectors: %v", err)
	}
}

// TestGrowOverwritesPartialTail: bytes past the last whole slot belong to
// no sector; growing must not let them leak into the new first sector.
func TestGrowOverwritesPartialTail(t *testing.T) {
	p := testParams(t, 16, 16, 8, 512)
	for _, sparse := range []bool{false, true} {
		img, path := newTestImage(t, p, 2)
		if err := img.WriteSectors(0, [][]byte{make([]byte, 2*512)}); err != nil {
			t.Fatal(err)
		}
		_ = img.Close()
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(bytes.Repeat([]byte{0xa5}, 700)); err != nil {
			t.Fatal(err)
		}
		f.Close()
		img = reopen(t, path, p, OpenOptions{Sparse: sparse})
		if img.Sectors() != 2 {
			t.Fatalf("capacity %d with a partial tail, want 2", img.Sectors())
		}
		if err := img.Grow(4); err != nil {
			t.Fatal(err)
		}
		if got, err := readAll(t, img, 0, 4); err != nil || !bytes.Equal(got, make([]byte, 4*512)) {
			t.Fatalf("sparse %v: read after Grow over a partial tail: %v", sparse, err)
		}
		if st, _ := os.Stat(path); st.Size() != 4*1024 {
			t.Fatalf("sparse %v: file is %d bytes, want %d", sparse, st.Size(), 4*1024)
		}
	}
}

func TestGrowRefusals(t *testing.T) {
	p := testParams(t, 16, 16, 8, 512)
	img, path := newTestImage(t, p, 8)
	if err := img.Grow(7); !errors.Is(err, ErrShrink) {
		t.Errorf("Grow below capacity = %v, want ErrShrink", err)
	}
	if err := img.Grow(8); err != nil {
		t.Errorf("Grow to the capacity = %v, want nil", err)
	}
	for _, n := range []uint64{math.MaxInt64/1024 + 1, math.MaxUint64} {
		if err := img.Grow(n); !errors.Is(err, ErrOutOfRange) {
			t.Errorf("Grow(%d) = %v, want ErrOutOfRange", n, err)
		}
	}
	if img.Sectors() != 8 {
		t.Errorf("refused Grows changed the capacity to %d", img.Sectors())
	}
	ro := reopen(t, path, p, OpenOptions{ReadOnly: true})
	if err := ro.Grow(9); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Grow of a read-only image = %v, want ErrReadOnly", err)
	}
	_ = img.Close()
	if err := img.Grow(9); !errors.Is(err, ErrDisconnected) {
		t.Errorf("Grow of a closed image = %v, want ErrDisconnected", err)
	}
	if st, _ := os.Stat(path); st.Size() != 8*1024 {
		t.Errorf("refused Grows changed the file to %d bytes", st.Size())
	}
}

// TestGrowFailureKeepsCapacity makes the file system refuse the new slots
// (RLIMIT_FSIZE: EFBIG, as the Go runtime ignores SIGXFSZ). The capacity
// and the file size stay as they were.
func TestGrowFailureKeepsCapacity(t *testing.T) {
	p := testParams(t, 16, 16, 8, 512)
	img, path := newTestImage(t, p, 8)
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	lim := old
	lim.Cur = 64 << 10
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		t.Fatal(err)
	}
	err := img.Grow(1000)
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(err, syscall.EFBIG) {
		t.Fatalf("Grow past RLIMIT_FSIZE = %v, want EFBIG", err)
	}
	if img.Sectors() != 8 {
		t.Fatalf("failed Grow changed the capacity to %d", img.Sectors())
	}
	if st, _ := os.Stat(path); st.Size() != 8*1024 {
		t.Fatalf("failed Grow left the file at %d bytes", st.Size())
	}
	if err := img.Grow(1000); err != nil {
		t.Fatalf("Grow after the limit was lifted: %v", err)
	}
}

func TestGrowWhileServing(t *testing.T) {
	p := testParams(t, 16, 16, 8, 512)
	for _, sparse := range []bool{false, true} {
		img, path := newTestImage(t, p, 64)
		if err := img.WriteSectors(0, [][]byte{make([]byte, 64*512)}); err != nil {
			t.Fatal(err)
		}
		_ = img.Close()
		img = reopen(t, path, p, OpenOptions{Sparse: sparse})
		var stop atomic.Bool
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		// Writers and readers on the old sectors while Grow runs.
		for w := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for !stop.Load() {
					if err := worker(img, uint64(w*30), 30); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		// A reader that reads the last sector as soon as it is visible: it
		// must never see a sector that is not yet zeros on disk.
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 512)
			for !stop.Load() {
				last := img.Sectors() - 1
				if err := img.ReadSectors(last, [][]byte{buf}); err != nil {
					errs <- err
					return
				}
				if last >= 64 && !bytes.Equal(buf, make([]byte, 512)) {
					errs <- errors.New("a new sector read as non-zero")
					return
				}
			}
		}()
		for n := uint64(64); n < 64+6*300; n += 300 {
			if err := img.Grow(n + 300); err != nil {
				t.Fatal(err)
			}
		}
		stop.Store(true)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("sparse %v: %v", sparse, err)
		}
		if got, err := readAll(t, img, 64, 6*300); err != nil || !bytes.Equal(got, make([]byte, len(got))) {
			t.Errorf("sparse %v: grown sectors: %v", sparse, err)
		}
	}
}

// TestGrowConcurrentCalls: Grow calls are serialised; the largest wins and
// none is lost or applied twice.
func TestGrowConcurrentCalls(t *testing.T) {
	p := testParams(t, 16, 16, 8, 512)
	img, path := newTestImage(t, p, 4)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Smaller targets that lose the race fail with ErrShrink.
			if err := img.Grow(uint64(10 + 10*i)); err != nil && !errors.Is(err, ErrShrink) {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if img.Sectors() != 80 {
		t.Fatalf("capacity %d, want 80", img.Sectors())
	}
	if st, _ := os.Stat(path); st.Size() != 80*1024 {
		t.Fatalf("file %d bytes, want %d", st.Size(), 80*1024)
	}
	if _, err := readAll(t, img, 4, 76); err != nil {
		t.Fatal(err)
	}
}
