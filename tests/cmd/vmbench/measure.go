package main

import (
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/ccmblk/ccmblk/tests/vmtest"
)

// workloads are the guest's bench cases, in the order they run.
var workloads = []string{"randread4k", "randwrite4k", "seqread1m", "seqwrite1m"}

// sample is the back end's counters and QEMU's CPU time, taken when a
// marker line arrived.
type sample struct {
	at      time.Time
	backend counters
	qemu    time.Duration
}

// result is one workload's outcome on one back end.
type result struct {
	workload   string
	ios        uint64        // requests the guest completed
	iops, mbps float64       // as the guest reports them
	guestSecs  float64       // the guest's timing of its requests
	wall       time.Duration // host time from the start line to the result line
	backend    counters      // the back end's counters over the same span
	qemuCPU    time.Duration // QEMU's (the guest's) CPU time over the span
}

// cpuPerIO returns the back end's CPU microseconds per request.
func (r result) cpuPerIO() float64 {
	return perIO(r.backend.cpu().Microseconds(), r)
}

// perIO returns n divided by the requests of r.
func perIO[T int64 | uint64](n T, r result) float64 {
	if r.ios == 0 {
		return 0
	}
	return float64(n) / float64(r.ios)
}

// recorder turns the guest's markers into results, sampling CPU times as
// each CCMBLK-START and CCMBLK-BENCH line arrives.
type recorder struct {
	mu         sync.Mutex
	backendPid int
	qemuPid    int // 0 until the VM has started
	starts     map[string]sample
	results    []result
	err        error // first sampling or parsing error
}

// newRecorder returns a recorder for the back end process pid.
func newRecorder(backendPid int) *recorder {
	return &recorder{backendPid: backendPid, starts: map[string]sample{}}
}

// setQEMU records the VM's process id.
func (rec *recorder) setQEMU(pid int) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.qemuPid = pid
}

// onMarker is the VM's marker callback.
func (rec *recorder) onMarker(m vmtest.Marker) {
	if m.Kind != vmtest.MarkerStart && m.Kind != vmtest.MarkerBench {
		return
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	s, err := rec.sampleLocked()
	if err == nil {
		err = rec.recordLocked(m, s)
	}
	if err != nil && rec.err == nil {
		rec.err = err
	}
}

// sampleLocked reads both processes' CPU times. Preconditions: rec.mu held.
func (rec *recorder) sampleLocked() (sample, error) {
	s := sample{at: time.Now()}
	var err error
	if s.backend, err = readCounters(rec.backendPid); err != nil {
		return s, err
	}
	if rec.qemuPid != 0 {
		if s.qemu, err = vmtest.ProcessCPUTime(rec.qemuPid); err != nil {
			return s, err
		}
	}
	return s, nil
}

// recordLocked stores a start sample or completes a result.
// Preconditions: rec.mu held.
func (rec *recorder) recordLocked(m vmtest.Marker, s sample) error {
	name := m.Get("case")
	if m.Kind == vmtest.MarkerStart {
		rec.starts[name] = s
		return nil
	}
	start, ok := rec.starts[name]
	if !ok {
		return fmt.Errorf("vmbench: result of %s without its start line", name)
	}
	r := result{workload: name, wall: s.at.Sub(start.at),
		backend: s.backend.sub(start.backend), qemuCPU: s.qemu - start.qemu}
	var err error
	if r.ios, err = strconv.ParseUint(m.Get("ios"), 10, 64); err != nil {
		return fmt.Errorf("vmbench: %s: ios: %v", m.Line, err)
	}
	if r.iops, err = strconv.ParseFloat(m.Get("iops"), 64); err != nil {
		return fmt.Errorf("vmbench: %s: iops: %v", m.Line, err)
	}
	if r.mbps, err = strconv.ParseFloat(m.Get("mbps"), 64); err != nil {
		return fmt.Errorf("vmbench: %s: mbps: %v", m.Line, err)
	}
	if r.guestSecs, err = strconv.ParseFloat(m.Get("seconds"), 64); err != nil {
		return fmt.Errorf("vmbench: %s: seconds: %v", m.Line, err)
	}
	rec.results = append(rec.results, r)
	return nil
}

// collected returns the results so far and the first error.
func (rec *recorder) collected() ([]result, error) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]result(nil), rec.results...), rec.err
}
