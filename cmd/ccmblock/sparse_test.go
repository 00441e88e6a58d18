package main

import (
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ccmblk/ccmblk/ccm/holes"
	"github.com/ccmblk/ccmblk/cmd/internal/imagelock"
)

// allocated returns the bytes path occupies on disk.
func allocated(t *testing.T, path string) int64 {
	t.Helper()
	a, err := holes.Allocated(path)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// sparseKey is the key of the sparse tests, with the default format.
func sparseKey(t *testing.T) []string {
	return []string{"--key-file", writeKeyFile(t, []byte("8f1e6b3c2d4a59708192a3b4c5d6e7f8"))}
}

// checkerFails runs the OpenSSL-based tool, which must fail (upstream
// cannot read unwritten sectors), and returns its output.
func checkerFails(t *testing.T, args ...string) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is needed for the OpenSSL cross-check: %v", err)
	}
	out, err := exec.Command(node, append([]string{opensslChecker}, args...)...).CombinedOutput()
	if err == nil {
		t.Fatalf("OpenSSL checker %v succeeded on an image with unwritten sectors", args)
	}
	return string(out)
}

// TestCreateSparse1TiB makes a 1 TiB sparse image: nothing is written, so
// the file occupies next to nothing, and every sector is unwritten.
func TestCreateSparse1TiB(t *testing.T) {
	key := sparseKey(t)
	enc := filepath.Join(t.TempDir(), "big.img")
	r := mustRun(t, append([]string{"create", "--sparse", "-o", enc, "--size", "1T"}, key...)...)
	if !strings.Contains(r.stdout, "2147483648 unwritten sectors") {
		t.Errorf("create stdout %q", r.stdout)
	}
	st, err := os.Stat(enc)
	if err != nil || st.Size() != 2<<40 {
		t.Fatalf("image size %v, %v; want 2 TiB", st.Size(), err)
	}
	if a := allocated(t, enc); a > 1<<20 {
		t.Fatalf("a sparse 1 TiB image occupies %d bytes", a)
	}
	r = mustRun(t, append([]string{"info", "--sparse", "-i", enc}, key...)...)
	for _, want := range []string{"unwritten sectors:      2147483648 of 2147483648", "first written sector:   none (no sector written yet)"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("info stdout lacks %q:\n%s", want, r.stdout)
		}
	}
}

// sparsePlain writes a plaintext file of 1 MiB with holes: random data in
// [64K, 192K) and [512K+512, 600K), holes elsewhere.
func sparsePlain(t *testing.T, dir string) (string, []byte) {
	t.Helper()
	data := make([]byte, 1<<20)
	path := filepath.Join(dir, "plain.img")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(int64(len(data))); err != nil {
		t.Fatal(err)
	}
	for _, r := range [][2]int{{64 << 10, 192 << 10}, {512<<10 + 512, 600 << 10}} {
		_, _ = rand.Read(data[r[0]:r[1]])
		if _, err := f.WriteAt(data[r[0]:r[1]], int64(r[0])); err != nil {
			t.Fatal(err)
		}
	}
	return path, data
}

// TestEncSparseFillOracle: enc --sparse keeps the input's holes as
// unwritten sectors; check, info and dec count them apart; upstream
// (OpenSSL oracle) cannot read the image until fill, and then reads the
// plaintext exactly.
func TestEncSparseFillOracle(t *testing.T) {
	dir := t.TempDir()
	key := sparseKey(t)
	plain, data := sparsePlain(t, dir)
	enc := filepath.Join(dir, "enc.img")
	mustRun(t, append([]string{"enc", "--sparse", "-i", plain, "-o", enc}, key...)...)
	// Written: 128 KiB and 87.5 KiB of plaintext, twice that in slots.
	if a := allocated(t, enc); a > 600<<10 {
		t.Errorf("sparse enc output occupies %d bytes", a)
	}
	// Sector 1024 shares a file system block with data, so the input
	// has no hole there: 256+176 sectors are written.
	r := mustRun(t, append([]string{"check", "--sparse", "-i", enc}, key...)...)
	if want := "unwritten sectors: 1616 of 2048\nok: all 432 written sectors authenticate\n"; r.stdout != want {
		t.Errorf("check --sparse stdout %q, want %q", r.stdout, want)
	}
	r = ccmblock(t, append([]string{"check", "-i", enc}, key...)...)
	if r.code != exitFail || !strings.Contains(r.stdout, "bad sectors: 0-127,384-1023,1200-2047") || !strings.Contains(r.stderr, unwrittenHint) {
		t.Errorf("plain check of a sparse image: exit %d, %q, %q", r.code, r.stdout, r.stderr)
	}
	r = mustRun(t, append([]string{"info", "-i", enc}, key...)...)
	if !strings.Contains(r.stdout, "sector 0:               unwritten (all zeros): a sparse image? pass --sparse") {
		t.Errorf("info of a sparse image:\n%s", r.stdout)
	}
	r = mustRun(t, append([]string{"info", "--sparse", "-i", enc}, key...)...)
	if !strings.Contains(r.stdout, "unwritten sectors:      1616 of 2048") || !strings.Contains(r.stdout, "first written sector:   128, authenticates") {
		t.Errorf("info --sparse:\n%s", r.stdout)
	}
	out := filepath.Join(dir, "dec.img")
	r = mustRun(t, append([]string{"dec", "--sparse", "-i", enc, "-o", out}, key...)...)
	if !strings.Contains(r.stderr, "1616 of 2048 sectors unwritten") {
		t.Errorf("dec --sparse stderr %q", r.stderr)
	}
	assertSame(t, readFile(t, out), data)
	if a := allocated(t, out); a > 300<<10 {
		t.Errorf("dec output occupies %d bytes, want holes where the plaintext is zero", a)
	}

	flags := []string{"--key-file", key[1]}
	back := filepath.Join(dir, "oracle.img")
	if out := checkerFails(t, append([]string{"dec", "-i", enc, "-o", back}, flags...)...); !strings.Contains(out, "bad sectors") {
		t.Errorf("OpenSSL checker output %q", out)
	}
	r = mustRun(t, append([]string{"fill", "-i", enc}, key...)...)
	if !strings.Contains(r.stdout, "1616 unwritten sectors") {
		t.Errorf("fill stdout %q", r.stdout)
	}
	checker(t, append([]string{"dec", "-i", enc, "-o", back}, flags...)...)
	assertSame(t, readFile(t, back), data)
	mustRun(t, append([]string{"check", "-i", enc}, key...)...)
	// A second fill finds nothing to do.
	if r := mustRun(t, append([]string{"fill", "-i", enc}, key...)...); !strings.Contains(r.stdout, " 0 unwritten sectors") {
		t.Errorf("second fill stdout %q", r.stdout)
	}
}

// TestDecWritesHoles: a plain dec of a fully written image leaves the zero
// blocks of the plaintext out of its output.
func TestDecWritesHoles(t *testing.T) {
	dir := t.TempDir()
	key := sparseKey(t)
	plain, data := sparsePlain(t, dir)
	enc := filepath.Join(dir, "enc.img")
	mustRun(t, append([]string{"enc", "-i", plain, "-o", enc}, key...)...)
	if a := allocated(t, enc); a < 2<<20 {
		t.Fatalf("enc without --sparse occupies only %d bytes", a)
	}
	out := filepath.Join(dir, "dec.img")
	mustRun(t, append([]string{"dec", "-i", enc, "-o", out}, key...)...)
	assertSame(t, readFile(t, out), data)
	if a := allocated(t, out); a > 300<<10 {
		t.Errorf("dec output occupies %d bytes, want holes where the plaintext is zero", a)
	}
}

// TestResize grows with encrypted zeros and with holes, refuses to shrink
// without --shrink and says what a shrink drops, and respects the image
// lock.
func TestResize(t *testing.T) {
	dir := t.TempDir()
	key := sparseKey(t)
	plain, data := sparsePlain(t, dir)
	enc := filepath.Join(dir, "enc.img")
	mustRun(t, append([]string{"enc", "-i", plain, "-o", enc}, key...)...)

	r := mustRun(t, append([]string{"resize", "-i", enc, "--size", "2M"}, key...)...)
	if !strings.Contains(r.stdout, "2048 -> 4096 sectors") || !strings.Contains(r.stdout, "2048 new encrypted zero sectors") {
		t.Errorf("resize stdout %q", r.stdout)
	}
	// Upstream reads every sector of the grown image.
	back := filepath.Join(dir, "back.img")
	checker(t, "dec", "-i", enc, "-o", back, "--key-file", key[1])
	assertSame(t, readFile(t, back), append(data, make([]byte, 1<<20)...))

	before := allocated(t, enc)
	r = mustRun(t, append([]string{"resize", "--sparse", "-i", enc, "--size", "1G"}, key...)...)
	if !strings.Contains(r.stdout, "unwritten sectors (holes)") {
		t.Errorf("sparse resize stdout %q", r.stdout)
	}
	if a := allocated(t, enc); a > before+1<<20 {
		t.Errorf("sparse resize to 1 GiB allocated %d bytes more", a-before)
	}
	r = mustRun(t, append([]string{"check", "--sparse", "-i", enc}, key...)...)
	if !strings.Contains(r.stdout, "unwritten sectors: 2093056 of 2097152") {
		t.Errorf("check after sparse resize: %q", r.stdout)
	}

	r = ccmblock(t, append([]string{"resize", "-i", enc, "--size", "768K"}, key...)...)
	if r.code != exitFail || !strings.Contains(r.stderr, "would drop sectors 1536-2097151 (2095616 sectors, 1023 MiB, 2560 of them written); pass --shrink") {
		t.Errorf("shrink without --shrink: exit %d, %q", r.code, r.stderr)
	}
	r = mustRun(t, append([]string{"resize", "--shrink", "-i", enc, "--size", "768K"}, key...)...)
	if !strings.Contains(r.stdout, "dropped sectors 1536-2097151") {
		t.Errorf("shrink stdout %q", r.stdout)
	}
	mustRun(t, append([]string{"check", "-i", enc}, key...)...)
	checker(t, "dec", "-i", enc, "-o", back, "--key-file", key[1])
	assertSame(t, readFile(t, back), data[:768<<10])

	lock, err := imagelock.Lock(enc, false)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	for _, cmd := range [][]string{{"resize", "--size", "1M"}, {"fill"}} {
		r = ccmblock(t, append(append(cmd, "-i", enc), key...)...)
		if r.code != exitFail || !strings.Contains(r.stderr, "in use by another process") {
			t.Errorf("%s on a locked image: exit %d, %q", cmd[0], r.code, r.stderr)
		}
	}
	for _, size := range []string{"", "0", "1000", "3X"} {
		if r := ccmblock(t, append([]string{"resize", "-i", enc, "--size", size}, key...)...); r.code != exitUsage {
			t.Errorf("resize --size %q: exit %d", size, r.code)
		}
	}
}
