package main

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/ccmblk/ccmblk/ccm"
)

// sectorSize is the sector size of the test images.
const sectorSize = 512

// sectorData returns the plaintext of sector s in generation gen of a test
// image: generation 0 is the initial content, each later one a write.
func sectorData(gen, s int) []byte {
	b := make([]byte, sectorSize)
	binary.LittleEndian.PutUint64(b, uint64(gen))
	binary.LittleEndian.PutUint64(b[8:], uint64(s))
	for i := 16; i < len(b); i++ {
		b[i] = byte(i*7 + s*13 + gen*101)
	}
	return b
}

// sectorsData returns the plaintext of n sectors from s on in generation
// gen.
func sectorsData(gen, s, n int) []byte {
	var b []byte
	for i := range n {
		b = append(b, sectorData(gen, s+i)...)
	}
	return b
}

// newKey returns a fresh random key of n bytes and registers it for
// checkNoKey.
func newKey(t *testing.T, n int) []byte {
	t.Helper()
	k := make([]byte, n)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	keys.mu.Lock()
	keys.list = append(keys.list, k)
	keys.mu.Unlock()
	return k
}

// writeKeyFile writes k as hex text to a new 0600 file in dir.
func writeKeyFile(t *testing.T, dir, name string, k []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(hex.EncodeToString(k)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// ccmImage is an encrypted test image and its key file, with an AES-256 key
// and the default tag (16) and nonce (8) lengths.
type ccmImage struct {
	path    string
	keyFile string
	params  ccm.Params
	// sectors is the size in 512-byte units, the unit of virtio-blk
	// requests and of sectorData.
	sectors int
}

// newCCMImage creates an image of n 512-byte sectors holding generation 0
// of sectorData.
func newCCMImage(t *testing.T, n int) *ccmImage { return newCCMImageP(t, n, sectorSize) }

// newCCMImageP creates an image with sectors of ps bytes holding n 512-byte
// units of generation 0 of sectorData; n*512 must be a multiple of ps.
func newCCMImageP(t *testing.T, n, ps int) *ccmImage {
	t.Helper()
	dir := t.TempDir()
	key := newKey(t, 32)
	im := &ccmImage{
		path:    filepath.Join(dir, "disk.img"),
		keyFile: writeKeyFile(t, dir, "disk.key", key),
		params:  ccm.Params{Key: key, MacLen: 16, NonceLen: 8, SectorSize: ps},
		sectors: n,
	}
	if err := os.WriteFile(im.path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(im.path, int64(2*n*sectorSize)); err != nil {
		t.Fatal(err)
	}
	img, err := ccm.Open(im.path, im.params, ccm.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	if err := img.WriteSectors(0, [][]byte{sectorsData(0, 0, n)}); err != nil {
		t.Fatal(err)
	}
	return im
}

// args returns the daemon flags that serve the image.
func (im *ccmImage) args() []string {
	return []string{"--blk-file", im.path, "--key-file", im.keyFile,
		"--mac-len", strconv.Itoa(im.params.MacLen), "--nonce-len", strconv.Itoa(im.params.NonceLen),
		"--sector-size", strconv.Itoa(im.params.SectorSize)}
}

// plaintext decrypts the whole image on the host; every sector must
// authenticate.
func (im *ccmImage) plaintext(t *testing.T) []byte {
	t.Helper()
	img, err := ccm.Open(im.path, im.params, ccm.OpenOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	if got := img.Sectors() * uint64(img.SectorSize()); got != uint64(im.sectors*sectorSize) {
		t.Fatalf("image holds %d bytes, want %d", got, im.sectors*sectorSize)
	}
	b := make([]byte, im.sectors*sectorSize)
	if err := img.ReadSectors(0, [][]byte{b}); err != nil {
		t.Fatalf("host decryption of %s: %v", im.path, err)
	}
	return b
}

// rawImage creates a plain image of n sectors holding generation 0 of
// sectorData.
func rawImage(t *testing.T, n int) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "plain.img")
	if err := os.WriteFile(p, sectorsData(0, 0, n), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// checkSectors compares got, the plaintext of sectors from start on, with
// generation gen and reports the first difference.
func checkSectors(t *testing.T, what string, got []byte, gen, start int) {
	t.Helper()
	for i := 0; i*sectorSize < len(got); i++ {
		if !bytes.Equal(got[i*sectorSize:(i+1)*sectorSize], sectorData(gen, start+i)) {
			t.Errorf("%s: sector %d does not hold generation %d", what, start+i, gen)
			return
		}
	}
}

// checkEither reports a sector from start on in got that holds neither
// generation a nor b.
func checkEither(t *testing.T, what string, got []byte, a, b, start int) {
	t.Helper()
	for i := 0; i*sectorSize < len(got); i++ {
		s := got[i*sectorSize : (i+1)*sectorSize]
		if !bytes.Equal(s, sectorData(a, start+i)) && !bytes.Equal(s, sectorData(b, start+i)) {
			t.Errorf("%s: sector %d holds neither generation %d nor %d", what, start+i, a, b)
			return
		}
	}
}
