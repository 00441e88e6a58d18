//go:build integration

package tests

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/ccmblk/ccmblk/tests/pattern"
	"github.com/ccmblk/ccmblk/tests/qmpclient"
	"github.com/ccmblk/ccmblk/tests/vmtest"
)

// Live migration needs a CPU model both QEMUs agree on; under TCG "max"
// alone is not migratable.
const migCPU = "max,vendor=GenuineIntel"

// migImage is the disk the migration tests serve: CCM, or raw with the
// same data path.
type migImage struct {
	freshImage
	raw bool
}

func newMigImage(t *testing.T, raw bool, size uint64) migImage {
	t.Helper()
	dir := t.TempDir()
	if !raw {
		return migImage{freshImage: newFreshImage(t, dir, size)}
	}
	im := migImage{freshImage: freshImage{path: filepath.Join(dir, "disk.raw"), size: size}, raw: true}
	if err := os.WriteFile(im.path, make([]byte, size), 0o600); err != nil {
		t.Fatal(err)
	}
	return im
}

// daemon starts a daemon on sock serving the image, with extra flags.
func (im migImage) daemon(ctx context.Context, t *testing.T, name, sock string, extra ...string) *vmtest.Backend {
	t.Helper()
	args := []string{daemonBinary(t), "--socket-path", sock, "--blk-file", im.path, "--num-queues", "1", "--logtostderr"}
	if im.raw {
		args = append(args, "--format", "raw")
	} else {
		args = append(args, "--key-file", im.key)
	}
	d, err := vmtest.StartBackend(ctx, t, name, sock, append(args, extra...))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// fillGen1 fills a raw image with generation-1 blocks, what the guest of a
// read-only disk expects to read.
func (im migImage) fillGen1(t *testing.T) {
	t.Helper()
	b := make([]byte, im.size)
	for i := range uint64(len(b)) / pattern.GenBlockSize {
		pattern.GenBlock(b[i*pattern.GenBlockSize:], i, 1)
	}
	if err := os.WriteFile(im.path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// gens returns the generation every block of the image holds.
func (im migImage) gens(t *testing.T) []uint64 {
	t.Helper()
	var b []byte
	if im.raw {
		var err error
		if b, err = os.ReadFile(im.path); err != nil {
			t.Fatal(err)
		}
	} else {
		b = im.oraclePlaintext(t)
	}
	gens := make([]uint64, len(b)/pattern.GenBlockSize)
	for i := range gens {
		var err error
		if gens[i], err = pattern.BlockGen(b[i*pattern.GenBlockSize:], uint64(i)); err != nil {
			t.Fatalf("image: %v", err)
		}
	}
	return gens
}

// checkHost checks the image against the guest's result: every block
// holds the generation the guest last saw acknowledged, and a CCM image
// checks clean.
func (im migImage) checkHost(t *testing.T, result vmtest.Marker) {
	t.Helper()
	if got := pattern.GenDigest(im.gens(t)); got != result.Get("gens") {
		t.Errorf("the image's block generations (digest %s) are not those the guest saw acknowledged (%s)", got, result.Get("gens"))
	}
	if !im.raw {
		im.check(t)
	}
}

// migGuest is one QEMU of a migration, with its QMP socket.
type migGuest struct {
	name string
	vm   *vmtest.VM
	qmp  *qmpclient.Client
}

// startMigGuest boots a guest on the disk at sock with a QMP socket; with
// incoming set it waits for a migration on that URI instead of booting.
func startMigGuest(ctx context.Context, t *testing.T, name, sock, incoming, action string, params map[string]string) migGuest {
	t.Helper()
	env, initrd := vmEnv(t)
	qmpPath := filepath.Join(filepath.Dir(sock), name+".qmp")
	vm, err := vmtest.StartVM(ctx, t, env, vmtest.VMOptions{
		Name: name, Initramfs: initrd, Action: action, Params: params, Socket: sock,
		CPUModel: migCPU, QMP: qmpPath, Incoming: incoming,
	})
	if err != nil {
		t.Fatal(err)
	}
	var c *qmpclient.Client
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if c, err = qmpclient.Connect(qmpPath); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: QMP: %v", name, err)
		}
	}
	t.Cleanup(func() { _ = c.Close() })
	return migGuest{name: name, vm: vm, qmp: c}
}

// migrationURI returns a fresh unix socket URI for a migration stream.
func migrationURI(t *testing.T) string {
	return "unix:" + filepath.Join(filepath.Dir(socketPath(t)), "migration")
}

// migrate starts a migration of g to uri and waits until it ends, or, if
// cancelAfter is positive, cancels it after that long. It returns the
// final status (completed, failed or cancelled).
func (g migGuest) migrate(t *testing.T, uri string, cancelAfter time.Duration) string {
	t.Helper()
	if cancelAfter > 0 {
		// Slow enough that the migration cannot finish before the cancel.
		if _, err := g.qmp.Execute("migrate-set-parameters", map[string]any{"max-bandwidth": 1 << 20}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := g.qmp.Execute("migrate", map[string]any{"uri": uri}); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	start := time.Now()
	cancelled := false
	for deadline := start.Add(3 * time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if cancelAfter > 0 && !cancelled && time.Since(start) > cancelAfter {
			if _, err := g.qmp.Execute("migrate_cancel", nil); err != nil {
				t.Fatalf("migrate_cancel: %v", err)
			}
			cancelled = true
		}
		r, err := g.qmp.Execute("query-migrate", nil)
		if err != nil {
			t.Fatalf("query-migrate: %v", err)
		}
		m, _ := r.(map[string]any)
		switch st, _ := m["status"].(string); st {
		case "completed", "failed", "cancelled":
			t.Logf("migration %s after %v: %v", st, time.Since(start).Round(time.Millisecond), m)
			return st
		}
	}
	t.Fatal("migration did not end within 3 minutes")
	return ""
}

// quit ends a QEMU whose guest has migrated away.
func (g migGuest) quit(t *testing.T) {
	t.Helper()
	_, _ = g.qmp.Execute("quit", nil)
	if err := g.vm.Wait(); err != nil {
		t.Logf("qemu after quit: %v", err)
	}
}

// migCase is one migration test: the image, the daemons' extra flags and
// the guest's action.
type migCase struct {
	raw      bool
	readOnly bool // a raw image the host fills with generation-1 blocks, served --read-only
	flags    []string
	action   string
	seconds  int
}

// migration is a guest on daemon A (src) and a destination QEMU (dst)
// waiting on uri, on daemon B started with --incoming.
type migration struct {
	im       migImage
	a, b     *vmtest.Backend
	sockA    string
	src, dst migGuest
	uri      string
	params   map[string]string
}

// startMigration starts both daemons and both QEMUs of c and returns a
// couple of seconds after the guest's I/O began.
func startMigration(ctx context.Context, t *testing.T, c migCase) migration {
	t.Helper()
	m := migration{im: newMigImage(t, c.raw || c.readOnly, 16<<20), sockA: socketPath(t), uri: migrationURI(t)}
	flags := c.flags
	if c.readOnly {
		m.im.fillGen1(t)
		flags = append(flags, "--read-only")
	}
	sockB := socketPath(t)
	m.a = m.im.daemon(ctx, t, "daemon-A", m.sockA, flags...)
	m.b = m.im.daemon(ctx, t, "daemon-B", sockB, append([]string{"--incoming"}, flags...)...)
	m.params = map[string]string{"seconds": strconv.Itoa(c.seconds), "workers": "16", "grace": "10"}
	if c.readOnly {
		m.params["readonly"] = "1"
	}
	m.src = startMigGuest(ctx, t, "src", m.sockA, "", c.action, m.params)
	m.dst = startMigGuest(ctx, t, "dst", sockB, m.uri, c.action, m.params)
	if _, err := m.src.vm.Expect(ctx, vmtest.MarkerStart); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	return m
}

// migrateOnce migrates the guest of c from daemon A to daemon B a few
// seconds into its I/O, and checks the guest's result on the destination,
// the image on the host and that both daemons exit 0 on SIGTERM. It
// returns daemon A.
func migrateOnce(t *testing.T, c migCase) *vmtest.Backend {
	ctx := testContext(t)
	m := startMigration(ctx, t, c)
	if st := m.src.migrate(t, m.uri, 0); st != "completed" {
		t.Fatalf("migration %s", st)
	}
	m.src.quit(t)
	finishMigration(ctx, t, m.dst, m.im, m.a, m.b)
	return m.a
}

// finishMigration waits for the guest's result on g, where it ended up,
// stops the daemons, which must exit 0, and checks the image on the host.
func finishMigration(ctx context.Context, t *testing.T, g migGuest, im migImage, daemons ...*vmtest.Backend) {
	t.Helper()
	result, err := g.vm.Result(ctx)
	if err != nil {
		t.Fatalf("guest on %s: %v", g.name, err)
	}
	t.Logf("guest: %v", result.Fields)
	_ = g.vm.Wait()
	for _, d := range daemons {
		stopBackend(t, d)
	}
	im.checkHost(t, result)
}

// TestMigrate migrates a guest writing generation-tagged blocks between
// two QEMUs and two daemons on one CCM image.
func TestMigrate(t *testing.T) {
	migrateOnce(t, migCase{action: "gens", seconds: 10})
}

// TestMigrateIODelay is TestMigrate with every disk call slowed by 0-20ms,
// so that requests are in flight, completing out of order, when QEMU stops
// the source's rings: the drain before GET_VRING_BASE's reply and the
// dirty log must carry them over.
func TestMigrateIODelay(t *testing.T) {
	a := migrateOnce(t, migCase{action: "gens", seconds: 10, flags: []string{"--x-io-delay", "0-20ms"}})
	re := regexp.MustCompile(`q=0 stopped at next avail \d+, after completing the (\d+) requests in flight`)
	for _, l := range a.Lines() {
		if m := re.FindStringSubmatch(l); m != nil {
			if m[1] == "0" {
				t.Fatalf("no request was in flight when the source's ring stopped: %s", l)
			}
			t.Logf("requests in flight at the switchover: %s", m[1])
			return
		}
	}
	t.Fatal("the source daemon did not log its ring's stop")
}

// TestMigrateRaw migrates with --format raw.
func TestMigrateRaw(t *testing.T) {
	migrateOnce(t, migCase{raw: true, action: "gens", seconds: 10, flags: []string{"--x-io-delay", "0-5ms"}})
}

// TestMigrateReadMem migrates a guest that reads the disk into poisoned
// buffers and checks them later, so buffers the source's device filled are
// checked on the destination: the dirty log covers the device's writes
// into guest RAM.
func TestMigrateReadMem(t *testing.T) {
	migrateOnce(t, migCase{action: "readmem", seconds: 12, flags: []string{"--x-io-delay", "0-2ms"}})
}

// TestMigrateReadOnly migrates a guest reading a disk served --read-only
// by both daemons (shared image locks).
func TestMigrateReadOnly(t *testing.T) {
	migrateOnce(t, migCase{readOnly: true, action: "readmem", seconds: 10})
}

// TestMigrateCancel cancels a migration mid-way: logging stops, the
// source daemon keeps the image and serves on, the guest finishes on the
// source, and the destination daemon, which never served, exits 0.
func TestMigrateCancel(t *testing.T) {
	ctx := testContext(t)
	m := startMigration(ctx, t, migCase{action: "gens", seconds: 12, flags: []string{"--x-io-delay", "0-5ms"}})
	if st := m.src.migrate(t, m.uri, 3*time.Second); st != "cancelled" {
		t.Fatalf("migration %s, want cancelled", st)
	}
	m.dst.quit(t)
	finishMigration(ctx, t, m.src, m.im, m.a, m.b)
}

// TestMigratePingPong migrates the guest from daemon A to daemon B and
// back to a third QEMU on daemon A: A released the image at the first
// switchover and serves the third QEMU only once it has taken it back
// from B.
func TestMigratePingPong(t *testing.T) {
	ctx := testContext(t)
	m := startMigration(ctx, t, migCase{action: "gens", seconds: 20, flags: []string{"--x-io-delay", "0-5ms"}})
	g1, g2 := m.src, m.dst
	if st := g1.migrate(t, m.uri, 0); st != "completed" {
		t.Fatalf("migration A to B %s", st)
	}
	g1.quit(t)
	uri2 := migrationURI(t)
	g3 := startMigGuest(ctx, t, "guest-3", m.sockA, uri2, "gens", m.params)
	time.Sleep(2 * time.Second)
	if st := g2.migrate(t, uri2, 0); st != "completed" {
		t.Fatalf("migration B to A %s", st)
	}
	g2.quit(t)
	finishMigration(ctx, t, g3, m.im, m.a, m.b)
}
