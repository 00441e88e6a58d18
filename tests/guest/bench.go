package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// benchCase is one workload of the bench action.
type benchCase struct {
	write bool
	bs    uint64 // bytes per request
	qd    int    // requests in flight (goroutines)
	seq   bool   // sequential (one stream) instead of uniformly random offsets
}

// benchCases are the workloads by name; qd 0 means ccmblk.qd.
var benchCases = map[string]benchCase{
	"randread4k":  {bs: 4 << 10},
	"randwrite4k": {write: true, bs: 4 << 10},
	"seqread1m":   {bs: 1 << 20, qd: 1, seq: true},
	"seqwrite1m":  {write: true, bs: 1 << 20, qd: 1, seq: true},
}

// bench runs the cases of ccmblk.cases for ccmblk.seconds each and prints
// a CCMBLK-START line before and a CCMBLK-BENCH line after each case.
func bench(d *disk, p params) ([]string, error) {
	secs, err := p.num("seconds", 3)
	if err != nil {
		return nil, err
	}
	qd, err := p.num("qd", 32)
	if err != nil {
		return nil, err
	}
	if secs == 0 || qd == 0 || qd > 1024 {
		return nil, fmt.Errorf("bench needs seconds > 0 and 0 < qd <= 1024")
	}
	cache, err := d.sys("cache_type")
	if err != nil {
		cache = "unknown"
	}
	names := strings.Split(p.str("cases", "randread4k,randwrite4k,seqread1m,seqwrite1m"), ",")
	for _, name := range names {
		c, ok := benchCases[name]
		if !ok {
			return nil, fmt.Errorf("unknown bench case %q", name)
		}
		if c.qd == 0 {
			c.qd = int(qd)
		}
		if d.size < c.bs {
			return nil, fmt.Errorf("disk of %d bytes is smaller than one %d-byte request", d.size, c.bs)
		}
		// The host samples its back end's CPU time when it sees this line
		// and the case's CCMBLK-BENCH line.
		say("CCMBLK-START %s", kv("case", name))
		ios, elapsed, err := runCase(d, c, time.Duration(secs)*time.Second)
		if err != nil {
			return nil, fmt.Errorf("bench %s: %w", name, err)
		}
		s := elapsed.Seconds()
		say("CCMBLK-BENCH %s %s %s %s %s %s %s", kv("case", name), kv("bs", c.bs), kv("qd", c.qd),
			kv("seconds", fmt.Sprintf("%.3f", s)), kv("ios", ios),
			kv("iops", fmt.Sprintf("%.0f", float64(ios)/s)),
			kv("mbps", fmt.Sprintf("%.2f", float64(ios)*float64(c.bs)/s/1e6)))
	}
	return []string{kv("cases", len(names)), kv("size", d.size), kv("cache", cache)}, nil
}

// runCase runs c for about dur and returns the number of completed requests
// and the time they took.
func runCase(d *disk, c benchCase, dur time.Duration) (uint64, time.Duration, error) {
	flag := os.O_RDONLY
	if c.write {
		flag = os.O_RDWR
	}
	f, err := d.open(flag)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	blocks := d.size / c.bs
	start := time.Now()
	deadline := start.Add(dur)
	counts := make([]uint64, c.qd)
	errs := make([]error, c.qd)
	var wg sync.WaitGroup
	for w := range c.qd {
		wg.Add(1)
		go func() {
			defer wg.Done()
			counts[w], errs[w] = worker(f, c, blocks, uint64(w), deadline)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	var total uint64
	for w := range c.qd {
		if errs[w] != nil {
			return 0, 0, errs[w]
		}
		total += counts[w]
	}
	if c.write {
		if err := f.Sync(); err != nil {
			return 0, 0, err
		}
	}
	return total, elapsed, nil
}

// worker issues requests one after another until deadline.
func worker(f *os.File, c benchCase, blocks, id uint64, deadline time.Time) (uint64, error) {
	buf, err := alignedBuf(int(c.bs))
	if err != nil {
		return 0, err
	}
	defer unix.Munmap(buf)
	for i := range buf {
		buf[i] = byte(i*31) ^ byte(id)
	}
	rng := rand.New(rand.NewPCG(id, uint64(time.Now().UnixNano())))
	var n uint64
	for time.Now().Before(deadline) {
		blk := n % blocks
		if !c.seq {
			blk = rng.Uint64N(blocks)
		}
		off := blk * c.bs
		if c.write {
			err = pwriteFull(f, buf, off)
		} else {
			err = preadFull(f, buf, off)
		}
		if err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
