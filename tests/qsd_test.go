//go:build integration

package tests

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/ccmblk/ccmblk/tests/pattern"
	"github.com/ccmblk/ccmblk/tests/vmtest"
)

// startQSD serves img read-write (or read-only) through qemu-storage-daemon.
// blockdevs defaults to a plain file node over img.
func startQSD(t *testing.T, env *vmtest.Env, sock, img string, writable bool, blockdevs ...string) *vmtest.Backend {
	t.Helper()
	if len(blockdevs) == 0 {
		ro := "on"
		if writable {
			ro = "off"
		}
		blockdevs = []string{"driver=file,node-name=disk,filename=" + img + ",read-only=" + ro}
	}
	b, err := vmtest.StartBackend(testContext(t), t, "qsd", sock, env.QSDArgs(sock, nil, blockdevs, "disk", writable, 1))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestQSDReadAll proves the harness against QEMU's own back end: the guest
// reads a raw image of known content through qemu-storage-daemon.
func TestQSDReadAll(t *testing.T) {
	t.Parallel()
	env, initrd := vmEnv(t)
	ref := refImages[0]
	img := filepath.Join(t.TempDir(), "plain.img")
	copyFile(t, ref.plainPath(t), img)
	sock := socketPath(t)
	qsd := startQSD(t, env, sock, img, false)
	m := runGuest(t, env, initrd, qsd, "readall", nil)
	checkField(t, m, "sha256", ref.plainSHA)
	checkField(t, m, "size", strconv.FormatUint(ref.plainSize, 10))
	checkField(t, m, "ro", "1")
	if err := qsd.Stop(); err != nil {
		t.Errorf("qsd: %v", err)
	}
}

// TestQSDWrite checks the guest's write action and the host-side prediction
// of its result against qemu-storage-daemon.
func TestQSDWrite(t *testing.T) {
	t.Parallel()
	env, initrd := vmEnv(t)
	ref := refImages[0]
	img := filepath.Join(t.TempDir(), "plain.img")
	copyFile(t, ref.plainPath(t), img)
	sock := socketPath(t)
	qsd := startQSD(t, env, sock, img, true)
	const seed = 42
	m := runGuest(t, env, initrd, qsd, "write", map[string]string{"seed": strconv.Itoa(seed)})
	checkField(t, m, "ro", "0")
	if err := qsd.Stop(); err != nil {
		t.Errorf("qsd: %v", err)
	}
	want := expectedAfterWrite(t, ref.plainPath(t), seed)
	got, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("image after the guest's write differs from the prediction")
	}
	checkField(t, m, "sha256", fmt.Sprintf("%x", sha256.Sum256(want)))
}

// expectedAfterWrite returns the contents of plain after the guest's write
// action with seed.
func expectedAfterWrite(t *testing.T, plain string, seed uint64) []byte {
	t.Helper()
	img, err := os.ReadFile(plain)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := pattern.WritePlan(uint64(len(img)), 512)
	if err != nil {
		t.Fatal(err)
	}
	if err := pattern.Apply(img, plan, seed); err != nil {
		t.Fatal(err)
	}
	return img
}

// TestQSDReadOnly checks the guest's rocheck action against a read-only
// qemu-storage-daemon export.
func TestQSDReadOnly(t *testing.T) {
	t.Parallel()
	env, initrd := vmEnv(t)
	ref := refImages[0]
	img := filepath.Join(t.TempDir(), "plain.img")
	copyFile(t, ref.plainPath(t), img)
	sock := socketPath(t)
	qsd := startQSD(t, env, sock, img, false)
	m := runGuest(t, env, initrd, qsd, "rocheck", nil)
	checkField(t, m, "ro", "1")
	checkField(t, m, "sha256", ref.plainSHA)
	if err := qsd.Stop(); err != nil {
		t.Errorf("qsd: %v", err)
	}
}

// TestQSDSectorScan checks the guest's sectorscan action against
// qemu-storage-daemon with an I/O error injected at one sector (blkdebug).
func TestQSDSectorScan(t *testing.T) {
	t.Parallel()
	env, initrd := vmEnv(t)
	ref := refImages[0]
	img := filepath.Join(t.TempDir(), "plain.img")
	copyFile(t, ref.plainPath(t), img)
	sock := socketPath(t)
	const bad = 5
	qsd := startQSD(t, env, sock, img, false,
		"driver=file,node-name=file0,filename="+img+",read-only=on",
		fmt.Sprintf("driver=blkdebug,node-name=dbg,image=file0,read-only=on,"+
			"inject-error.0.event=read_aio,inject-error.0.errno=5,inject-error.0.sector=%d,inject-error.0.once=off", bad),
		"driver=raw,node-name=disk,file=dbg,read-only=on")
	m := runGuest(t, env, initrd, qsd, "sectorscan", nil)
	checkField(t, m, "eio", strconv.Itoa(bad))
	checkField(t, m, "sha256", zeroedSHA256(t, ref.plainPath(t), bad))
	if err := qsd.Stop(); err != nil {
		t.Errorf("qsd: %v", err)
	}
}

// zeroedSHA256 returns the SHA-256 of a plaintext image with one 512-byte
// sector replaced by zeros, as the guest's sectorscan hashes a disk whose
// sector fails.
func zeroedSHA256(t *testing.T, plain string, sector int) string {
	t.Helper()
	img, err := os.ReadFile(plain)
	if err != nil {
		t.Fatal(err)
	}
	clear(img[sector*512 : (sector+1)*512])
	return fmt.Sprintf("%x", sha256.Sum256(img))
}

// TestQSDDemo runs the demo action: the guest reports the disk, writes its
// message to sector 0 and reads it back; the host finds the message in the
// image and the guest's checksum matches the file.
func TestQSDDemo(t *testing.T) {
	t.Parallel()
	env, initrd := vmEnv(t)
	ref := refImages[0]
	img := filepath.Join(t.TempDir(), "plain.img")
	copyFile(t, ref.plainPath(t), img)
	sock := socketPath(t)
	qsd := startQSD(t, env, sock, img, true)
	m := runGuest(t, env, initrd, qsd, "demo", nil)
	checkField(t, m, "ro", "0")
	checkField(t, m, "size", strconv.FormatUint(ref.plainSize, 10))
	if err := qsd.Stop(); err != nil {
		t.Errorf("qsd: %v", err)
	}
	got, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(got, []byte(pattern.DemoMessage)) {
		t.Errorf("sector 0 after the demo starts with %q, want the demo message", got[:40])
	}
	checkField(t, m, "sha256", fmt.Sprintf("%x", sha256.Sum256(got)))
}

// TestQSDBench runs the benchmark workload for one second per case and
// checks that every case completed requests.
func TestQSDBench(t *testing.T) {
	t.Parallel()
	env, initrd := vmEnv(t)
	img := filepath.Join(t.TempDir(), "bench.img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 64<<20); err != nil {
		t.Fatal(err)
	}
	sock := socketPath(t)
	qsd := startQSD(t, env, sock, img, true)
	ctx := testContext(t)
	vm, err := vmtest.StartVM(ctx, t, env, vmtest.VMOptions{
		Name: "guest-bench", Initramfs: initrd, Action: "bench", Backend: qsd,
		Params: map[string]string{"seconds": "1", "cache": "writeback"},
	})
	if err != nil {
		t.Fatal(err)
	}
	m, err := vm.Result(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := vm.Wait(); err != nil {
		t.Errorf("qemu: %v", err)
	}
	checkField(t, m, "cache", "write back")
	cases := map[string]bool{}
	for _, b := range vm.Markers(vmtest.MarkerBench) {
		cases[b.Get("case")] = true
		if ios, err := strconv.ParseUint(b.Get("ios"), 10, 64); err != nil || ios == 0 {
			t.Errorf("bench case %s completed no requests: %s", b.Get("case"), b.Line)
		}
	}
	for _, c := range []string{"randread4k", "randwrite4k", "seqread1m", "seqwrite1m"} {
		if !cases[c] {
			t.Errorf("bench case %s missing", c)
		}
	}
	if err := qsd.Stop(); err != nil {
		t.Errorf("qsd: %v", err)
	}
}
