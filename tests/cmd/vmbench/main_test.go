package main

import (
	"os"
	"slices"
	"testing"
	"time"

	"github.com/ccmblk/ccmblk/tests/vmtest"
	"golang.org/x/sys/unix"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]uint64{
		"256M": 256 << 20, "1g": 1 << 30, "1024K": 1 << 20, "1048576": 1 << 20, " 64M ": 64 << 20,
	} {
		got, err := parseSize(in)
		if err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "1000K", "1.5G", "-1M", "65G", "M", "12X", "18446744073709551615G"} {
		if got, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) = %d, want an error", in, got)
		}
	}
}

func TestParseFlags(t *testing.T) {
	cfg, err := parseFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.seconds != 3 || cfg.rounds != 3 || cfg.size != 256<<20 || cfg.queues != 1 || cfg.dir != "/dev/shm" ||
		!slices.Equal(cfg.cases, []string{"qsd-raw", "qsd-luks", "raw", "ccm"}) {
		t.Errorf("defaults = %+v", cfg)
	}
	cfg, err = parseFlags([]string{"-cases", "ccm,qsd-luks", "-seconds", "5", "-queues", "2", "-size", "64M", "-keep", "-v"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.cases, []string{"ccm", "qsd-luks"}) || cfg.seconds != 5 || cfg.queues != 2 ||
		cfg.size != 64<<20 || !cfg.keep || !cfg.verbose {
		t.Errorf("parsed = %+v", cfg)
	}
	for _, args := range [][]string{
		{"-cases", "ccm,nbd"}, {"-cases", "ccm,ccm"}, {"-cases", ""}, {"-seconds", "0"},
		{"-queues", "0"}, {"-size", "3K"}, {"-rounds", "0"}, {"extra"},
	} {
		if _, err := parseFlags(args); err == nil {
			t.Errorf("parseFlags(%q) accepted", args)
		}
	}
}

// marker parses a console line the guest prints.
func marker(t *testing.T, line string) vmtest.Marker {
	t.Helper()
	m, ok := vmtest.ParseMarker(line)
	if !ok {
		t.Fatalf("no marker in %q", line)
	}
	return m
}

func TestRecorder(t *testing.T) {
	rec := newRecorder(os.Getpid())
	rec.setQEMU(os.Getpid())
	rec.onMarker(marker(t, "CCMBLK-START case=randread4k"))
	burnCPU(t, 50*time.Millisecond)
	rec.onMarker(marker(t, "CCMBLK-OK action=bench cases=1"))
	rec.onMarker(marker(t, "CCMBLK-BENCH case=randread4k bs=4096 qd=32 seconds=3.000 ios=3000 iops=1000 mbps=4.10"))
	res, err := rec.collected()
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 {
		t.Fatalf("got %d results, want 1", len(res))
	}
	r := res[0]
	if r.workload != "randread4k" || r.ios != 3000 || r.iops != 1000 || r.mbps != 4.1 || r.guestSecs != 3 {
		t.Errorf("result = %+v", r)
	}
	// The kernel charged at least 50 ms, give or take a clock tick.
	if r.backend.cpu() < 40*time.Millisecond || r.qemuCPU < 40*time.Millisecond || r.wall < 40*time.Millisecond {
		t.Errorf("span: backend %v, qemu %v, wall %v; want at least 40ms each", r.backend.cpu(), r.qemuCPU, r.wall)
	}
	if got, want := r.cpuPerIO(), float64(r.backend.cpu().Microseconds())/3000; got != want {
		t.Errorf("cpuPerIO = %v, want %v", got, want)
	}

	for _, line := range []string{
		"CCMBLK-BENCH case=seqread1m ios=1 iops=1 mbps=1 seconds=1",            // no start line
		"CCMBLK-BENCH case=randread4k bs=4096 ios=many iops=1000 mbps=4.10",    // bad count
		"CCMBLK-BENCH case=randread4k bs=4096 ios=3 iops=1000 mbps=fast",       // bad rate
		"CCMBLK-BENCH case=randread4k bs=4096 ios=3 iops=1000 mbps=\"4.1 MB\"", // quoted garbage
		"CCMBLK-BENCH case=randread4k bs=4096 ios=3 iops=1000 mbps=4.1",        // no seconds
	} {
		rec := newRecorder(os.Getpid())
		rec.onMarker(marker(t, "CCMBLK-START case=randread4k"))
		rec.onMarker(marker(t, line))
		if _, err := rec.collected(); err == nil {
			t.Errorf("recorder accepted %q", line)
		}
	}
	rec = newRecorder(-1)
	rec.onMarker(marker(t, "CCMBLK-START case=randread4k"))
	if _, err := rec.collected(); err == nil {
		t.Error("recorder sampled a process that does not exist")
	}
}

// burnCPU spins until the kernel has charged this process d more CPU
// time: on a loaded machine wall time says little about CPU time.
func burnCPU(t *testing.T, d time.Duration) {
	t.Helper()
	used := func() time.Duration {
		var ru unix.Rusage
		if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
			t.Fatal(err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	for start := used(); used()-start < d; {
		for x := 0; x < 1e6; x++ {
			_ = x * x
		}
	}
}

func TestTargets(t *testing.T) {
	run := func(name string, rs ...result) caseRun {
		c, ok := findCase(name)
		if !ok {
			t.Fatalf("no case %s", name)
		}
		return caseRun{c: c, results: rs}
	}
	ms := time.Millisecond
	runs := []caseRun{
		run("qsd-luks", result{workload: "seqread1m", mbps: 400}, result{workload: "randread4k", ios: 1000, backend: counters{user: 10 * ms}}),
		run("ccm", result{workload: "seqread1m", mbps: 800}, result{workload: "randread4k", ios: 1000, backend: counters{user: 5 * ms, sys: 6 * ms}}),
	}
	for _, tc := range []struct {
		what  string
		ratio float64
		met   bool
	}{
		{"CCM 1 MiB seq read MB/s vs QSD LUKS", 2, true},
		{"CCM CPU per 4 KiB read vs QSD LUKS", 1.1, false},
	} {
		i := slices.IndexFunc(targets, func(t target) bool { return t.what == tc.what })
		if i < 0 {
			t.Fatalf("no target %q", tc.what)
		}
		o, ok := targets[i].evaluate(runs)
		if !ok || o.ratio != tc.ratio || o.met != tc.met {
			t.Errorf("%s: %+v, %v; want ratio %v met %v", tc.what, o, ok, tc.ratio, tc.met)
		}
	}
	for _, tg := range targets {
		if tg.a == "raw" {
			if _, ok := tg.evaluate(runs); ok {
				t.Errorf("%s evaluated without its back ends", tg.what)
			}
		}
	}
}

func TestReadCounters(t *testing.T) {
	c, err := readCounters(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if c.syscr == 0 || c.ctxsw == 0 {
		t.Errorf("counters of this process = %+v, want system calls and context switches", c)
	}
	if _, err := readCounters(-1); err == nil {
		t.Error("readCounters(-1) succeeded")
	}
}

func TestAggregate(t *testing.T) {
	ms := time.Millisecond
	rs := []result{
		{workload: "randread4k", ios: 1000, iops: 300, mbps: 1.2, wall: time.Second, backend: counters{user: 10 * ms, syscr: 2000}},
		{workload: "randread4k", ios: 1000, iops: 100, mbps: 0.4, wall: time.Second, backend: counters{user: 40 * ms, syscr: 1000}},
		{workload: "randread4k", ios: 2000, iops: 200, mbps: 0.8, wall: time.Second, backend: counters{sys: 40 * ms, syscr: 9000}},
	}
	f := aggregate(rs)
	want := figures{iops: 200, mbps: 0.8, cpuPerIO: 20, userPerIO: 10, sysPerIO: 0, syscrPerIO: 2,
		backendPct: 4, cpuMin: 10, cpuMax: 40, rounds: 3}
	if f != want {
		t.Errorf("aggregate = %+v\nwant        %+v", f, want)
	}
	if got := median([]float64{4, 1, 3, 2}); got != 2.5 {
		t.Errorf("median of 1..4 = %v, want 2.5", got)
	}
	runs := []caseRun{{c: backendCases[0], results: rs}}
	if _, ok := cell(runs, backendCases[0].name, "seqread1m"); ok {
		t.Error("cell found a workload that did not run")
	}
	if got, ok := cell(runs, backendCases[0].name, "randread4k"); !ok || got != want {
		t.Errorf("cell = %+v, %v", got, ok)
	}
}

func TestWrap(t *testing.T) {
	got := wrap("aaa bbb ccc averyveryverylongword d", "- ", "  ", 10)
	want := "- aaa bbb\n  ccc\n  averyveryverylongword\n  d"
	if got != want {
		t.Errorf("wrap = %q, want %q", got, want)
	}
}

func TestOpenedDirect(t *testing.T) {
	dir := t.TempDir()
	buffered, direct := dir+"/buffered", dir+"/direct"
	f, err := os.Create(buffered)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got, err := openedDirect(os.Getpid(), buffered); err != nil || got {
		t.Errorf("openedDirect(buffered) = %v, %v; want false", got, err)
	}
	g, err := os.OpenFile(direct, os.O_RDWR|os.O_CREATE|unix.O_DIRECT, 0o600)
	if err != nil {
		t.Fatalf("%s refuses O_DIRECT: %v", dir, err)
	}
	defer g.Close()
	if got, err := openedDirect(os.Getpid(), direct); err != nil || !got {
		t.Errorf("openedDirect(direct) = %v, %v; want true", got, err)
	}
	if _, err := openedDirect(os.Getpid(), dir+"/none"); err == nil {
		t.Error("openedDirect found a file that is not open")
	}
}
