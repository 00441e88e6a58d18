package main

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// chunkBytes is how much plaintext one step of a run handles: large enough
// that the engine batches many sectors per system call, small enough that
// every worker's buffer stays modest.
const chunkBytes = 1 << 20

// chunkFunc processes logical sectors [start, start+len(buf)/P); buf is the
// worker's scratch buffer cut to exactly that many whole sectors.
type chunkFunc func(start uint64, buf []byte) error

// forChunks calls fn for every chunk of the logical sectors [0, total),
// spread over GOMAXPROCS goroutines that each own one buffer. It stops
// handing out chunks at the first error and returns that error once all
// workers have stopped. prog is advanced by each finished chunk.
func forChunks(total uint64, sectorSize int, prog *progress, fn chunkFunc) error {
	per := uint64(chunkBytes / sectorSize)
	chunks := (total + per - 1) / per
	workers := uint64(runtime.GOMAXPROCS(0))
	workers = max(1, min(workers, chunks))

	var (
		next    atomic.Uint64
		stopped atomic.Bool
		errOnce sync.Once
		first   error
		wg      sync.WaitGroup
	)
	for range workers {
		wg.Go(func() {
			buf := make([]byte, per*uint64(sectorSize))
			for !stopped.Load() {
				i := next.Add(1) - 1
				if i >= chunks {
					return
				}
				start := i * per
				n := min(per, total-start)
				if err := fn(start, buf[:n*uint64(sectorSize)]); err != nil {
					errOnce.Do(func() { first = err })
					stopped.Store(true)
					return
				}
				prog.add(n * uint64(sectorSize))
			}
		})
	}
	waitWithProgress(&wg, prog)
	return first
}

// waitWithProgress waits for wg, ticking prog meanwhile.
func waitWithProgress(wg *sync.WaitGroup, prog *progress) {
	if prog.w == nil {
		wg.Wait()
		prog.finish(time.Now())
		return
	}
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	t := time.NewTicker(progressEvery)
	defer t.Stop()
	for {
		select {
		case <-done:
			prog.finish(time.Now())
			return
		case now := <-t.C:
			prog.tick(now)
		}
	}
}
