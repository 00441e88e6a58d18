//go:build integration

package tests

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/ccmblk/ccmblk/tests/vmtest"
)

// daemonArgs returns the command line of cmd/vhost-user-blk-ccm serving img
// in the format of ref (its key written to a 0600 file in dir) on sock.
func daemonArgs(t *testing.T, dir, sock, img string, ref refImage, extra ...string) []string {
	t.Helper()
	return append([]string{daemonBinary(t),
		"--socket-path", sock, "--blk-file", img,
		"--key-file", keyFile(t, dir, ref),
		"--mac-len", strconv.Itoa(ref.macLen), "--nonce-len", strconv.Itoa(ref.nonceLen),
		"--sector-size", "512", "--num-queues", "1", "--logtostderr"}, extra...)
}

// keyFile writes ref's key as hex text to a 0600 file in dir.
func keyFile(t *testing.T, dir string, ref refImage) string {
	t.Helper()
	p := filepath.Join(dir, ref.name+".key")
	if err := os.WriteFile(p, []byte(ref.keyHex+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// startDaemon runs the daemon with args and returns it once its socket
// exists.
func startDaemon(t *testing.T, sock string, args []string) *vmtest.Backend {
	t.Helper()
	d, err := vmtest.StartBackend(testContext(t), t, "daemon", sock, args)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestDaemonReadAll serves each upstream reference image and checks that the
// guest reads exactly its plaintext.
func TestDaemonReadAll(t *testing.T) {
	t.Parallel()
	env, initrd := vmEnv(t)
	for _, ref := range refImages {
		t.Run(ref.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			img := copyFile(t, ref.encPath(t), dir, "enc.img")
			sock := socketPath(t)
			d := startDaemon(t, sock, daemonArgs(t, dir, sock, img, ref))
			m := runGuest(t, env, initrd, d, "readall", nil)
			checkField(t, m, "sha256", ref.plainSHA)
			checkField(t, m, "size", strconv.FormatUint(ref.plainSize, 10))
			checkField(t, m, "sector", "512")
			checkField(t, m, "ro", "0")
			stopBackend(t, d)
		})
	}
}

// TestDaemonWrite lets the guest write a pattern, boots a second guest
// against the same daemon process (a new vhost-user session) to read the
// disk back, and then decrypts the image on the host with the independent
// OpenSSL-based checker: it must hold the plaintext with the pattern applied.
func TestDaemonWrite(t *testing.T) {
	t.Parallel()
	env, initrd := vmEnv(t)
	ref := refImages[0]
	dir := t.TempDir()
	img := copyFile(t, ref.encPath(t), dir, "enc.img")
	sock := socketPath(t)
	d := startDaemon(t, sock, daemonArgs(t, dir, sock, img, ref))

	const seed = 7
	want := expectedAfterWrite(t, ref.plainPath(t), seed)
	wantSHA := fmt.Sprintf("%x", sha256.Sum256(want))
	m := runGuest(t, env, initrd, d, "write", map[string]string{"seed": strconv.Itoa(seed)})
	checkField(t, m, "ro", "0")
	checkField(t, m, "sha256", wantSHA)

	m = runGuest(t, env, initrd, d, "readall", nil)
	checkField(t, m, "sha256", wantSHA)
	stopBackend(t, d)

	plain := filepath.Join(dir, "dec.img")
	opensslDecrypt(t, dir, ref, img, plain)
	got, err := os.ReadFile(plain)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("host decryption of the written image differs from the plaintext with the guest's pattern (sha256 %x, want %s)",
			sha256.Sum256(got), wantSHA)
	}
}

// opensslDecrypt decrypts enc into plain with tests/openssl/ccm-image.js,
// which must report no bad sectors.
func opensslDecrypt(t *testing.T, dir string, ref refImage, enc, plain string) {
	t.Helper()
	oracleDecrypt(t, enc, plain, "--key-file", keyFile(t, dir, ref),
		"--mac-len", strconv.Itoa(ref.macLen), "--nonce-len", strconv.Itoa(ref.nonceLen), "--sector-size", "512")
}

// oracleDecrypt decrypts enc into plain with tests/openssl/ccm-image.js
// and the key and format flags in flags; it must report no bad sectors.
func oracleDecrypt(t *testing.T, enc, plain string, flags ...string) {
	t.Helper()
	root, err := vmtest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", append(append([]string{filepath.Join(root, "tests", "openssl", "ccm-image.js"), "dec"},
		flags...), "-i", enc, "-o", plain)...)
	out, err := cmd.CombinedOutput()
	t.Logf("openssl check: %s\n%s", cmd, out)
	if err != nil {
		t.Fatalf("openssl check of %s: %v", enc, err)
	}
}

// TestDaemonReadOnly serves an image with --read-only: the guest must see a
// read-only disk whose writes fail, read the right data, and the image file
// must not change.
func TestDaemonReadOnly(t *testing.T) {
	t.Parallel()
	env, initrd := vmEnv(t)
	ref := refImages[0]
	dir := t.TempDir()
	img := copyFile(t, ref.encPath(t), dir, "enc.img")
	before := fileSHA256(t, img)
	sock := socketPath(t)
	d := startDaemon(t, sock, daemonArgs(t, dir, sock, img, ref, "--read-only"))
	m := runGuest(t, env, initrd, d, "rocheck", nil)
	checkField(t, m, "ro", "1")
	if m.Get("open") == "none" && m.Get("write") == "none" {
		t.Errorf("guest: neither open nor write of the read-only disk failed: %s", m.Line)
	}
	checkField(t, m, "sha256", ref.plainSHA)
	stopBackend(t, d)
	if after := fileSHA256(t, img); after != before {
		t.Errorf("read-only image changed: sha256 %s, was %s", after, before)
	}
}

// TestDaemonTampered serves the image with one flipped ciphertext byte in
// logical sector 17: the guest must get EIO for that sector only and the
// right data everywhere else.
func TestDaemonTampered(t *testing.T) {
	t.Parallel()
	env, initrd := vmEnv(t)
	ref := refImages[0]
	dir := t.TempDir()
	img := copyFile(t, testdata(t, tamperedImage), dir, "tampered.img")
	sock := socketPath(t)
	d := startDaemon(t, sock, daemonArgs(t, dir, sock, img, ref))
	m := runGuest(t, env, initrd, d, "sectorscan", nil)
	checkField(t, m, "eio", strconv.Itoa(tamperedSector))
	checkField(t, m, "sha256", zeroedSHA256(t, ref.plainPath(t), tamperedSector))
	stopBackend(t, d)
}

// TestDaemonRawFormat serves a plaintext image with --format raw, the data
// path without encryption that the benchmark compares.
func TestDaemonRawFormat(t *testing.T) {
	t.Parallel()
	env, initrd := vmEnv(t)
	ref := refImages[0]
	dir := t.TempDir()
	img := copyFile(t, ref.plainPath(t), dir, "plain.img")
	sock := socketPath(t)
	d := startDaemon(t, sock, []string{daemonBinary(t), "--socket-path", sock, "--blk-file", img,
		"--format", "raw", "--num-queues", "1", "--logtostderr"})
	m := runGuest(t, env, initrd, d, "readall", nil)
	checkField(t, m, "sha256", ref.plainSHA)
	checkField(t, m, "size", strconv.FormatUint(ref.plainSize, 10))
	stopBackend(t, d)
}
