package main

import (
	"slices"
)

// figures are the numbers the report prints for one back end and
// workload: those of one round, or the median of each over the rounds.
type figures struct {
	iops, mbps float64 // as the guest reports them
	cpuPerIO   float64 // back-end CPU µs per request
	userPerIO  float64 // of which user time
	sysPerIO   float64 // of which system time
	syscrPerIO float64 // read-type system calls per request
	syscwPerIO float64 // write-type system calls per request
	ctxswPerIO float64 // context switches per request
	backendPct float64 // back-end CPU time over wall time, %
	qemuPct    float64 // QEMU's CPU time over wall time, %

	cpuMin, cpuMax float64 // range of cpuPerIO over the rounds
	rounds         int
}

// figures computes the figures of one round.
func (r result) figures() figures {
	b := r.backend
	f := figures{
		iops:       r.iops,
		mbps:       r.mbps,
		cpuPerIO:   r.cpuPerIO(),
		userPerIO:  perIO(b.user.Microseconds(), r),
		sysPerIO:   perIO(b.sys.Microseconds(), r),
		syscrPerIO: perIO(b.syscr, r),
		syscwPerIO: perIO(b.syscw, r),
		ctxswPerIO: perIO(b.ctxsw, r),
		rounds:     1,
	}
	if r.wall > 0 {
		f.backendPct = 100 * float64(b.cpu()) / float64(r.wall)
		f.qemuPct = 100 * float64(r.qemuCPU) / float64(r.wall)
	}
	f.cpuMin, f.cpuMax = f.cpuPerIO, f.cpuPerIO
	return f
}

// aggregate returns the median of each figure over rs (at least one).
func aggregate(rs []result) figures {
	fs := make([]figures, len(rs))
	for i, r := range rs {
		fs[i] = r.figures()
	}
	med := func(get func(figures) float64) float64 {
		v := make([]float64, len(fs))
		for i, f := range fs {
			v[i] = get(f)
		}
		return median(v)
	}
	out := figures{
		iops:       med(func(f figures) float64 { return f.iops }),
		mbps:       med(func(f figures) float64 { return f.mbps }),
		cpuPerIO:   med(func(f figures) float64 { return f.cpuPerIO }),
		userPerIO:  med(func(f figures) float64 { return f.userPerIO }),
		sysPerIO:   med(func(f figures) float64 { return f.sysPerIO }),
		syscrPerIO: med(func(f figures) float64 { return f.syscrPerIO }),
		syscwPerIO: med(func(f figures) float64 { return f.syscwPerIO }),
		ctxswPerIO: med(func(f figures) float64 { return f.ctxswPerIO }),
		backendPct: med(func(f figures) float64 { return f.backendPct }),
		qemuPct:    med(func(f figures) float64 { return f.qemuPct }),
		rounds:     len(fs),
	}
	out.cpuMin, out.cpuMax = fs[0].cpuPerIO, fs[0].cpuPerIO
	for _, f := range fs[1:] {
		out.cpuMin, out.cpuMax = min(out.cpuMin, f.cpuPerIO), max(out.cpuMax, f.cpuPerIO)
	}
	return out
}

// median returns the middle value of v (the mean of the two middle ones
// for an even count); v must not be empty and is reordered.
func median(v []float64) float64 {
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// cell returns the figures of workload on the back end called name over
// all rounds; ok is false when it was not measured.
func cell(runs []caseRun, name, workload string) (f figures, ok bool) {
	for _, cr := range runs {
		if cr.c.name != name {
			continue
		}
		var rs []result
		for _, x := range cr.results {
			if x.workload == workload {
				rs = append(rs, x)
			}
		}
		if len(rs) == 0 {
			return f, false
		}
		return aggregate(rs), true
	}
	return f, false
}
