package holes

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func newFile(t *testing.T, size int) (*os.File, *File) {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if _, err := f.Write(bytes.Repeat([]byte{0x5a}, size)); err != nil {
		t.Fatal(err)
	}
	h, err := New(f)
	if err != nil {
		t.Fatal(err)
	}
	return f, h
}

func blocks(t *testing.T, f *os.File) int64 {
	t.Helper()
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	return st.Sys().(*syscall.Stat_t).Blocks * 512
}

// expect checks that f holds 0x5a outside [off, off+n) and zeros inside.
func expect(t *testing.T, f *os.File, off, n int64) {
	t.Helper()
	st, _ := f.Stat()
	b := make([]byte, st.Size())
	if _, err := f.ReadAt(b, 0); err != nil {
		t.Fatal(err)
	}
	for i, c := range b {
		inside := int64(i) >= off && int64(i) < off+n
		if inside && c != 0 || !inside && c != 0x5a {
			t.Fatalf("byte %d is %#x (range [%d, +%d))", i, c, off, n)
		}
	}
}

func TestPunchFreesAndZeroes(t *testing.T) {
	f, h := newFile(t, 4<<20)
	before := blocks(t, f)
	if err := h.Punch(1<<20, 2<<20); err != nil {
		t.Fatal(err)
	}
	if after := blocks(t, f); after > before-(2<<20) {
		t.Fatalf("Punch of 2 MiB: %d bytes allocated before, %d after", before, after)
	}
	expect(t, f, 1<<20, 2<<20)
}

func TestZeroKeepsAllocation(t *testing.T) {
	f, h := newFile(t, 1<<20)
	before := blocks(t, f)
	if err := h.Zero(4096, 100000); err != nil {
		t.Fatal(err)
	}
	if after := blocks(t, f); after < before {
		t.Fatalf("Zero freed space: %d before, %d after", before, after)
	}
	expect(t, f, 4096, 100000)
}

func TestDiscardRegularFile(t *testing.T) {
	f, h := newFile(t, 1<<20)
	zeroed, err := h.Discard(8192, 8192)
	if err != nil || !zeroed {
		t.Fatalf("Discard = %v, %v; want zeroed", zeroed, err)
	}
	expect(t, f, 8192, 8192)
}

// TestWriteFallback: unaligned ranges and the write fallback zero exactly
// the range.
func TestWriteFallback(t *testing.T) {
	f, h := newFile(t, 3<<20)
	if err := h.writeZeros(5, (2<<20)+7); err != nil {
		t.Fatal(err)
	}
	expect(t, f, 5, (2<<20)+7)
}

func TestBadRanges(t *testing.T) {
	f, h := newFile(t, 4096)
	for _, r := range [][2]int64{{-1, 1}, {0, -1}, {1 << 62, 1 << 62}} {
		if err := h.Punch(r[0], r[1]); err == nil {
			t.Errorf("Punch%v succeeded", r)
		}
		if err := h.Zero(r[0], r[1]); err == nil {
			t.Errorf("Zero%v succeeded", r)
		}
		if _, err := h.Discard(r[0], r[1]); err == nil {
			t.Errorf("Discard%v succeeded", r)
		}
	}
	if err := h.Punch(0, 0); err != nil {
		t.Errorf("empty Punch: %v", err)
	}
	expect(t, f, 0, 0)
}

func TestNotAFileOrDevice(t *testing.T) {
	f, err := os.Open("/dev/null")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := New(f); err == nil {
		t.Fatal("New accepted a character device")
	}
}

func TestNextData(t *testing.T) {
	f, h := newFile(t, 1<<20)
	if err := h.Punch(0, 256<<10); err != nil {
		t.Fatal(err)
	}
	if err := h.Punch(512<<10, 512<<10); err != nil {
		t.Fatal(err)
	}
	data, end, err := NextData(f, 0)
	if err != nil || data != 256<<10 || end != 512<<10 {
		t.Fatalf("NextData(0) = %d, %d, %v; want the data at [256K, 512K)", data, end, err)
	}
	if data, end, err = NextData(f, 300<<10); err != nil || data != 300<<10 || end != 512<<10 {
		t.Fatalf("NextData(300K) = %d, %d, %v", data, end, err)
	}
	if data, _, err = NextData(f, 600<<10); err != nil || data != NoData {
		t.Fatalf("NextData in the trailing hole = %d, %v; want NoData", data, err)
	}
	if data, _, err = NextData(f, 2<<20); err != nil || data != NoData {
		t.Fatalf("NextData past the end = %d, %v; want NoData", data, err)
	}
}

// TestZeroFallsBackOnTmpfs: tmpfs has no FALLOC_FL_ZERO_RANGE, so Zero
// must write the zeros itself, and exactly over the range.
func TestZeroFallsBackOnTmpfs(t *testing.T) {
	var fs unix.Statfs_t
	if err := unix.Statfs("/dev/shm", &fs); err != nil || fs.Type != unix.TMPFS_MAGIC {
		t.Fatalf("/dev/shm is not a tmpfs (%v): this test needs one", err)
	}
	dir, err := os.MkdirTemp("/dev/shm", "holes-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	f, err := os.Create(filepath.Join(dir, "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(bytes.Repeat([]byte{0x5a}, 3<<20)); err != nil {
		t.Fatal(err)
	}
	if err := unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_ZERO_RANGE, 0, 4096); !errors.Is(err, unix.EOPNOTSUPP) {
		t.Fatalf("ZERO_RANGE on tmpfs = %v, want EOPNOTSUPP (the case under test)", err)
	}
	h, err := New(f)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Zero(1000, 2<<20); err != nil {
		t.Fatal(err)
	}
	expect(t, f, 1000, 2<<20)
}
