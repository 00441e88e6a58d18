package vmtest

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"io"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// TB is the part of testing.TB the harness needs; *testing.T and
// *testing.B satisfy it, and a command can supply its own.
type TB interface {
	Helper()
	Logf(format string, args ...any)
	Cleanup(func())
	Failed() bool
}

// VMOptions describe one guest run.
type VMOptions struct {
	Name      string            // log prefix; default "vm"
	Initramfs string            // from BuildInitramfs
	Action    string            // guest action (ccmblk.action)
	Params    map[string]string // further ccmblk.* parameters, without the prefix
	Socket    string            // vhost-user-blk socket to attach; "" for no disk
	Backend   *Backend          // the back end serving Socket (sets Socket when that is empty)
	NumQueues int               // virtqueues of the disk; default 1
	MemMiB    int               // guest RAM; default 256
	CPUs      int               // vCPUs; default 1
	// CPUModel is QEMU's -cpu; default "max". Live migration under TCG
	// needs "max,vendor=GenuineIntel" on both ends.
	CPUModel string
	// QMP, when set, is a unix socket path where QEMU serves QMP.
	QMP string
	// Incoming, when set, starts QEMU as a migration destination waiting
	// on this URI (-incoming).
	Incoming string

	// OnMarker, when set, is called with each marker as soon as its
	// console line is read, before Expect and Markers see it. It runs on
	// the console reader goroutine and must return quickly.
	OnMarker func(Marker)
}

// VM is a running QEMU process whose console is being watched.
type VM struct {
	name    string
	args    []string
	tb      TB
	cmd     *exec.Cmd
	start   time.Time
	backend *Backend
	onMark  func(Marker)

	mu      sync.Mutex
	markers []Marker
	changed chan struct{} // closed and replaced whenever markers or exited change
	exited  bool

	readers  sync.WaitGroup
	done     chan struct{} // closed once QEMU has exited and its output is logged
	waitOnce sync.Once
	waitErr  error
	exitedAt time.Time
}

// Args returns the QEMU command line for opts; StartVM runs exactly this.
func (env *Env) Args(o VMOptions) []string {
	mem := o.MemMiB
	if mem == 0 {
		mem = 256
	}
	cpus := max(o.CPUs, 1)
	queues := max(o.NumQueues, 1)
	appendLine := []string{"console=ttyS0", "panic=-1", "ccmblk.action=" + o.Action}
	if !env.KernelVerbose {
		// Warnings and errors (such as block I/O errors) still reach the
		// console; the rest costs about 0.2s of a TCG boot.
		appendLine = append(appendLine, "quiet")
	}
	keys := make([]string, 0, len(o.Params))
	for k := range o.Params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		appendLine = append(appendLine, "ccmblk."+k+"="+o.Params[k])
	}
	smp := strconv.Itoa(cpus)
	if env.Accel == "tcg" && cpus == 1 {
		// QEMU before 8.1 leaves out the guest's memory barriers when TCG
		// runs a machine that can only ever have one vCPU (fixed by
		// QEMU commit c914d46d "tcg: Do not elide memory barriers for
		// !CF_PARALLEL in system mode"). The virtio EVENT_IDX handshake
		// with an out-of-process back end needs them: without, a kick or
		// an interrupt is lost now and then and the guest's I/O hangs.
		smp += ",maxcpus=2"
	}
	args := []string{env.QEMU,
		"-machine", "q35", "-accel", env.Accel, "-cpu", cmp.Or(o.CPUModel, "max"),
		"-smp", smp, "-m", strconv.Itoa(mem),
		"-object", fmt.Sprintf("memory-backend-memfd,id=mem,size=%dM,share=on", mem),
		"-numa", "node,memdev=mem",
		"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
		"-serial", "stdio",
	}
	if o.QMP != "" {
		args = append(args, "-qmp", "unix:"+o.QMP+",server=on,wait=off")
	}
	if o.Incoming != "" {
		args = append(args, "-incoming", o.Incoming)
	}
	if env.Firmware != "" {
		args = append(args, "-bios", env.Firmware)
	}
	args = append(args, "-kernel", env.Kernel, "-initrd", o.Initramfs, "-append", strings.Join(appendLine, " "))
	if o.Socket != "" {
		args = append(args,
			"-chardev", "socket,id=vub0,path="+o.Socket+",reconnect=1",
			"-device", fmt.Sprintf("vhost-user-blk-pci,chardev=vub0,num-queues=%d", queues))
	}
	return args
}

// cleanupGrace is how long the cleanup of a passed test lets a guest finish
// powering off before it kills QEMU.
const cleanupGrace = 10 * time.Second

// StartVM boots a guest. The VM is killed when ctx ends, and the guest gets
// a matching ccmblk.timeout so that it reports a timeout itself first. A
// cleanup registered on tb waits for QEMU (killing it at once when the test
// failed, or after cleanupGrace otherwise) and, when the test failed, logs
// the command line again.
func StartVM(ctx context.Context, tb TB, env *Env, o VMOptions) (*VM, error) {
	tb.Helper()
	if o.Name == "" {
		o.Name = "vm"
	}
	if o.Backend != nil && o.Socket == "" {
		o.Socket = o.Backend.Socket()
	}
	if _, ok := o.Params["timeout"]; !ok {
		secs := 120
		if dl, ok := ctx.Deadline(); ok {
			secs = max(int(time.Until(dl).Seconds())-5, 5)
		}
		o.Params = withParam(o.Params, "timeout", strconv.Itoa(secs))
	}
	vm := &VM{name: o.Name, args: env.Args(o), tb: tb, backend: o.Backend, onMark: o.OnMarker,
		changed: make(chan struct{}), done: make(chan struct{})}
	vm.cmd = exec.CommandContext(ctx, vm.args[0], vm.args[1:]...)
	vm.cmd.WaitDelay = 5 * time.Second
	stdout, err := vm.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := vm.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	tb.Logf("%s: starting (accel %s): %s", vm.name, env.Accel, vm.Cmdline())
	vm.start = time.Now()
	if err := vm.cmd.Start(); err != nil {
		return nil, fmt.Errorf("vmtest: start qemu: %v", err)
	}
	vm.readers.Add(2)
	go vm.readConsole(stdout)
	go vm.logStream(stderr, vm.name+"/qemu")
	// The reaper marks the VM exited for Expect; Wait (also called by the
	// cleanup below) joins it.
	go func() { _ = vm.Wait() }()
	tb.Cleanup(func() {
		grace := cleanupGrace
		if tb.Failed() {
			grace = 0
		}
		select {
		case <-vm.done:
		case <-time.After(grace):
			// Nothing waits for this guest any more: stop it now rather
			// than at the deadline.
			_ = vm.cmd.Process.Kill()
		}
		if err := vm.Wait(); err != nil {
			tb.Logf("%s: %v", vm.name, err)
		}
		if tb.Failed() {
			tb.Logf("%s: reproduce with: %s", vm.name, vm.Cmdline())
		}
	})
	return vm, nil
}

// withParam returns a copy of p with k set to v.
func withParam(p map[string]string, k, v string) map[string]string {
	q := make(map[string]string, len(p)+1)
	for pk, pv := range p {
		q[pk] = pv
	}
	q[k] = v
	return q
}

// Pid returns the process id of QEMU.
func (vm *VM) Pid() int { return vm.cmd.Process.Pid }

// Cmdline returns the QEMU command line, shell-quoted.
func (vm *VM) Cmdline() string { return shellQuote(vm.args) }

// readConsole logs the serial console and records the markers on it.
func (vm *VM) readConsole(r io.Reader) {
	defer vm.readers.Done()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		vm.tb.Logf("%s: %s", vm.name, line)
		if m, ok := ParseMarker(line); ok {
			if vm.onMark != nil {
				vm.onMark(m)
			}
			if m.Kind == MarkerOK || m.Kind == MarkerFail {
				vm.tb.Logf("%s: result after %.2fs", vm.name, time.Since(vm.start).Seconds())
			}
			vm.mu.Lock()
			vm.markers = append(vm.markers, m)
			vm.notifyLocked()
			vm.mu.Unlock()
		}
	}
}

// logStream copies r into the log, one line at a time.
func (vm *VM) logStream(r io.Reader, prefix string) {
	defer vm.readers.Done()
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		vm.tb.Logf("%s: %s", prefix, sc.Text())
	}
}

// notifyLocked wakes the waiters of Expect. Preconditions: vm.mu held.
func (vm *VM) notifyLocked() {
	close(vm.changed)
	vm.changed = make(chan struct{})
}

// Expect waits for a marker of the given kind and returns the first one. It
// returns an error as soon as the guest prints a CCMBLK-FAIL line, QEMU
// exits without the marker, the VM's back end exits, or ctx ends.
func (vm *VM) Expect(ctx context.Context, kind string) (Marker, error) {
	var backendExited <-chan struct{} // nil: never ready
	if vm.backend != nil {
		backendExited = vm.backend.Exited()
	}
	for {
		vm.mu.Lock()
		for _, m := range vm.markers {
			if m.Kind == kind {
				vm.mu.Unlock()
				return m, nil
			}
			if m.Kind == MarkerFail {
				vm.mu.Unlock()
				return m, fmt.Errorf("vmtest: %s: guest failed: action %s: %s", vm.name, m.Get("action"), m.Get("err"))
			}
		}
		exited, changed := vm.exited, vm.changed
		vm.mu.Unlock()
		if exited {
			return Marker{}, fmt.Errorf("vmtest: %s: qemu exited without printing %s: %v", vm.name, kind, vm.waitErr)
		}
		select {
		case <-changed:
		case <-backendExited:
			// QEMU would wait for the back end to come back; the
			// guest's I/O hangs meanwhile, so fail now.
			return Marker{}, fmt.Errorf("vmtest: %s: back end %s exited before %s: %v",
				vm.name, vm.backend.Name(), kind, vm.backend.Wait())
		case <-ctx.Done():
			return Marker{}, fmt.Errorf("vmtest: %s: waiting for %s: %w", vm.name, kind, ctx.Err())
		}
	}
}

// Result waits for the guest's final line and returns its CCMBLK-OK marker,
// or an error describing the CCMBLK-FAIL line or the missing result.
func (vm *VM) Result(ctx context.Context) (Marker, error) {
	return vm.Expect(ctx, MarkerOK)
}

// Markers returns the markers of the given kind seen so far.
func (vm *VM) Markers(kind string) []Marker {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	var out []Marker
	for _, m := range vm.markers {
		if m.Kind == kind {
			out = append(out, m)
		}
	}
	return out
}

// Wait waits for QEMU to exit (the guest powers off after its result line)
// and for its output to be logged. It returns QEMU's exit error, if any.
func (vm *VM) Wait() error {
	vm.waitOnce.Do(func() {
		// Output must be drained before cmd.Wait closes the pipes.
		vm.readers.Wait()
		err := vm.cmd.Wait()
		vm.mu.Lock()
		vm.exitedAt = time.Now()
		if err != nil {
			vm.waitErr = fmt.Errorf("vmtest: %s: qemu: %w", vm.name, err)
		}
		vm.exited = true
		vm.notifyLocked()
		vm.mu.Unlock()
		close(vm.done)
	})
	return vm.waitErr
}

// Elapsed returns the time from start to QEMU's exit, or until now while it
// runs.
func (vm *VM) Elapsed() time.Duration {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	if vm.exited {
		return vm.exitedAt.Sub(vm.start)
	}
	return time.Since(vm.start)
}

// shellQuote joins args for a POSIX shell.
func shellQuote(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a != "" && strings.Trim(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=+,./:@%") == "" {
			out[i] = a
			continue
		}
		out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(out, " ")
}
