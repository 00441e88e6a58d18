package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ccmblk/ccmblk/tests/vmtest"
	"golang.org/x/sys/unix"
)

// QEMU block settings of the qemu-storage-daemon file nodes: the ones the
// benchmark asks for, and the fallback where the image directory refuses
// O_DIRECT.
const (
	qsdCacheDirect   = "cache.direct=on,aio=native"
	qsdCacheBuffered = "cache.direct=off,aio=threads"
)

// runner holds what every case needs.
type runner struct {
	cfg      *config
	env      *vmtest.Env
	log      *vmtest.Log
	status   io.Writer // progress lines
	initrd   string
	daemon   string // vhost-user-blk-ccm binary
	tool     string // ccmblock binary
	qemuImg  string
	qsdCache string
	notes    []string // footnotes of the table

	loadBefore string // the host's load averages when the run began
}

// caseRun is the outcome of one back end.
type caseRun struct {
	c       backendCase
	results []result // every workload of every round
	direct  bool     // the back end opened its image with O_DIRECT
}

// run builds what it needs, measures every selected back end and prints the
// report to out.
func run(cfg *config, out, status io.Writer) error {
	work, err := os.MkdirTemp(cfg.dir, "ccmblk-bench-")
	if err != nil {
		return err
	}
	logPath := filepath.Join(work, "vmbench.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		_ = os.RemoveAll(work)
		return err
	}
	var logW io.Writer = logFile
	if cfg.verbose {
		logW = io.MultiWriter(logFile, status)
	}
	r := &runner{cfg: cfg, log: vmtest.NewLog(logW), status: status, loadBefore: loadAverage()}
	runs, err := r.measure(work)
	if err != nil {
		r.log.Fail()
	}
	r.log.Close()
	_ = logFile.Close()
	if err != nil && !cfg.verbose {
		printTail(status, logPath, 40)
	}
	if cfg.keep {
		progress(status, "kept images, keys and log in %s", work)
	} else {
		_ = os.RemoveAll(work)
	}
	if err != nil {
		return err
	}
	report(out, r, runs)
	return nil
}

// measure prepares the environment and runs every selected case in turn.
func (r *runner) measure(work string) ([]caseRun, error) {
	var err error
	if r.env, err = vmtest.LoadEnv(); err != nil {
		return nil, err
	}
	if r.qemuImg, err = findQemuImg(r.env); err != nil {
		return nil, err
	}
	r.qsdCache = qsdCacheDirect
	if err := probeDirect(work); err != nil {
		r.qsdCache = qsdCacheBuffered
		r.notes = append(r.notes, fmt.Sprintf(
			"%s refuses O_DIRECT (%v): QSD file nodes use %s instead of %s", r.cfg.dir, err, qsdCacheBuffered, qsdCacheDirect))
	}
	progress(r.status, "building vhost-user-blk-ccm, ccmblock and the guest initramfs")
	r.daemon = filepath.Join(work, "vhost-user-blk-ccm")
	r.tool = filepath.Join(work, "ccmblock")
	for pkg, bin := range map[string]string{"./cmd/vhost-user-blk-ccm": r.daemon, "./cmd/ccmblock": r.tool} {
		if err := vmtest.GoBuild(pkg, bin); err != nil {
			return nil, err
		}
	}
	if r.initrd, err = vmtest.BuildInitramfs(r.env, work); err != nil {
		return nil, err
	}
	runs := make([]caseRun, len(r.cfg.cases))
	for i, name := range r.cfg.cases {
		runs[i].c, _ = findCase(name)
	}
	// The back ends take turns, so that a change in the machine's other
	// load falls on all of them.
	for round := 1; round <= r.cfg.rounds; round++ {
		for i := range runs {
			c := runs[i].c
			res, direct, err := r.runCase(work, c, round)
			if err != nil {
				return nil, fmt.Errorf("%s, round %d: %w", c.name, round, err)
			}
			runs[i].results = append(runs[i].results, res...)
			runs[i].direct = direct
		}
	}
	return runs, nil
}

// caseTimeout bounds one round of one case: image creation, a TCG boot,
// the four workloads and the power-off.
func (r *runner) caseTimeout() time.Duration {
	return 90*time.Second + 2*time.Duration(len(workloads)*r.cfg.seconds)*time.Second
}

// runCase makes the case's image, starts its back end, boots the guest's
// bench action against it and returns the guest's results with the back
// end's CPU time per workload, and whether the back end opened the image
// with O_DIRECT.
func (r *runner) runCase(work string, c backendCase, round int) (res []result, direct bool, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), r.caseTimeout())
	defer cancel()
	name := fmt.Sprintf("%s#%d", c.name, round)
	dir := filepath.Join(work, fmt.Sprintf("%s-%d", c.name, round))
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, false, err
	}
	if !r.cfg.keep {
		defer os.RemoveAll(dir)
	}
	sock := filepath.Join(dir, "vub.sock")
	progress(r.status, "%s: making a %d MiB image", name, r.cfg.size>>20)
	spec, err := c.prepare(r, dir, sock)
	if err != nil {
		return nil, false, err
	}
	be, err := vmtest.StartBackend(ctx, r.log, name, sock, spec.argv)
	if err != nil {
		return nil, false, err
	}
	rec := newRecorder(be.Pid())
	progress(r.status, "%s: booting the guest (%s) and running %s, %ds each",
		name, r.env.Accel, strings.Join(workloads, ", "), r.cfg.seconds)
	vm, err := vmtest.StartVM(ctx, r.log, r.env, vmtest.VMOptions{
		Name: "vm-" + name, Initramfs: r.initrd, Action: "bench", Backend: be,
		NumQueues: r.cfg.queues, OnMarker: rec.onMarker,
		Params: map[string]string{
			"seconds": strconv.Itoa(r.cfg.seconds),
			"cases":   strings.Join(workloads, ","),
			"qd":      "32",
			"cache":   "writeback",
		},
	})
	if err != nil {
		return nil, false, err
	}
	rec.setQEMU(vm.Pid())
	m, err := vm.Result(ctx)
	if err != nil {
		return nil, false, err
	}
	if err := vm.Wait(); err != nil {
		return nil, false, err
	}
	if direct, err = openedDirect(be.Pid(), spec.image); err != nil {
		return nil, false, err
	}
	if err := be.Stop(); err != nil {
		return nil, false, fmt.Errorf("back end did not stop cleanly: %w", err)
	}
	if got, want := m.Get("size"), strconv.FormatUint(r.cfg.size, 10); got != want {
		return nil, false, fmt.Errorf("guest saw a disk of %s bytes, want %s", got, want)
	}
	if got := m.Get("cache"); got != "write back" {
		return nil, false, fmt.Errorf("guest write cache is %q, want write back", got)
	}
	if res, err = rec.collected(); err != nil {
		return nil, false, err
	}
	if len(res) != len(workloads) {
		return nil, false, fmt.Errorf("got %d workload results, want %d", len(res), len(workloads))
	}
	for _, x := range res {
		progress(r.status, "%s: %-11s %8.0f IOPS %8.2f MB/s %7.1f CPU µs/IO (sampled over %.3fs, the guest timed %.3fs)",
			name, x.workload, x.iops, x.mbps, x.cpuPerIO(), x.wall.Seconds(), x.guestSecs)
	}
	return res, direct, nil
}

// command runs a helper program, logging its output; a failure returns the
// output with the error.
func (r *runner) command(argv ...string) error {
	r.log.Logf("run: %s", strings.Join(argv, " "))
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if len(out) > 0 {
		r.log.Logf("%s", bytes.TrimSpace(out))
	}
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", filepath.Base(argv[0]), argv[1], err, bytes.TrimSpace(out))
	}
	return nil
}

// findQemuImg returns qemu-img from beside qemu-storage-daemon, or from
// PATH.
func findQemuImg(env *vmtest.Env) (string, error) {
	p := filepath.Join(filepath.Dir(env.QSD), "qemu-img")
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	p, err := exec.LookPath("qemu-img")
	if err != nil {
		return "", fmt.Errorf("qemu-img not found (run tests/setup.sh): %v", err)
	}
	return p, nil
}

// probeDirect checks that dir accepts O_DIRECT writes and reads of 4 KiB.
func probeDirect(dir string) error {
	path := filepath.Join(dir, "direct-probe")
	defer os.Remove(path)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL|unix.O_DIRECT, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	buf, err := unix.Mmap(-1, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return err
	}
	defer unix.Munmap(buf)
	if _, err := f.WriteAt(buf, 0); err != nil {
		return err
	}
	if _, err := f.ReadAt(buf, 0); err != nil {
		return err
	}
	return nil
}

// printTail copies the last n lines of the log at path to w.
func printTail(w io.Writer, path string, n int) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	if sc.Err() != nil {
		return
	}
	progress(w, "last lines of the log (-v shows all of it, -keep keeps it):")
	for _, l := range lines {
		fmt.Fprintf(w, "  %s\n", l)
	}
}
