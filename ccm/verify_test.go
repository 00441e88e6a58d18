package ccm

import (
	"errors"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"
)

// sharedBuffer returns n bytes of shared anonymous memory, as guest RAM is:
// another thread may read or write it during a call, which the race
// detector does not track.
func sharedBuffer(t *testing.T, n int) []byte {
	t.Helper()
	b, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Munmap(b) })
	return b
}

// raceRounds is how many reads each race test makes.
const raceRounds = 2000

// TestFailedReadNeverShowsPlaintext: a thread watching the buffer of a read
// whose sectors all fail authentication (their tags are flipped) never
// sees a nonzero byte, in every lane kernel.
func TestFailedReadNeverShowsPlaintext(t *testing.T) {
	const sectors = 64
	withEachKernel(t, func(t *testing.T) {
		p := testParams(t, 32, 16, 8, 512)
		img, path := newTestImage(t, p, sectors)
		data := make([]byte, sectors*512)
		for i := range data {
			data[i] = byte(i | 1)
		}
		if err := img.WriteSectors(0, [][]byte{data}); err != nil {
			t.Fatal(err)
		}
		for s := range sectors {
			corrupt(t, path, int64(s*1024+512)) // the first tag byte
		}
		buf := sharedBuffer(t, sectors*512)
		var stop, seen atomic.Int64
		done := make(chan struct{})
		go func() {
			defer close(done)
			for stop.Load() == 0 {
				if !isZero(buf) {
					seen.Add(1)
				}
			}
		}()
		for range raceRounds {
			var ae *AuthError
			if err := img.ReadSectors(0, [][]byte{buf}); !errors.As(err, &ae) || ae.Count != sectors {
				t.Fatalf("read of tampered sectors: %v, want an AuthError for %d sectors", err, sectors)
			}
		}
		stop.Store(1)
		<-done
		if n := seen.Load(); n > 0 {
			t.Errorf("the buffer of a failing read held nonzero bytes %d times", n)
		}
	})
}

// TestReadIgnoresBufferWrites: a thread scribbling over the buffer of a
// read of good sectors does not make them fail: the tag is computed over
// the decrypted plaintext, never over the buffer.
func TestReadIgnoresBufferWrites(t *testing.T) {
	const sectors = 64
	withEachKernel(t, func(t *testing.T) {
		img, _ := newTestImage(t, testParams(t, 32, 16, 8, 512), sectors)
		if err := img.WriteSectors(0, [][]byte{make([]byte, sectors*512)}); err != nil {
			t.Fatal(err)
		}
		buf := sharedBuffer(t, sectors*512)
		var stop atomic.Int64
		done := make(chan struct{})
		go func() {
			defer close(done)
			for v := byte(1); stop.Load() == 0; v++ {
				for i := 0; i < len(buf); i += 64 {
					buf[i] = v
				}
			}
		}()
		failed := 0
		for range raceRounds {
			if err := img.ReadSectors(0, [][]byte{buf}); err != nil {
				failed++
			}
		}
		stop.Store(1)
		<-done
		if failed > 0 {
			t.Errorf("%d of %d reads of good sectors failed while the buffer changed", failed, raceRounds)
		}
	})
}
