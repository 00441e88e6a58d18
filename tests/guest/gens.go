package main

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ccmblk/ccmblk/tests/pattern"
)

// genWorker is the state of one writer of the gens action, shared with
// the watchdog.
type genWorker struct {
	// since is when its write in progress began (UnixNano), 0 when idle.
	since atomic.Int64
	block atomic.Uint64
	n     uint64 // writes acknowledged
	err   error
}

// gens writes generation-tagged blocks (pattern.GenBlock) with ccmblk.workers
// O_DIRECT writers for ccmblk.seconds, each owning the blocks whose index
// modulo the worker count is its own, so that a block's last acknowledged
// generation is known. A write counts as acknowledged once pwrite returns.
// Then it gives writes in progress ccmblk.grace seconds: a request the
// device never completes shows as a stuck worker, not as an error. It
// flushes, reads every block back against the acknowledged generations,
// and reports their digest (pattern.GenDigest) for the host to check the
// image with. It prints CCMBLK-START when the writers begin.
func gens(d *disk, p params) ([]string, error) {
	secs, err := p.num("seconds", 10)
	if err != nil {
		return nil, err
	}
	workers, err := p.num("workers", 32)
	if err != nil {
		return nil, err
	}
	grace, err := p.num("grace", 10)
	if err != nil {
		return nil, err
	}
	blocks := d.size / pattern.GenBlockSize
	if secs == 0 || workers == 0 || workers > 1024 || blocks < workers {
		return nil, fmt.Errorf("gens needs seconds > 0 and 0 < workers <= min(1024, %d blocks)", blocks)
	}
	f, err := d.open(os.O_RDWR)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	acked := make([]uint64, blocks) // block b belongs to worker b%workers
	ws := make([]genWorker, workers)
	var wg sync.WaitGroup
	say("CCMBLK-START %s", kv("case", "gens"))
	deadline := time.Now().Add(time.Duration(secs) * time.Second)
	for i := range ws {
		wg.Go(func() { ws[i].run(f, uint64(i), workers, acked, deadline) })
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(time.Until(deadline) + time.Duration(grace)*time.Second):
		return nil, stuck(ws)
	}
	var writes uint64
	for i := range ws {
		if ws[i].err != nil {
			return nil, fmt.Errorf("worker %d: %w", i, ws[i].err)
		}
		writes += ws[i].n
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("fsync: %w", err)
	}
	if err := verifyGens(f, acked); err != nil {
		return nil, err
	}
	var sum uint64
	for _, g := range acked {
		sum += g
	}
	return []string{kv("blocks", blocks), kv("workers", workers), kv("writes", writes), kv("gensum", sum),
		kv("gens", pattern.GenDigest(acked))}, nil
}

// run writes the worker's blocks until deadline.
func (w *genWorker) run(f *os.File, id, workers uint64, acked []uint64, deadline time.Time) {
	buf, err := alignedBuf(pattern.GenBlockSize)
	if err != nil {
		w.err = err
		return
	}
	defer unix.Munmap(buf)
	owned := (uint64(len(acked)) - id + workers - 1) / workers
	rng := rand.New(rand.NewPCG(id, uint64(time.Now().UnixNano())))
	for time.Now().Before(deadline) {
		blk := id + rng.Uint64N(owned)*workers
		gen := acked[blk] + 1
		pattern.GenBlock(buf, blk, gen)
		w.block.Store(blk)
		w.since.Store(time.Now().UnixNano())
		err := pwriteFull(f, buf, blk*pattern.GenBlockSize)
		w.since.Store(0)
		if err != nil {
			w.err = err
			return
		}
		acked[blk] = gen
		w.n++
	}
}

// stuck describes the workers still inside a write.
func stuck(ws []genWorker) error {
	var lines []string
	for i := range ws {
		if s := ws[i].since.Load(); s != 0 {
			lines = append(lines, fmt.Sprintf("worker %d stuck in a write of block %d for %v",
				i, ws[i].block.Load(), time.Since(time.Unix(0, s)).Round(time.Second)))
		}
	}
	if len(lines) == 0 {
		return errors.New("workers did not finish although none is inside a write")
	}
	return fmt.Errorf("%d writes never completed: %s", len(lines), strings.Join(lines, "; "))
}

// verifyGens reads every block and checks it holds its acknowledged
// generation.
func verifyGens(f *os.File, acked []uint64) error {
	const chunk = 256
	buf, err := alignedBuf(chunk * pattern.GenBlockSize)
	if err != nil {
		return err
	}
	defer unix.Munmap(buf)
	for first := 0; first < len(acked); first += chunk {
		n := min(chunk, len(acked)-first)
		if err := preadFull(f, buf[:n*pattern.GenBlockSize], uint64(first)*pattern.GenBlockSize); err != nil {
			return err
		}
		for i := range n {
			blk := uint64(first + i)
			got, err := pattern.BlockGen(buf[i*pattern.GenBlockSize:], blk)
			if err != nil {
				return err
			}
			if got != acked[blk] {
				return fmt.Errorf("block %d holds generation %d, generation %d was acknowledged", blk, got, acked[blk])
			}
		}
	}
	return nil
}
