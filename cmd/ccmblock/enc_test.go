package main

import (
	"bytes"
	"crypto/rand"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

func TestEncDecRoundtrip(t *testing.T) {
	cases := []struct {
		name       string
		keyBytes   int
		mac, nonce int
		sectorSize int
		sectors    int
	}{
		// 2048 sectors of 512 bytes make one chunk: cover a partial second
		// chunk, and a single sector.
		{"aes128 m16 n8 p512", 16, 16, 8, 512, 2048 + 37},
		{"aes192 m8 n13 p512", 24, 8, 13, 512, 1},
		{"aes256 m4 n7 p4096", 32, 4, 7, 4096, 300},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			key := make([]byte, tc.keyBytes)
			_, _ = rand.Read(key)
			keyFile := writeKeyFile(t, key) // raw bytes
			plain := filepath.Join(dir, "plain.img")
			data := make([]byte, tc.sectors*tc.sectorSize)
			_, _ = rand.Read(data)
			if err := os.WriteFile(plain, data, 0o600); err != nil {
				t.Fatal(err)
			}
			flags := []string{"--key-file", keyFile, "--mac-len", strconv.Itoa(tc.mac), "--nonce-len", strconv.Itoa(tc.nonce), "--sector-size", strconv.Itoa(tc.sectorSize)}
			enc := filepath.Join(dir, "enc.img")
			mustRun(t, append([]string{"enc", "-i", plain, "-o", enc}, flags...)...)
			ct := readFile(t, enc)
			if len(ct) != 2*len(data) {
				t.Fatalf("encrypted image is %d bytes, want %d", len(ct), 2*len(data))
			}
			if bytes.Contains(ct, data[:tc.sectorSize]) {
				t.Fatal("encrypted image contains the plaintext of sector 0")
			}
			out := filepath.Join(dir, "out.img")
			mustRun(t, append([]string{"dec", "-i", enc, "-o", out}, flags...)...)
			assertSame(t, readFile(t, out), data)

			// A second encryption draws fresh nonces and adata.
			enc2 := filepath.Join(dir, "enc2.img")
			mustRun(t, append([]string{"enc", "-i", plain, "-o", enc2}, flags...)...)
			if bytes.Equal(readFile(t, enc2)[:2*tc.sectorSize], ct[:2*tc.sectorSize]) {
				t.Error("two encryptions of sector 0 are identical")
			}
		})
	}
}

func TestEncRefusesPartialSectorUnlessPad(t *testing.T) {
	// One worker, so that the last chunk reuses the buffer of the first and
	// the padding must overwrite what the first chunk left there.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	dir := t.TempDir()
	key := writeKeyFile(t, []byte("0x000102030405060708090a0b0c0d0e0f\n"))
	plain := filepath.Join(dir, "plain.img")
	data := bytes.Repeat([]byte{0xa5}, chunkBytes+1000)
	if err := os.WriteFile(plain, data, 0o600); err != nil {
		t.Fatal(err)
	}
	enc := filepath.Join(dir, "enc.img")
	r := ccmblock(t, "enc", "--key-file", key, "-i", plain, "-o", enc)
	if r.code != exitFail || !strings.Contains(r.stderr, "not a multiple of the 512-byte sector size") {
		t.Fatalf("exit %d stderr %q, want a sector-size error", r.code, r.stderr)
	}
	if _, err := os.Stat(enc); !os.IsNotExist(err) {
		t.Errorf("output exists after a refused enc: %v", err)
	}

	mustRun(t, "enc", "--pad", "--key-file", key, "-i", plain, "-o", enc)
	if n := len(readFile(t, enc)); n != 2*(chunkBytes+1024) {
		t.Fatalf("padded image is %d bytes, want %d", n, 2*(chunkBytes+1024))
	}
	out := filepath.Join(dir, "out.img")
	mustRun(t, "dec", "--key-file", key, "-i", enc, "-o", out)
	assertSame(t, readFile(t, out), append(data, make([]byte, 24)...))
}

func TestEncOfEmptyImage(t *testing.T) {
	dir := t.TempDir()
	key := writeKeyFile(t, []byte("000102030405060708090a0b0c0d0e0f"))
	plain := filepath.Join(dir, "plain.img")
	if err := os.WriteFile(plain, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	enc := filepath.Join(dir, "enc.img")
	mustRun(t, "enc", "--key-file", key, "-i", plain, "-o", enc)
	if n := len(readFile(t, enc)); n != 0 {
		t.Fatalf("encrypted empty image is %d bytes, want 0", n)
	}
}
