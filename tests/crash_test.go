//go:build integration

package tests

import (
	"fmt"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ccmblk/ccmblk/tests/pattern"
	"github.com/ccmblk/ccmblk/tests/vmtest"
)

// Shape of the crash test: the guest writes for crashSeconds with
// crashWorkers O_DIRECT writers on two vCPUs, so both queues of the disk
// carry about 32 requests each; the host kills the daemon crashKills times,
// crashEvery apart, and starts a new one crashDown later.
const (
	crashSeconds = 15
	crashWorkers = 64
	crashKills   = 3
	crashEvery   = 2 * time.Second
	crashDown    = time.Second
	crashImage   = 8 << 20
)

// resubmitLine is what a restarted daemon logs for a queue whose requests
// it found in flight.
var resubmitLine = regexp.MustCompile(`q=(\d+): (\d+) requests left in flight are resubmitted`)

// logScanner is the test's log, also watched for resubmitLine.
type logScanner struct {
	*testing.T
	mu          sync.Mutex
	resubmitted map[string]int // queue -> requests resubmitted, all restarts
}

func (l *logScanner) Logf(format string, args ...any) {
	l.T.Helper()
	line := fmt.Sprintf(format, args...)
	if m := resubmitLine.FindStringSubmatch(line); m != nil {
		n, _ := strconv.Atoi(m[2])
		l.mu.Lock()
		l.resubmitted[m[1]] += n
		l.mu.Unlock()
	}
	l.T.Log(line)
}

// crashRun is one guest run under crashes.
type crashRun struct {
	im          freshImage
	marker      vmtest.Marker
	err         error          // the guest's failure, if any
	resubmitted map[string]int // by queue
}

// crashUnderLoad boots a guest that writes generation-tagged blocks to a
// disk served with --x-io-delay 0-20ms (requests in flight complete out of
// order) and extra flags, and kills the daemon with SIGKILL crashKills
// times during the load, each time starting a new one on the same socket,
// to which QEMU reconnects.
func crashUnderLoad(t *testing.T, extra ...string) crashRun {
	env, initrd := vmEnv(t)
	run := crashRun{im: newFreshImage(t, t.TempDir(), crashImage)}
	sock := socketPath(t)
	args := append([]string{daemonBinary(t), "--socket-path", sock, "--blk-file", run.im.path, "--key-file", run.im.key,
		"--num-queues", "2", "--x-io-delay", "0-20ms", "--logtostderr"}, extra...)
	log := &logScanner{T: t, resubmitted: map[string]int{}}
	ctx := testContext(t)
	d, err := vmtest.StartBackend(ctx, log, "daemon", sock, args)
	if err != nil {
		t.Fatal(err)
	}
	vm, err := vmtest.StartVM(ctx, t, env, vmtest.VMOptions{
		// No Backend: the VM outlives each daemon.
		Name: "guest-crash", Initramfs: initrd, Action: "gens", Socket: sock, NumQueues: 2, CPUs: 2,
		Params: map[string]string{"seconds": strconv.Itoa(crashSeconds), "workers": strconv.Itoa(crashWorkers), "grace": "10"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := vm.Expect(ctx, vmtest.MarkerStart); err != nil {
		t.Fatal(err)
	}
	for i := range crashKills {
		time.Sleep(crashEvery)
		t.Logf("crash %d: kill -9 %d", i+1, d.Pid())
		d.Kill()
		time.Sleep(crashDown)
		if d, err = vmtest.StartBackend(ctx, log, "daemon", sock, args); err != nil {
			t.Fatal(err)
		}
	}
	run.marker, run.err = vm.Result(ctx)
	if err := vm.Wait(); err != nil {
		t.Logf("qemu: %v", err)
	}
	stopBackend(t, d)
	log.mu.Lock()
	run.resubmitted = log.resubmitted
	log.mu.Unlock()
	return run
}

// imageGens decrypts im with the OpenSSL oracle and returns the
// generation every block holds.
func imageGens(t *testing.T, im freshImage) ([]uint64, error) {
	t.Helper()
	b := im.oraclePlaintext(t)
	gens := make([]uint64, len(b)/pattern.GenBlockSize)
	for i := range gens {
		var err error
		if gens[i], err = pattern.BlockGen(b[i*pattern.GenBlockSize:], uint64(i)); err != nil {
			return nil, err
		}
	}
	return gens, nil
}

// TestCrashRestartInflight kills the daemon three times under a two-queue
// write load with requests in flight completing out of order: the guest
// sees no error and no stuck request and reads back every acknowledged
// write; on the host every block holds the generation the guest last saw
// acknowledged and every sector authenticates.
func TestCrashRestartInflight(t *testing.T) {
	run := crashUnderLoad(t)
	if run.err != nil {
		t.Fatalf("guest: %v", run.err)
	}
	// Both queues had requests in flight at some crash (the inflight area
	// was used on each), or the test proves less than it claims.
	for _, q := range []string{"0", "1"} {
		if run.resubmitted[q] == 0 {
			t.Errorf("no request of queue %s was in flight at any of the crashes", q)
		}
	}
	t.Logf("guest: %s writes; requests resubmitted, by queue: %v", run.marker.Get("writes"), run.resubmitted)
	gens, err := imageGens(t, run.im)
	if err != nil {
		t.Fatalf("image: %v", err)
	}
	if got := pattern.GenDigest(gens); got != run.marker.Get("gens") {
		t.Errorf("the image's block generations (digest %s) are not those the guest saw acknowledged (%s)", got, run.marker.Get("gens"))
	}
	run.im.check(t)
}

// TestCrashRestartWithoutInflight is the control: the same crashes with
// --x-no-inflight, where a restarted daemon resumes at the used index as
// QEMU asks and repeats or loses the requests completed out of order. The
// guest must fail (a stuck write, a broken queue or a wrong block), or the
// host find a block that is not the generation acknowledged: the test
// above can see the bug it guards against.
func TestCrashRestartWithoutInflight(t *testing.T) {
	run := crashUnderLoad(t, "--x-no-inflight")
	if len(run.resubmitted) != 0 {
		t.Errorf("requests resubmitted without the inflight area: %v", run.resubmitted)
	}
	if run.err != nil {
		t.Logf("without the inflight area the guest failed, as expected: %v", run.err)
		return
	}
	gens, err := imageGens(t, run.im)
	if err != nil {
		t.Logf("without the inflight area the image holds a wrong block, as expected: %v", err)
		return
	}
	if pattern.GenDigest(gens) != run.marker.Get("gens") {
		t.Logf("without the inflight area a block lost its acknowledged generation, as expected")
		return
	}
	t.Fatalf("three crashes without the inflight area went unnoticed: the crash test cannot see lost requests")
}
