package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCreateCheck(t *testing.T) {
	dir := t.TempDir()
	key := writeKeyFile(t, []byte("39cd7275b222c22e5b32b19e8986836b17ac1fb409e915887898c22978f7bc1a"))
	enc := filepath.Join(dir, "enc.img")
	r := mustRun(t, "create", "--key-file", key, "-o", enc, "--size", "64K")
	if !strings.Contains(r.stdout, "128 sectors") {
		t.Errorf("stdout %q does not give the sector count", r.stdout)
	}
	img := readFile(t, enc)
	if len(img) != 128*1024 {
		t.Fatalf("image is %d bytes, want %d", len(img), 128*1024)
	}

	r = mustRun(t, "check", "--key-file", key, "-i", enc)
	if !strings.Contains(r.stdout, "ok: all 128 sectors authenticate") {
		t.Errorf("check stdout %q", r.stdout)
	}
	out := filepath.Join(dir, "plain.img")
	mustRun(t, "dec", "--key-file", key, "-i", enc, "-o", out)
	assertSame(t, readFile(t, out), make([]byte, 64<<10))

	// One changed byte in the adata of sector 5 and one in the tag of
	// sector 99.
	img[5*1024+1000] ^= 1
	img[99*1024+512] ^= 1
	if err := os.WriteFile(enc, img, 0o600); err != nil {
		t.Fatal(err)
	}
	r = ccmblock(t, "check", "--key-file", key, "-i", enc)
	if r.code != exitFail {
		t.Fatalf("check exit %d, want %d", r.code, exitFail)
	}
	if r.stdout != "bad sectors: 5,99\n" {
		t.Errorf("check stdout %q, want %q", r.stdout, "bad sectors: 5,99\n")
	}
	if !strings.Contains(r.stderr, "2 of 128 sectors fail authentication") {
		t.Errorf("check stderr %q lacks the summary", r.stderr)
	}

	img[3] ^= 1 // sector 0 too: the hint appears
	if err := os.WriteFile(enc, img, 0o600); err != nil {
		t.Fatal(err)
	}
	r = ccmblock(t, "check", "--key-file", key, "-i", enc)
	if r.code != exitFail || r.stdout != "bad sectors: 0,5,99\n" || !strings.Contains(r.stderr, wrongKeyHint) {
		t.Errorf("exit %d stdout %q stderr %q, want sectors 0,5,99 and the hint", r.code, r.stdout, r.stderr)
	}
}

func TestCreateSizes(t *testing.T) {
	key := writeKeyFile(t, []byte("000102030405060708090a0b0c0d0e0f"))
	for _, tc := range []struct {
		size string
		args []string
		want int
	}{
		{"1024", nil, 2048},
		{"8K", []string{"--sector-size", "4096"}, 16384},
		{"1M", nil, 2 << 20},
	} {
		enc := filepath.Join(t.TempDir(), "enc.img")
		mustRun(t, append([]string{"create", "--key-file", key, "-o", enc, "--size", tc.size}, tc.args...)...)
		if n := len(readFile(t, enc)); n != tc.want {
			t.Errorf("--size %s: image is %d bytes, want %d", tc.size, n, tc.want)
		}
		mustRun(t, append([]string{"check", "--key-file", key, "-i", enc}, tc.args...)...)
	}
}

func TestInfo(t *testing.T) {
	u := upstreamImages[2]
	r := mustRun(t, append([]string{"info", "-i", u.enc(t)}, u.flags()...)...)
	for _, want := range []string{
		"file size:              68608 bytes",
		"physical sector size:   512\n",
		"physical sectors:       134\n",
		"logical sector size:    512\n",
		"logical sectors:        67\n",
		"guest-visible size:     34304 bytes",
		"mac length (M):         16\n",
		"nonce length (N):       12\n",
		"adata length (P-M-N):   484\n",
		"trailing ignored bytes: 0\n",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("info output lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "sector 0") {
		t.Errorf("info without a key reports on sector 0:\n%s", r.stdout)
	}

	key := writeKeyFile(t, []byte(u.key))
	r = mustRun(t, append([]string{"info", "--key-file", key, "-i", u.enc(t)}, u.flags()...)...)
	if !strings.Contains(r.stdout, "sector 0:               authenticates\n") || !strings.Contains(r.stdout, "AES-256") {
		t.Errorf("info with the key:\n%s", r.stdout)
	}
	r = mustRun(t, "info", "--key-file", key, "-i", u.enc(t))
	if !strings.Contains(r.stdout, "does not authenticate") {
		t.Errorf("info with the wrong nonce length:\n%s", r.stdout)
	}

	// An odd trailing physical sector and a partial one are ignored.
	odd := filepath.Join(t.TempDir(), "odd.img")
	img := append(readFile(t, u.enc(t)), make([]byte, 700)...)
	if err := os.WriteFile(odd, img, 0o600); err != nil {
		t.Fatal(err)
	}
	r = mustRun(t, append([]string{"info", "-i", odd}, u.flags()...)...)
	for _, want := range []string{"physical sectors:       135\n", "logical sectors:        67\n", "trailing ignored bytes: 700\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("info output lacks %q:\n%s", want, r.stdout)
		}
	}
	out := filepath.Join(t.TempDir(), "plain.img")
	r = mustRun(t, append([]string{"dec", "--key-file", key, "-i", odd, "-o", out}, u.flags()...)...)
	if !strings.Contains(r.stderr, "last 700 bytes") {
		t.Errorf("dec of an image with trailing bytes: stderr %q lacks the warning", r.stderr)
	}
	assertSame(t, readFile(t, out), readFile(t, u.plain(t)))
}
