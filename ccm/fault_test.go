package ccm

import (
	"runtime"
	"runtime/debug"
	"testing"

	"golang.org/x/sys/unix"
)

// TestKernelFaultRecoverable checks that a buffer whose memory vanishes
// under a call (a front end truncating the file behind guest RAM) faults
// inside every lane kernel, assembly included, as a recoverable runtime
// error carrying the faulting address, on a goroutine that asked for it
// with SetPanicOnFault; the virtio device relies on that to break one
// queue instead of crashing the daemon.
func TestKernelFaultRecoverable(t *testing.T) {
	withEachKernel(t, func(t *testing.T) {
		img, _ := newTestImage(t, testParams(t, 16, 16, 8, 512), 32)
		if err := img.WriteSectors(0, [][]byte{make([]byte, 32*512)}); err != nil {
			t.Fatal(err)
		}
		for _, write := range []bool{false, true} {
			mem, err := unix.Mmap(-1, 0, 32*512, unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan any)
			go func() {
				debug.SetPanicOnFault(true)
				defer func() { done <- recover() }()
				if write {
					_ = img.WriteSectors(0, [][]byte{mem})
				} else {
					_ = img.ReadSectors(0, [][]byte{mem})
				}
			}()
			r := <-done
			_ = unix.Munmap(mem)
			_, isRuntime := r.(runtime.Error)
			_, hasAddr := r.(interface{ Addr() uintptr })
			if !isRuntime || !hasAddr {
				t.Errorf("write %t: recovered %v (%T), want a runtime.Error with Addr", write, r, r)
			}
		}
	})
}

// withEachKernel runs f as a subtest for each lane kernel this CPU has,
// that kernel active meanwhile.
func withEachKernel(t *testing.T, f func(t *testing.T)) {
	for _, k := range laneKernels() {
		t.Run(k.name, func(t *testing.T) {
			old := activeKernel
			activeKernel = k
			defer func() { activeKernel = old }()
			f(t)
		})
	}
}
