//go:build integration

package tests

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ccmblk/ccmblk/ccm/holes"
	"github.com/ccmblk/ccmblk/tests/pattern"
	"github.com/ccmblk/ccmblk/tests/vmtest"
)

// The guest's zeroing action (tests/guest/zeroing.go) works on a disk of
// zeroingDisk bytes: a pattern over [0, 15M), BLKDISCARD on [0, 4M),
// BLKZEROOUT on [4M, 8M), fallocate punch-hole on [8M, 10M); then the
// ccm/holes package on the guest's block device: Discard [12M, 13M), Zero
// [13M, 14M), Punch [14M, 15M).
const (
	zeroingDisk = 16 << 20
	zeroingSeed = 10
	mib         = 1 << 20
)

// zeroingWant is the disk after the zeroing action when each range in
// zeroed reads as zeros.
func zeroingWant(zeroed ...[2]int) []byte {
	b := make([]byte, zeroingDisk)
	pattern.Fill(b[:15*mib], zeroingSeed, 0)
	for _, z := range zeroed {
		clear(b[z[0]:z[1]])
	}
	return b
}

// allZeroed are the ranges zeroed when the device takes every call;
// noDiscard those when it takes no DISCARD.
var (
	allZeroed = [][2]int{{0, 4 * mib}, {4 * mib, 8 * mib}, {8 * mib, 10 * mib}, {12 * mib, 13 * mib}, {13 * mib, 15 * mib}}
	noDiscard = [][2]int{{4 * mib, 8 * mib}, {8 * mib, 10 * mib}, {13 * mib, 15 * mib}}
)

// allocatedBytes returns the bytes path occupies on disk.
func allocatedBytes(t *testing.T, path string) int64 {
	t.Helper()
	a, err := holes.Allocated(path)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// checkZeroingMarker checks the guest's report: queue limits, results of
// the three calls and what each range reads.
func checkZeroingMarker(t *testing.T, m vmtest.Marker, want map[string]string) {
	t.Helper()
	for k, v := range want {
		checkField(t, m, k, v)
	}
}

// everythingZeroed is the report when the device takes DISCARD and
// WRITE_ZEROES (with unmap) and reads discarded ranges as zeros.
var everythingZeroed = map[string]string{
	"discard": "ok", "zeroout": "ok", "punch": "ok", "hdiscard": "ok", "hzero": "ok", "hpunch": "ok",
	"rdiscard": "zero", "rzeroout": "zero", "rpunch": "zero", "rkept": "data",
	"rhdiscard": "zero", "rhzero": "zero", "rhpunch": "zero",
}

// ourLimits are the limits this daemon offers when it offers both
// commands: 16 MiB and 8 segments per request, 512-byte granularity.
var ourLimits = map[string]string{"dmax": "16777216", "dseg": "8", "dgran": "512", "wzmax": "16777216"}

// sparseFile creates an empty file of size bytes (all holes).
func sparseFile(t *testing.T, dir, name string, size int64) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, size); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestZeroingRaw: on a raw image the guest discards, zeroes and punches
// holes; the ranges read as zeros, and the image's allocated blocks shrink
// by the discarded and punched ranges (8 of the 15 MiB the guest wrote).
// qemu-storage-daemon (discard=unmap) serving the same kind of image is
// the peer: same guest report but for its own limits, same image, about
// the same allocation.
func TestZeroingRaw(t *testing.T) {
	t.Parallel()
	env, initrd := vmEnv(t)
	want := zeroingWant(allZeroed...)
	wantSHA := fmt.Sprintf("%x", sha256.Sum256(want))
	var ours, theirs int64
	t.Run("daemon", func(t *testing.T) {
		img := sparseFile(t, t.TempDir(), "plain.img", zeroingDisk)
		sock := socketPath(t)
		d := startDaemon(t, sock, []string{daemonBinary(t), "--socket-path", sock, "--blk-file", img,
			"--format", "raw", "--num-queues", "1", "--logtostderr"})
		m := runGuest(t, env, initrd, d, "zeroing", nil)
		stopBackend(t, d)
		checkZeroingMarker(t, m, everythingZeroed)
		checkZeroingMarker(t, m, ourLimits)
		checkField(t, m, "sha256", wantSHA)
		if got := fileSHA256(t, img); got != wantSHA {
			t.Errorf("image after the guest differs from the expected disk")
		}
		ours = allocatedBytes(t, img)
	})
	t.Run("qsd", func(t *testing.T) {
		img := sparseFile(t, t.TempDir(), "plain.img", zeroingDisk)
		sock := socketPath(t)
		qsd := startQSD(t, env, sock, img, true, "driver=file,node-name=disk,filename="+img+",discard=unmap")
		m := runGuest(t, env, initrd, qsd, "zeroing", nil)
		stopBackend(t, qsd)
		checkZeroingMarker(t, m, everythingZeroed)
		checkField(t, m, "sha256", wantSHA)
		if got := fileSHA256(t, img); got != wantSHA {
			t.Errorf("QSD's image after the guest differs from the expected disk")
		}
		theirs = allocatedBytes(t, img)
	})
	t.Logf("allocated after the guest: daemon %d bytes, qemu-storage-daemon %d bytes", ours, theirs)
	// 15 MiB written, 8 MiB freed (BLKZEROOUT keeps its range allocated,
	// as ZERO_RANGE does); allow a few file system blocks of slack.
	for name, a := range map[string]int64{"daemon": ours, "qsd": theirs} {
		if a > 7*mib+256<<10 {
			t.Errorf("%s: image occupies %d bytes, want about 7 MiB", name, a)
		}
	}
}

// ccmZeroingImage is an encrypted image for the zeroing tests, made by
// ccmblock with a fresh key.
func ccmZeroingImage(t *testing.T, sparse bool) freshImage {
	t.Helper()
	dir := t.TempDir()
	im := freshImage{path: filepath.Join(dir, "disk.img"), key: filepath.Join(dir, "disk.key"), size: zeroingDisk}
	runCCMBlock(t, "keygen", "-o", im.key)
	args := []string{"create", "-o", im.path, "--size", fmt.Sprint(zeroingDisk), "--key-file", im.key}
	if sparse {
		args = append(args, "--sparse")
	}
	runCCMBlock(t, args...)
	return im
}

// ccmblockOutput runs ccmblock with args; it must exit 0.
func ccmblockOutput(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(ccmblockBinary(t), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ccmblock %s: %v\n%s", args[0], err, out)
	}
	return string(out)
}

// TestZeroingCCM: a default CCM image offers no discard (the guest sees a
// discard limit of 0 and BLKDISCARD fails with EOPNOTSUPP (ENOTSUP), the data stays),
// while BLKZEROOUT and punch-hole store encrypted zeros: the ranges read as
// zeros, nothing is freed, and a plain ccmblock check and the OpenSSL
// oracle read every sector.
func TestZeroingCCM(t *testing.T) {
	t.Parallel()
	env, initrd := vmEnv(t)
	im := ccmZeroingImage(t, false)
	before := allocatedBytes(t, im.path)
	sock := socketPath(t)
	d := startDaemon(t, sock, im.daemonArgs(t, sock))
	m := runGuest(t, env, initrd, d, "zeroing", nil)
	stopBackend(t, d)
	checkZeroingMarker(t, m, map[string]string{
		"dmax": "0", "wzmax": "16777216",
		"discard": "ENOTSUP", "zeroout": "ok", "punch": "ok", "hdiscard": "ok", "hzero": "ok", "hpunch": "ok",
		"rdiscard": "data", "rzeroout": "zero", "rpunch": "zero", "rkept": "data",
		"rhdiscard": "data", "rhzero": "zero", "rhpunch": "zero",
	})
	want := zeroingWant(noDiscard...)
	checkField(t, m, "sha256", fmt.Sprintf("%x", sha256.Sum256(want)))
	if after := allocatedBytes(t, im.path); after < before {
		t.Errorf("default CCM image shrank from %d to %d bytes", before, after)
	}
	im.check(t)
	oracleHolds(t, im, want)
}

// TestZeroingCCMSparse: a --sparse CCM image made by create --sparse (so
// the daemon starts with sector 0 unwritten) takes DISCARD and punch-hole
// as holes over whole slots: the ranges read as zeros, the image shrinks
// by their slots, and ccmblock check --sparse is clean, counting the holes
// as unwritten. After ccmblock fill the OpenSSL oracle reads it all.
func TestZeroingCCMSparse(t *testing.T) {
	t.Parallel()
	env, initrd := vmEnv(t)
	im := ccmZeroingImage(t, true)
	sock := socketPath(t)
	d := startDaemon(t, sock, append(im.daemonArgs(t, sock), "--sparse"))
	m := runGuest(t, env, initrd, d, "zeroing", nil)
	stopBackend(t, d)
	checkZeroingMarker(t, m, everythingZeroed)
	checkZeroingMarker(t, m, ourLimits)
	want := zeroingWant(allZeroed...)
	checkField(t, m, "sha256", fmt.Sprintf("%x", sha256.Sum256(want)))
	// The guest wrote 15 MiB (30 MiB of slots) and freed 8 MiB of it by
	// discard and punch-hole; BLKZEROOUT stored encrypted zeros.
	if a := allocatedBytes(t, im.path); a > 14*mib+256<<10 {
		t.Errorf("sparse image occupies %d bytes, want about 14 MiB", a)
	}
	// Unwritten: the 8 MiB freed and the 1 MiB the guest never wrote.
	out := ccmblockOutput(t, "check", "--sparse", "-i", im.path, "--key-file", im.key)
	if !strings.Contains(out, "unwritten sectors: 18432 of 32768\nok: all 14336 written sectors authenticate") {
		t.Errorf("check --sparse: %s", out)
	}
	runCCMBlock(t, "fill", "-i", im.path, "--key-file", im.key)
	im.check(t)
	oracleHolds(t, im, want)
}

// oraclePlaintext decrypts im with the OpenSSL oracle, which must read
// every sector, and returns the plaintext.
func (im freshImage) oraclePlaintext(t *testing.T) []byte {
	t.Helper()
	plain := filepath.Join(t.TempDir(), "plain.img")
	oracleDecrypt(t, im.path, plain, "--key-file", im.key)
	b, err := os.ReadFile(plain)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// oracleHolds decrypts im with the OpenSSL oracle, which must read every
// sector, and compares the plaintext with want.
func oracleHolds(t *testing.T, im freshImage, want []byte) {
	t.Helper()
	if !bytes.Equal(im.oraclePlaintext(t), want) {
		t.Error("the OpenSSL oracle decrypts something else than the guest wrote and zeroed")
	}
}
