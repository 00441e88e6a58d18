package ccm

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"testing"
)

// ioSyscalls returns the process's read and write system call counts from
// /proc/self/io.
func ioSyscalls(t *testing.T) (reads, writes int) {
	t.Helper()
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		var n int
		if _, err := fmt.Sscanf(string(line), "syscr: %d", &n); err == nil {
			reads = n
		}
		if _, err := fmt.Sscanf(string(line), "syscw: %d", &n); err == nil {
			writes = n
		}
	}
	return reads, writes
}

// countSyscalls returns the read and write system calls f makes, less
// those of reading /proc/self/io itself. The counts are per process, so
// other goroutines can only add to them: the least of three runs is the
// count of f.
func countSyscalls(t *testing.T, f func()) (reads, writes int) {
	t.Helper()
	reads, writes = math.MaxInt, math.MaxInt
	for range 3 {
		r0, w0 := ioSyscalls(t)
		r1, w1 := ioSyscalls(t)
		f()
		r2, w2 := ioSyscalls(t)
		reads = min(reads, (r2-r1)-(r1-r0))
		writes = min(writes, (w2-w1)-(w1-w0))
	}
	return reads, writes
}

// TestOneSyscallPerRun checks the batching: a call makes one positional
// read or write per chunk of ciphertext, however many buffers and sectors
// it has.
func TestOneSyscallPerRun(t *testing.T) {
	chunk := chunkBytes / 1024
	img, _ := newTestImage(t, testParams(t, 16, 16, 8, 512), 2*chunk+3)
	for _, tc := range []struct{ sectors, calls int }{{1, 1}, {128, 1}, {chunk, 1}, {chunk + 1, 2}, {2*chunk + 3, 3}} {
		data := randBytes(t, tc.sectors*512)
		bufs := splitSectors(data, 512)
		var err error
		r, w := countSyscalls(t, func() { err = img.WriteSectors(0, bufs) })
		if err != nil || r != 0 || w != tc.calls {
			t.Errorf("write of %d sectors in %d buffers: %d reads, %d writes, %v; want 0, %d", tc.sectors, len(bufs), r, w, err, tc.calls)
		}
		r, w = countSyscalls(t, func() { err = img.ReadSectors(0, bufs) })
		if err != nil || r != tc.calls || w != 0 {
			t.Errorf("read of %d sectors in %d buffers: %d reads, %d writes, %v; want %d, 0", tc.sectors, len(bufs), r, w, err, tc.calls)
		}
	}
}
