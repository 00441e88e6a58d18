//go:build integration

package tests

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/ccmblk/ccmblk/tests/vmtest"
)

// refImage is one mirage-ccm reference image (see the README beside them).
type refImage struct {
	name      string // file name stem, e.g. a128-m16-n8-s512
	keyHex    string
	macLen    int
	nonceLen  int
	plainSize uint64
	plainSHA  string // SHA-256 of the plaintext image
}

// refImages are the upstream images with the parameters their README gives.
var refImages = []refImage{
	{"a128-m16-n8-s512", "78b22527d5eee5bb05e0c714d7958c89", 16, 8, 32768,
		"22691db85fafc91e6d2260a874259ceaafbb0b6eacdf5bf847899fbf1d24c99a"},
	{"a128-m8-n8-s512", "215d03bbb478b5cdacda4f43550d54ed", 8, 8, 31232,
		"9ab9e012ccbfb7f595cf60d7b74f9bfe36f829e10416339ea0357930a173eb54"},
	{"a256-m16-n12-s512", "39cd7275b222c22e5b32b19e8986836b17ac1fb409e915887898c22978f7bc1a", 16, 12, 34304,
		"2adc76a4d3e78feb287690089ed980fdfacbf48609072e0dfc97f55ebf0bc91f"},
}

// tamperedImage is refImages[0] with byte 100 of logical sector 17's
// ciphertext flipped.
const (
	tamperedImage  = "a128-m16-n8-s512.tampered-s17.enc.img"
	tamperedSector = 17
)

// testdata returns the path of a file among the reference images.
func testdata(t *testing.T, name string) string {
	t.Helper()
	dir, err := vmtest.TestdataDir()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if _, err := os.Stat(p); err != nil {
		t.Fatal(err)
	}
	return p
}

// plainPath returns the plaintext image of r.
func (r refImage) plainPath(t *testing.T) string { return testdata(t, r.name+".plain.img") }

// encPath returns the encrypted image of r.
func (r refImage) encPath(t *testing.T) string { return testdata(t, r.name+".enc.img") }
