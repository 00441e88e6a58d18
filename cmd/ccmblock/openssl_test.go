package main

import (
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// opensslChecker is the independent AES-CCM image tool built on node's
// crypto module (OpenSSL), relative to this package.
var opensslChecker = filepath.Join("..", "..", "tests", "openssl", "ccm-image.js")

// checker runs the OpenSSL-based tool and fails the test unless it
// succeeds.
func checker(t *testing.T, args ...string) {
	t.Helper()
	if _, err := os.Stat(opensslChecker); err != nil {
		t.Fatalf("OpenSSL checker: %v", err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is needed for the OpenSSL cross-check: %v", err)
	}
	cmd := exec.Command(node, append([]string{opensslChecker}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("node %s %v: %v\n%s", opensslChecker, args, err, out)
	}
}

func TestOpenSSLCrossCheck(t *testing.T) {
	cases := []struct {
		keyBytes, mac, nonce, sectorSize, sectors int
	}{
		{16, 16, 8, 512, 2100},
		{32, 8, 12, 4096, 17},
		{24, 4, 13, 512, 3},
	}
	for _, tc := range cases {
		name := strconv.Itoa(8*tc.keyBytes) + "-m" + strconv.Itoa(tc.mac) + "-n" + strconv.Itoa(tc.nonce) + "-p" + strconv.Itoa(tc.sectorSize)
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			key := make([]byte, tc.keyBytes)
			_, _ = rand.Read(key)
			keyFile := writeKeyFile(t, key)
			flags := []string{"--key-file", keyFile, "--mac-len", strconv.Itoa(tc.mac), "--nonce-len", strconv.Itoa(tc.nonce), "--sector-size", strconv.Itoa(tc.sectorSize)}
			plain := filepath.Join(dir, "plain.img")
			data := make([]byte, tc.sectors*tc.sectorSize)
			_, _ = rand.Read(data)
			if err := os.WriteFile(plain, data, 0o600); err != nil {
				t.Fatal(err)
			}

			// ccmblock enc -> OpenSSL dec.
			enc := filepath.Join(dir, "ours.enc.img")
			mustRun(t, append([]string{"enc", "-i", plain, "-o", enc}, flags...)...)
			back := filepath.Join(dir, "ours.plain.img")
			checker(t, append([]string{"dec", "-i", enc, "-o", back}, flags...)...)
			assertSame(t, readFile(t, back), data)

			// OpenSSL enc -> ccmblock dec.
			theirs := filepath.Join(dir, "theirs.enc.img")
			checker(t, append([]string{"enc", "-i", plain, "-o", theirs}, flags...)...)
			if n := len(readFile(t, theirs)); n != 2*len(data) {
				t.Fatalf("OpenSSL image is %d bytes, want %d", n, 2*len(data))
			}
			out := filepath.Join(dir, "theirs.plain.img")
			mustRun(t, append([]string{"dec", "-i", theirs, "-o", out}, flags...)...)
			assertSame(t, readFile(t, out), data)
		})
	}
}
