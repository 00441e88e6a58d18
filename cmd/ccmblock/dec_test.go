package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// plainSHA256 are the checksums of the plaintext images, from the README
// beside them.
var plainSHA256 = map[string]string{
	"a128-m16-n8-s512":  "22691db85fafc91e6d2260a874259ceaafbb0b6eacdf5bf847899fbf1d24c99a",
	"a128-m8-n8-s512":   "9ab9e012ccbfb7f595cf60d7b74f9bfe36f829e10416339ea0357930a173eb54",
	"a256-m16-n12-s512": "2adc76a4d3e78feb287690089ed980fdfacbf48609072e0dfc97f55ebf0bc91f",
}

func TestDecUpstreamImages(t *testing.T) {
	for _, u := range upstreamImages {
		t.Run(u.name, func(t *testing.T) {
			key := writeKeyFile(t, []byte(u.key+"\n"))
			out := filepath.Join(t.TempDir(), "plain.img")
			r := mustRun(t, append([]string{"dec", "--key-file", key, "-i", u.enc(t), "-o", out}, u.flags()...)...)
			if r.stderr != "" {
				t.Errorf("stderr: %q, want nothing", r.stderr)
			}
			got := readFile(t, out)
			assertSame(t, got, readFile(t, u.plain(t)))
			if len(got) != u.sectors*512 {
				t.Errorf("got %d bytes, want %d", len(got), u.sectors*512)
			}
			sum := sha256.Sum256(got)
			if h := hex.EncodeToString(sum[:]); h != plainSHA256[u.name] {
				t.Errorf("sha256 %s, want %s", h, plainSHA256[u.name])
			}
			st, err := os.Stat(out)
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm()&0o077 != 0 {
				t.Errorf("plaintext output mode %o, want no group/other access", st.Mode().Perm())
			}
		})
	}
}

func TestDecTamperedReportsOnlySector17(t *testing.T) {
	u := upstreamImages[0]
	key := writeKeyFile(t, []byte(u.key))
	out := filepath.Join(t.TempDir(), "plain.img")
	in := filepath.Join(testdataDir(t), "a128-m16-n8-s512.tampered-s17.enc.img")
	r := ccmblock(t, "dec", "--key-file", key, "-i", in, "-o", out)
	if r.code != exitFail {
		t.Fatalf("exit %d, want %d; stderr: %s", r.code, exitFail, r.stderr)
	}
	if !strings.Contains(r.stderr, "ccmblock dec: bad sectors: 17\n") {
		t.Errorf("stderr %q does not list exactly sector 17", r.stderr)
	}
	if !strings.Contains(r.stderr, "1 of 64 sectors fail authentication") {
		t.Errorf("stderr %q lacks the summary", r.stderr)
	}
	if strings.Contains(r.stderr, "wrong key") {
		t.Errorf("stderr %q gives the wrong-key hint for one damaged sector", r.stderr)
	}
	got := readFile(t, out)
	want := readFile(t, u.plain(t))
	clear(want[17*512 : 18*512])
	assertSame(t, got, want)
}

func TestDecManyBadSectors(t *testing.T) {
	// Damage sectors in two chunks' worth of image so that the failing
	// sectors are found in a multi-sector read: 1, 2, 3, 700, 2047-2049.
	dir := t.TempDir()
	key := writeKeyFile(t, []byte("000102030405060708090a0b0c0d0e0f"))
	plain := filepath.Join(dir, "plain.img")
	data := bytes.Repeat([]byte("0123456789abcdef"), 2100*512/16)
	if err := os.WriteFile(plain, data, 0o600); err != nil {
		t.Fatal(err)
	}
	enc := filepath.Join(dir, "enc.img")
	mustRun(t, "enc", "--key-file", key, "-i", plain, "-o", enc)
	img := readFile(t, enc)
	bad := []int{1, 2, 3, 700, 2047, 2048, 2049}
	for _, s := range bad {
		img[s*1024+511] ^= 0x80
	}
	if err := os.WriteFile(enc, img, 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.img")
	r := ccmblock(t, "dec", "--key-file", key, "-i", enc, "-o", out)
	if r.code != exitFail {
		t.Fatalf("exit %d, want %d", r.code, exitFail)
	}
	if !strings.Contains(r.stderr, "ccmblock dec: bad sectors: 1-3,700,2047-2049\n") {
		t.Errorf("stderr %q, want bad sectors: 1-3,700,2047-2049", r.stderr)
	}
	for _, s := range bad {
		clear(data[s*512 : (s+1)*512])
	}
	assertSame(t, readFile(t, out), data)
}

func TestDecWrongKeyOrParamsGivesHint(t *testing.T) {
	u := upstreamImages[0]
	m8 := upstreamImages[1]
	cases := []struct {
		name string
		key  string
		in   string
		args []string
	}{
		{"wrong key", "00000000000000000000000000000000", u.enc(t), u.flags()},
		{"upstream 1.x image read as 2.x", m8.key, m8.enc(t), nil},
		{"wrong nonce length", u.key, u.enc(t), []string{"--nonce-len", "12"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "plain.img")
			args := append([]string{"dec", "--key-file", writeKeyFile(t, []byte(tc.key)), "-i", tc.in, "-o", out}, tc.args...)
			r := ccmblock(t, args...)
			if r.code != exitFail {
				t.Fatalf("exit %d, want %d", r.code, exitFail)
			}
			if !strings.Contains(r.stderr, wrongKeyHint) {
				t.Errorf("stderr %q lacks the hint", r.stderr)
			}
			if !strings.Contains(r.stderr, "bad sectors: 0-") {
				t.Errorf("stderr %q does not report the failing sectors from 0", r.stderr)
			}
			if strings.Contains(r.stderr, tc.key) {
				t.Errorf("stderr contains the key")
			}
		})
	}
}
