package ccm

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// imageScriptArgs are the key and geometry flags of tests/openssl/ccm-image.js.
func imageScriptArgs(t testing.TB, dir string, p Params) []string {
	return []string{
		"--key-file", writeKeyFile(t, dir, p.Key),
		"--mac-len", strconv.Itoa(p.MacLen),
		"--nonce-len", strconv.Itoa(p.NonceLen),
		"--sector-size", strconv.Itoa(p.SectorSize),
	}
}

// TestOpenSSLImages checks the format both ways against an independent
// implementation on OpenSSL: images this package writes decrypt with
// tests/openssl/ccm-image.js, and images that script writes read here.
func TestOpenSSLImages(t *testing.T) {
	for _, p := range []Params{
		testParams(t, 16, 16, 8, 512),
		testParams(t, 16, 8, 8, 512),
		testParams(t, 24, 4, 7, 512),
		testParams(t, 32, 16, 12, 512),
		testParams(t, 32, 10, 13, 4096),
	} {
		t.Run(fmt.Sprintf("AES%d-M%d-N%d-P%d", len(p.Key)*8, p.MacLen, p.NonceLen, p.SectorSize), func(t *testing.T) {
			dir := t.TempDir()
			args := imageScriptArgs(t, dir, p)
			const sectors = 2*laneMax + 7
			ps := p.SectorSize

			// This package writes, OpenSSL reads.
			img, path := newTestImage(t, p, sectors)
			want := randBytes(t, sectors*ps)
			if err := img.WriteSectors(0, splitSectors(clone(want), ps)); err != nil {
				t.Fatal(err)
			}
			plain := filepath.Join(dir, "plain")
			if out, stderr, err := runNode(t, nil, append([]string{nodeScript, "dec", "-i", path, "-o", plain}, args...)...); err != nil {
				t.Fatalf("OpenSSL dec of our image: %v\n%s%s", err, out, stderr)
			}
			if !bytes.Equal(readFile(t, plain), want) {
				t.Fatal("OpenSSL decrypted our image to different plaintext")
			}

			// OpenSSL writes, this package reads.
			want = randBytes(t, sectors*ps)
			if err := os.WriteFile(plain, want, 0o600); err != nil {
				t.Fatal(err)
			}
			enc := filepath.Join(dir, "enc")
			if out, stderr, err := runNode(t, nil, append([]string{nodeScript, "enc", "-i", plain, "-o", enc}, args...)...); err != nil {
				t.Fatalf("OpenSSL enc: %v\n%s%s", err, out, stderr)
			}
			img2, err := Open(enc, p, OpenOptions{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			defer img2.Close()
			if img2.Sectors() != sectors {
				t.Fatalf("OpenSSL image has %d sectors, want %d", img2.Sectors(), sectors)
			}
			got := make([]byte, len(want))
			if err := img2.ReadSectors(0, [][]byte{got}); err != nil {
				t.Fatalf("reading OpenSSL's image: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatal("OpenSSL's image reads back different plaintext")
			}
		})
	}
}

// TestOpenSSLSeesTampering checks that the script and this package agree on
// which sectors of a tampered image fail.
func TestOpenSSLSeesTampering(t *testing.T) {
	p := testParams(t, 16, 16, 8, 512)
	dir := t.TempDir()
	img, path := newTestImage(t, p, 40)
	if err := img.WriteSectors(0, [][]byte{randBytes(t, 40*512)}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []int64{3, 17, 39} {
		corrupt(t, path, s*1024+513)
	}
	out, _, err := runNode(t, nil, append([]string{nodeScript, "dec", "-i", path, "-o", filepath.Join(dir, "plain")}, imageScriptArgs(t, dir, p)...)...)
	if err == nil || strings.TrimSpace(string(out)) != "bad sectors: 3,17,39" {
		t.Fatalf("OpenSSL dec = %v, %q; want exit 1, bad sectors: 3,17,39", err, out)
	}
}
