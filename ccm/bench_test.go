package ccm

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

// The engine benchmarks measure what one core does for a guest request of
// 64 KiB in 512-byte sectors (M 16, N 8): read = positional read +
// decrypt + verify, write = nonce and adata fill + encrypt + positional
// write. The image sits in tmpfs so that the file system costs little.
// MB/s counts logical (plaintext) bytes.
const (
	benchRequest = 64 << 10
	benchImage   = 16 << 20 // logical bytes
)

var benchKeys = []struct {
	name string
	len  int
}{{"AES128", 16}, {"AES256", 32}}

// benchImageFile makes and formats an image in /dev/shm (or the temporary
// directory if there is no /dev/shm).
func benchImageFile(b *testing.B, p Params) *Image {
	b.Helper()
	dir := "/dev/shm"
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		dir = b.TempDir()
		b.Logf("no /dev/shm; image in %s", dir)
	}
	f, err := os.CreateTemp(dir, "ccm-bench-*.img")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = os.Remove(f.Name()) })
	if err := f.Truncate(2 * benchImage); err != nil {
		b.Fatal(err)
	}
	img, err := NewImage(f, p, OpenOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = img.Close() })
	if err := img.WriteSectors(0, [][]byte{make([]byte, benchImage)}); err != nil {
		b.Fatal(err)
	}
	return img
}

func benchParams(keyLen int) Params {
	return Params{Key: bytes.Repeat([]byte{0x42}, keyLen), MacLen: 16, NonceLen: 8, SectorSize: 512}
}

func BenchmarkRead(b *testing.B) {
	for _, k := range benchKeys {
		b.Run(k.name, func(b *testing.B) {
			img := benchImageFile(b, benchParams(k.len))
			buf := [][]byte{make([]byte, benchRequest)}
			per := uint64(benchRequest / 512)
			b.SetBytes(benchRequest)
			b.ResetTimer()
			var s uint64
			for range b.N {
				if err := img.ReadSectors(s, buf); err != nil {
					b.Fatal(err)
				}
				s = (s + per) % img.Sectors()
			}
		})
	}
}

func BenchmarkWrite(b *testing.B) {
	for _, k := range benchKeys {
		b.Run(k.name, func(b *testing.B) {
			img := benchImageFile(b, benchParams(k.len))
			buf := [][]byte{bytes.Repeat([]byte{0x17}, benchRequest)}
			per := uint64(benchRequest / 512)
			b.SetBytes(benchRequest)
			b.ResetTimer()
			var s uint64
			for range b.N {
				if err := img.WriteSectors(s, buf); err != nil {
					b.Fatal(err)
				}
				s = (s + per) % img.Sectors()
			}
		})
	}
}

// BenchmarkWriteZeroes times WRITE_ZEROES on a default image (encrypted
// zero sectors, fresh nonce and adata each, no plaintext read) beside a
// plain write of a buffer of zeros, in requests of 1 MiB as a guest's
// BLKZEROOUT sends them: the same CCM work, so the same MB/s is the
// expected result.
func BenchmarkWriteZeroes(b *testing.B) {
	const request = 1 << 20
	per := uint64(request / 512)
	for _, k := range benchKeys {
		for _, op := range []struct {
			name string
			do   func(img *Image, s uint64, buf [][]byte) error
		}{
			{"write-zeroes", func(img *Image, s uint64, _ [][]byte) error { return img.WriteZeroes(s, per, true) }},
			{"write-of-zeros", func(img *Image, s uint64, buf [][]byte) error { return img.WriteSectors(s, buf) }},
		} {
			b.Run(k.name+"/"+op.name, func(b *testing.B) {
				img := benchImageFile(b, benchParams(k.len))
				buf := [][]byte{make([]byte, request)}
				b.SetBytes(request)
				b.ResetTimer()
				var s uint64
				for range b.N {
					if err := op.do(img, s, buf); err != nil {
						b.Fatal(err)
					}
					s = (s + per) % img.Sectors()
				}
			})
		}
	}
}

// BenchmarkSealSectors and BenchmarkOpenSectors time the CPU work of the
// same requests without the file: nonce and adata fill plus CCM for a
// write, CCM and tag checks for a read, on a ciphertext buffer in memory.
// The difference to BenchmarkWrite and BenchmarkRead is the cost of
// pwrite/pread of the 2x larger ciphertext.
func BenchmarkSealSectors(b *testing.B) {
	for _, k := range benchKeys {
		b.Run(k.name, func(b *testing.B) {
			sc, ls, ct := benchSectorCipher(b, k.len)
			pt := [][]byte{bytes.Repeat([]byte{0x17}, benchRequest)}
			rng := newDRBG()
			b.SetBytes(benchRequest)
			b.ResetTimer()
			for range b.N {
				rng.fillTails(ct, sc.slotLen, sc.sectorSize)
				sc.seal(ls, ct, &sectorCursor{bufs: pt, size: sc.sectorSize})
			}
		})
	}
}

func BenchmarkOpenSectors(b *testing.B) {
	for _, k := range benchKeys {
		b.Run(k.name, func(b *testing.B) {
			sc, ls, ct := benchSectorCipher(b, k.len)
			pt := [][]byte{make([]byte, benchRequest)}
			newDRBG().fillTails(ct, sc.slotLen, sc.sectorSize)
			sc.seal(ls, ct, &sectorCursor{bufs: pt, size: sc.sectorSize})
			b.SetBytes(benchRequest)
			b.ResetTimer()
			for range b.N {
				if _, failed := sc.open(ls, ct, &sectorCursor{bufs: pt, size: sc.sectorSize}); failed != 0 {
					b.Fatal("sector failed to open")
				}
			}
		})
	}
}

func benchSectorCipher(b *testing.B, keyLen int) (*sectorCipher, *laneState, []byte) {
	b.Helper()
	g, err := benchParams(keyLen).geometry()
	if err != nil {
		b.Fatal(err)
	}
	k, err := newKernelKey(benchParams(keyLen).Key)
	if err != nil {
		b.Fatal(err)
	}
	return &sectorCipher{geometry: g, key: k}, g.newLaneState(), make([]byte, 2*benchRequest)
}

// BenchmarkOpenSSL runs tests/openssl/ccm-image.js's speed mode: OpenSSL's
// AES-CCM through node's crypto, one CCM operation per 512-byte sector
// with the format's 488-byte adata (M 16, N 8), seal with random nonce and
// adata, open with verification. It reports the script's MB/s as
// openssl-node-write-MB/s and openssl-node-read-MB/s, beside the engine's
// MB/s above. Node costs several microseconds per call, more than the CCM
// work of a sector, so the script also times OpenSSL's speed command on a
// message of the same CBC-MAC length, reported as openssl-evp-write-MB/s
// and openssl-evp-read-MB/s: that is OpenSSL's own single-message CCM
// speed on this work. Its ns/op is the script's run time and means
// nothing.
func BenchmarkOpenSSL(b *testing.B) {
	for _, k := range benchKeys {
		b.Run(k.name, func(b *testing.B) {
			p := benchParams(k.len)
			args := append([]string{nodeScript, "speed", "--seconds", "1"}, imageScriptArgs(b, b.TempDir(), p)...)
			var m map[string]float64
			for range b.N {
				out, stderr, err := runNode(b, nil, args...)
				if err != nil {
					b.Fatalf("node speed: %v\n%s", err, stderr)
				}
				if m, err = parseSpeed(out); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(m["seal_MBps"], "openssl-node-write-MB/s")
			b.ReportMetric(m["open_MBps"], "openssl-node-read-MB/s")
			if w, ok := m["evp_seal_MBps"]; ok {
				b.ReportMetric(w, "openssl-evp-write-MB/s")
				b.ReportMetric(m["evp_open_MBps"], "openssl-evp-read-MB/s")
			} else {
				b.Log("no openssl command: only node's figures")
			}
		})
	}
}

// parseSpeed reads the "name value" lines of the script's speed mode; it
// requires seal_MBps and open_MBps.
func parseSpeed(out []byte) (map[string]float64, error) {
	m := make(map[string]float64)
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			return nil, fmt.Errorf("speed output line %q", sc.Text())
		}
		v, err := strconv.ParseFloat(val, 64)
		if err != nil {
			return nil, fmt.Errorf("speed output %q: %w", sc.Text(), err)
		}
		m[name] = v
	}
	if _, ok := m["seal_MBps"]; !ok {
		return nil, fmt.Errorf("speed output %q lacks seal_MBps", out)
	}
	if _, ok := m["open_MBps"]; !ok {
		return nil, fmt.Errorf("speed output %q lacks open_MBps", out)
	}
	return m, nil
}

func TestParseSpeed(t *testing.T) {
	m, err := parseSpeed([]byte("seal_MBps 107.4\nopen_MBps 134.6\nevp_seal_MBps 573.4\n"))
	if err != nil || m["seal_MBps"] != 107.4 || m["open_MBps"] != 134.6 || m["evp_seal_MBps"] != 573.4 {
		t.Fatalf("parseSpeed = %v, %v", m, err)
	}
	if _, err := parseSpeed([]byte("seal_MBps 1\n")); err == nil {
		t.Fatal("parseSpeed accepted output without open_MBps")
	}
}
