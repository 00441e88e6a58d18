package vmtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Backend is a vhost-user back-end process (our daemon or
// qemu-storage-daemon) whose output is streamed into the test log.
type Backend struct {
	name   string
	socket string
	args   []string
	cmd    *exec.Cmd

	readers  sync.WaitGroup
	mu       sync.Mutex
	lines    []string      // its output, for Lines
	done     chan struct{} // closed when the process has exited
	waitErr  error
	stopOnce sync.Once
}

// StartBackend runs argv, logs its stdout and stderr with the prefix name,
// and returns once socket exists as a unix socket. It fails if the process
// exits first or ctx ends. The process is killed when ctx ends; a cleanup
// registered on tb stops it (SIGTERM).
func StartBackend(ctx context.Context, tb TB, name, socket string, argv []string) (*Backend, error) {
	tb.Helper()
	b := &Backend{name: name, socket: socket, args: argv, done: make(chan struct{})}
	b.cmd = exec.CommandContext(ctx, argv[0], argv[1:]...)
	b.cmd.WaitDelay = 5 * time.Second
	stdout, err := b.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := b.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	tb.Logf("%s: starting: %s", name, shellQuote(argv))
	if err := b.cmd.Start(); err != nil {
		return nil, fmt.Errorf("vmtest: start %s: %v", name, err)
	}
	b.readers.Add(2)
	for _, r := range []io.Reader{stdout, stderr} {
		go func() {
			defer b.readers.Done()
			sc := bufio.NewScanner(r)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			for sc.Scan() {
				tb.Logf("%s: %s", name, sc.Text())
				b.mu.Lock()
				b.lines = append(b.lines, sc.Text())
				b.mu.Unlock()
			}
		}()
	}
	go func() {
		b.readers.Wait()
		err := b.cmd.Wait()
		if err != nil {
			b.waitErr = fmt.Errorf("vmtest: %s: %w", name, err)
		}
		close(b.done)
	}()
	tb.Cleanup(func() {
		if err := b.Stop(); err != nil {
			tb.Logf("%s: %v", name, err)
		}
	})
	if err := waitSocket(ctx, socket, b.done); err != nil {
		_ = b.Stop()
		return nil, fmt.Errorf("vmtest: %s: %w", name, errors.Join(err, b.waitErr))
	}
	return b, nil
}

// waitSocket polls until path is a unix socket, the process exits, or ctx
// ends. QEMU connects with reconnect=1, so the short window between the
// back end's bind and listen cannot fail a run.
func waitSocket(ctx context.Context, path string, exited <-chan struct{}) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if fi, err := os.Stat(path); err == nil && fi.Mode()&os.ModeSocket != 0 {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("exited before creating socket %s", path)
		case <-ctx.Done():
			return fmt.Errorf("waiting for socket %s: %w", path, ctx.Err())
		case <-tick.C:
		}
	}
}

// Lines returns the lines the back end printed so far.
func (b *Backend) Lines() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.lines...)
}

// Name returns the back end's log prefix.
func (b *Backend) Name() string { return b.name }

// Socket returns the vhost-user socket path the back end listens on.
func (b *Backend) Socket() string { return b.socket }

// Pid returns the back end's process id.
func (b *Backend) Pid() int { return b.cmd.Process.Pid }

// Exited returns a channel closed once the process has exited.
func (b *Backend) Exited() <-chan struct{} { return b.done }

// Wait waits for the process to exit and returns its exit error.
func (b *Backend) Wait() error {
	<-b.done
	return b.waitErr
}

// Stop sends SIGTERM, waits for the process to exit (killing it after 10s)
// and returns its exit error: nil means it exited with status 0.
func (b *Backend) Stop() error {
	b.stopOnce.Do(func() {
		select {
		case <-b.done:
			return
		default:
		}
		_ = b.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-b.done:
		case <-time.After(10 * time.Second):
			_ = b.cmd.Process.Kill()
			<-b.done
		}
	})
	<-b.done
	return b.waitErr
}

// Kill ends the process with SIGKILL, as a crash would, and waits until it
// has exited.
func (b *Backend) Kill() {
	_ = b.cmd.Process.Kill()
	<-b.done
}

// CPUTime returns the user plus system CPU time the process has used so
// far, all threads included (from /proc/PID/stat).
func (b *Backend) CPUTime() (time.Duration, error) { return ProcessCPUTime(b.Pid()) }

// clockTicks is USER_HZ, the unit of the times in /proc/PID/stat; it is 100
// on every Linux architecture Go supports.
const clockTicks = 100

// ProcessCPUTime returns utime+stime of process pid.
func ProcessCPUTime(pid int) (time.Duration, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may contain spaces; fields after it are
	// counted from the closing parenthesis.
	i := strings.LastIndexByte(string(raw), ')')
	if i < 0 {
		return 0, fmt.Errorf("vmtest: malformed /proc/%d/stat", pid)
	}
	f := strings.Fields(string(raw[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("vmtest: short /proc/%d/stat", pid)
	}
	var ticks uint64
	for _, s := range f[11:13] {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("vmtest: /proc/%d/stat: %v", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// QSDArgs returns a qemu-storage-daemon command line that exports the block
// node node as a vhost-user-blk device on socket. objects and blockdevs are
// the values of its --object and --blockdev options, in order.
func (env *Env) QSDArgs(socket string, objects, blockdevs []string, node string, writable bool, numQueues int) []string {
	args := []string{env.QSD}
	for _, o := range objects {
		args = append(args, "--object", o)
	}
	for _, bd := range blockdevs {
		args = append(args, "--blockdev", bd)
	}
	w := "off"
	if writable {
		w = "on"
	}
	args = append(args, "--export", fmt.Sprintf(
		"type=vhost-user-blk,id=export0,node-name=%s,addr.type=unix,addr.path=%s,writable=%s,num-queues=%d",
		node, socket, w, max(numQueues, 1)))
	return args
}
