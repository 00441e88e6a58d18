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

// runQSDPlain serves a copy of the plaintext of refImages[0] through
// qemu-storage-daemon, writable or read-only, runs action with params in a
// guest on it and stops the daemon. It returns the guest's CCMBLK-OK marker
// and the path of the copy.
func runQSDPlain(t *testing.T, writable bool, action string, params map[string]string) (vmtest.Marker, string) {
	t.Helper()
	env, initrd := vmEnv(t)
	img := copyFile(t, refImages[0].plainPath(t), t.TempDir(), "plain.img")
	sock := socketPath(t)
	qsd := startQSD(t, env, sock, img, writable)
	m := runGuest(t, env, initrd, qsd, action, params)
	stopBackend(t, qsd)
	return m, img
}

// TestQSDReadAll proves the harness against QEMU's own back end: the guest
// reads a raw image of known content through qemu-storage-daemon.
func TestQSDReadAll(t *testing.T) {
	t.Parallel()
	ref := refImages[0]
	m, _ := runQSDPlain(t, false, "readall", nil)
	checkField(t, m, "sha256", ref.plainSHA)
	checkField(t, m, "size", strconv.FormatUint(ref.plainSize, 10))
	checkField(t, m, "ro", "1")
}

// TestQSDWrite checks the guest's write action and the host-side prediction
// of its result against qemu-storage-daemon.
func TestQSDWrite(t *testing.T) {
	t.Parallel()
	ref := refImages[0]
	const seed = 42
	m, img := runQSDPlain(t, true, "write", map[string]string{"seed": strconv.Itoa(seed)})
	checkField(t, m, "ro", "0")
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
	m, _ := runQSDPlain(t, false, "rocheck", nil)
	checkField(t, m, "ro", "1")
	checkField(t, m, "sha256", refImages[0].plainSHA)
}

// TestQSDSectorScan checks the guest's sectorscan action against
// qemu-storage-daemon with an I/O error injected at one sector (blkdebug).
func TestQSDSectorScan(t *testing.T) {
	t.Parallel()
	env, initrd := vmEnv(t)
	ref := refImages[0]
	img := copyFile(t, ref.plainPath(t), t.TempDir(), "plain.img")
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
	stopBackend(t, qsd)
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
	m, img := runQSDPlain(t, true, "demo", nil)
	checkField(t, m, "ro", "0")
	checkField(t, m, "size", strconv.FormatUint(refImages[0].plainSize, 10))
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
	vm, m := bootGuest(t, env, vmtest.VMOptions{
		Name: "guest-bench", Initramfs: initrd, Action: "bench", Backend: qsd,
		Params: map[string]string{"seconds": "1", "cache": "writeback"},
	})
	checkField(t, m, "cache", "write back")
	cases := checkBenchCases(t, vm)
	for _, c := range []string{"randread4k", "randwrite4k", "seqread1m", "seqwrite1m"} {
		if !cases[c] {
			t.Errorf("bench case %s missing", c)
		}
	}
	stopBackend(t, qsd)
}
