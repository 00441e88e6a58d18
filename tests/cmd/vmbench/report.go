package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

// target is one of the project's goals, a ratio of a metric of one back end
// over another's for one workload.
type target struct {
	what     string
	a, b     string // case names: the ratio is a / b
	workload string
	metric   string // "MB/s" or "CPU/IO"
	atLeast  bool   // met when ratio >= bound (else when ratio <= bound)
	bound    float64
}

// targets are the ratios issue "Speed" asks for.
var targets = []target{
	{"CCM 1 MiB seq read MB/s vs QSD LUKS", "ccm", "qsd-luks", "seqread1m", "MB/s", true, 2},
	{"CCM 1 MiB seq write MB/s vs QSD LUKS", "ccm", "qsd-luks", "seqwrite1m", "MB/s", true, 2},
	{"CCM CPU per 4 KiB read vs QSD LUKS", "ccm", "qsd-luks", "randread4k", "CPU/IO", false, 1},
	{"CCM CPU per 4 KiB write vs QSD LUKS", "ccm", "qsd-luks", "randwrite4k", "CPU/IO", false, 1},
	{"raw 1 MiB seq read MB/s vs QSD raw", "raw", "qsd-raw", "seqread1m", "MB/s", true, 1},
	{"raw CPU per 4 KiB read vs QSD raw", "raw", "qsd-raw", "randread4k", "CPU/IO", false, 1},
	{"raw CPU per 4 KiB write vs QSD raw", "raw", "qsd-raw", "randwrite4k", "CPU/IO", false, 1},
}

// value returns the target's metric of f.
func (t target) value(f figures) float64 {
	if t.metric == "MB/s" {
		return f.mbps
	}
	return f.cpuPerIO
}

// outcome is a target's figures in one run.
type outcome struct {
	a, b  float64 // the metric of the two back ends
	ratio float64 // a / b (0 when b is 0)
	met   bool
}

// evaluate computes the target from runs; ok is false when either back
// end or the workload was not measured.
func (t target) evaluate(runs []caseRun) (o outcome, ok bool) {
	fa, okA := cell(runs, t.a, t.workload)
	fb, okB := cell(runs, t.b, t.workload)
	if !okA || !okB {
		return o, false
	}
	o.a, o.b = t.value(fa), t.value(fb)
	if o.b > 0 {
		o.ratio = o.a / o.b
		o.met = t.atLeast && o.ratio >= t.bound || !t.atLeast && o.ratio <= t.bound
	}
	return o, true
}

// report prints the results table, the target ratios and the notes.
func report(w io.Writer, r *runner, runs []caseRun) {
	cfg := r.cfg
	fmt.Fprintf(w, "\nccmblk VM benchmark, %s\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(w, "host: %s, %d CPUs, load average %s before the run; guest: 1 vCPU under %s, virtio-blk num-queues %d (every back end), write cache write back\n",
		cpuModel(), runtime.NumCPU(), r.loadBefore, r.env.Accel, cfg.queues)
	fmt.Fprintf(w, "images: %d MiB guest-visible each, in %s; %d s per workload; random 4 KiB at QD32, sequential 1 MiB at QD1, O_DIRECT\n\n",
		cfg.size>>20, cfg.dir, cfg.seconds)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "back end\tworkload\tIOPS\tMB/s\tCPU µs/IO\t(range)\tback-end CPU %\tQEMU CPU %\t")
	eachCell(runs, func(label, workload string, f figures) {
		fmt.Fprintf(tw, "%s\t%s\t%.0f\t%.1f\t%.1f\t%.1f-%.1f\t%.0f\t%.0f\t\n", label, workload, f.iops, f.mbps,
			f.cpuPerIO, f.cpuMin, f.cpuMax, f.backendPct, f.qemuPct)
	})
	_ = tw.Flush()

	fmt.Fprintln(w, "\nwhere the back end's time goes, per I/O:")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "back end\tworkload\tuser µs\tsystem µs\tread syscalls\twrite syscalls\tcontext switches\t")
	eachCell(runs, func(label, workload string, f figures) {
		fmt.Fprintf(tw, "%s\t%s\t%.1f\t%.1f\t%.2f\t%.2f\t%.2f\t\n", label, workload,
			f.userPerIO, f.sysPerIO, f.syscrPerIO, f.syscwPerIO, f.ctxswPerIO)
	})
	_ = tw.Flush()

	fmt.Fprintln(w, "\ntargets (ratios of the medians):")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, t := range targets {
		o, ok := t.evaluate(runs)
		if !ok {
			fmt.Fprintf(tw, "  %s\t\t\tnot measured (needs -cases %s,%s)\t\n", t.what, t.b, t.a)
			continue
		}
		cmp, status := "<=", "not met"
		if t.atLeast {
			cmp = ">="
		}
		if o.met {
			status = "met"
		}
		fmt.Fprintf(tw, "  %s\t%.2fx\t(%s %.1f / %s %.1f %s)\ttarget %s %gx: %s\t\n",
			t.what, o.ratio, t.a, o.a, t.b, o.b, t.metric, cmp, t.bound, status)
	}
	_ = tw.Flush()

	fmt.Fprintln(w, "\nnotes:")
	notes := []string{
		"CPU µs/IO: the back end's utime+stime (/proc/PID/stat, all threads, 10 ms ticks) from the guest's " +
			"CCMBLK-START line to its CCMBLK-BENCH line (after the write workloads' fsync), over the requests the guest completed; " +
			"the host samples as each console line arrives, so its window is within a few ms (rarely tens of ms) of the guest's " +
			"own timing (both are in the progress lines), and the back end is idle between workloads",
		"back-end / QEMU CPU %: each process's CPU time over the host's wall time of the workload (100 = one core)",
		fmt.Sprintf("%d round(s), the back ends taking turns; every figure is the median over the rounds, (range) the lowest and highest CPU µs/IO", r.cfg.rounds),
		"read/write syscalls: syscr/syscw of /proc/PID/io (read(2)/preadv(2)-like and write(2)/pwritev(2)-like calls; " +
			"io_submit, recvmsg and sendmsg are not counted); context switches: voluntary+involuntary of the threads alive at both samples",
		fmt.Sprintf("QSD: file nodes with %s, export in the main loop (no iothread); LUKS via driver=luks over the file node", r.qsdCache),
		"image opened with O_DIRECT (from /proc/PID/fdinfo): " + directList(runs),
	}
	if r.env.Accel == "tcg" {
		notes = append(notes, "TCG: the emulated guest caps IOPS and MB/s; CPU per I/O is the figure that separates back ends")
	}
	for _, n := range append(notes, r.notes...) {
		fmt.Fprintf(w, "%s\n", wrap(n, "  - ", "    ", 100))
	}
}

// directList names, for each back end, whether it opened its image with
// O_DIRECT.
func directList(runs []caseRun) string {
	parts := make([]string, len(runs))
	for i, cr := range runs {
		parts[i] = cr.c.label + " no"
		if cr.direct {
			parts[i] = cr.c.label + " yes"
		}
	}
	return strings.Join(parts, ", ")
}

// wrap breaks s into lines of at most width bytes where it can, the first
// starting with first and the others with rest.
func wrap(s, first, rest string, width int) string {
	var b strings.Builder
	line, words := first, 0
	for _, word := range strings.Fields(s) {
		if words > 0 && len(line)+1+len(word) > width {
			b.WriteString(line + "\n")
			line, words = rest, 0
		}
		if words > 0 {
			line += " "
		}
		line += word
		words++
	}
	b.WriteString(line)
	return b.String()
}

// eachCell calls fn with the figures of every back end and workload
// measured, in the order they ran.
func eachCell(runs []caseRun, fn func(label, workload string, f figures)) {
	for _, cr := range runs {
		for _, wl := range workloads {
			if f, ok := cell(runs, cr.c.name, wl); ok {
				fn(cr.c.label, wl, f)
			}
		}
	}
}

// cpuModel returns the host CPU's model name from /proc/cpuinfo.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

// loadAverage returns the host's 1-, 5- and 15-minute load averages: other
// work on the machine skews the figures.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if err != nil || len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
