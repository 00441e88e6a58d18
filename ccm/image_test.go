package ccm

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// upstreamImage is one reference image of tests/testdata/mirage-ccm (see
// its README for how upstream made them).
type upstreamImage struct {
	name    string
	key     string
	params  Params
	sectors uint64
}

func upstreamImages(t testing.TB) []upstreamImage {
	return []upstreamImage{
		{"a128-m16-n8-s512", "78b22527d5eee5bb05e0c714d7958c89", Params{MacLen: 16, NonceLen: 8}, 64},
		{"a128-m8-n8-s512", "215d03bbb478b5cdacda4f43550d54ed", Params{MacLen: 8, NonceLen: 8}, 61},
		{"a256-m16-n12-s512", "39cd7275b222c22e5b32b19e8986836b17ac1fb409e915887898c22978f7bc1a", Params{MacLen: 16, NonceLen: 12}, 67},
	}
}

func (u upstreamImage) open(t testing.TB, file string) *Image {
	t.Helper()
	p := u.params
	p.Key = mustHex(t, u.key)
	img, err := Open(filepath.Join(upstreamDir(t), file), p, OpenOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = img.Close() })
	return img
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// splitSectors cuts b into buffers of 1, 2, 3, ... sectors in turn, and adds
// an empty buffer, to exercise the mapping of sectors onto buffers.
func splitSectors(b []byte, p int) [][]byte {
	bufs := [][]byte{b[:0]}
	for k := 1; len(b) > 0; k++ {
		n := min(len(b), k*p)
		bufs = append(bufs, b[:n:n])
		b = b[n:]
	}
	return bufs
}

func TestUpstreamImages(t *testing.T) {
	for _, u := range upstreamImages(t) {
		t.Run(u.name, func(t *testing.T) {
			img := u.open(t, u.name+".enc.img")
			want := readFile(t, filepath.Join(upstreamDir(t), u.name+".plain.img"))
			if got := img.Info(); got != (Info{ReadWrite: false, SectorSize: 512, SizeSectors: u.sectors}) {
				t.Fatalf("Info = %+v, want read-only, 512, %d", got, u.sectors)
			}
			got := make([]byte, len(want))
			if err := img.ReadSectors(0, [][]byte{got}); err != nil {
				t.Fatalf("ReadSectors: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatal("one-buffer read differs from the plaintext image")
			}
			clear(got)
			if err := img.ReadSectors(0, splitSectors(got, 512)); err != nil {
				t.Fatalf("ReadSectors into split buffers: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatal("split read differs from the plaintext image")
			}
			for s := range u.sectors {
				one := make([]byte, 512)
				if err := img.ReadSectors(s, [][]byte{one}); err != nil {
					t.Fatalf("sector %d: %v", s, err)
				}
				if !bytes.Equal(one, want[s*512:(s+1)*512]) {
					t.Fatalf("sector %d differs", s)
				}
			}
		})
	}
}

func TestUpstreamTampered(t *testing.T) {
	u := upstreamImages(t)[0]
	img := u.open(t, "a128-m16-n8-s512.tampered-s17.enc.img")
	want := readFile(t, filepath.Join(upstreamDir(t), u.name+".plain.img"))
	got := bytes.Repeat([]byte{0xee}, len(want))
	err := img.ReadSectors(0, splitSectors(got, 512))
	var ae *AuthError
	if !errors.As(err, &ae) || !errors.Is(err, ErrAuth) {
		t.Fatalf("ReadSectors = %v, want an *AuthError", err)
	}
	if ae.Sector != 17 || ae.Count != 1 {
		t.Fatalf("AuthError = %+v, want sector 17, count 1", *ae)
	}
	for s := range u.sectors {
		sec := got[s*512 : (s+1)*512]
		switch {
		case s == 17 && !bytes.Equal(sec, make([]byte, 512)):
			t.Errorf("sector 17 failed but its buffer is not zeroed")
		case s != 17 && !bytes.Equal(sec, want[s*512:(s+1)*512]):
			t.Errorf("sector %d differs from the plaintext image", s)
		}
	}
	one := make([]byte, 512)
	if err := img.ReadSectors(17, [][]byte{one}); !errors.As(err, &ae) || ae.Sector != 17 {
		t.Errorf("read of sector 17 alone = %v, want AuthError at 17", err)
	}
	if err := img.ReadSectors(16, [][]byte{one}); err != nil {
		t.Errorf("read of sector 16: %v", err)
	}
}

// newTestImage makes a file of sectors logical sectors (unformatted) and
// opens it.
func newTestImage(t testing.TB, p Params, sectors int) (*Image, string) {
	t.Helper()
	g, err := p.geometry()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "img")
	if err := os.WriteFile(path, make([]byte, sectors*g.slotLen), 0o600); err != nil {
		t.Fatal(err)
	}
	img, err := Open(path, p, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = img.Close() })
	return img, path
}

func testParams(t testing.TB, keyLen, m, n, p int) Params {
	return Params{Key: randBytes(t, keyLen), MacLen: m, NonceLen: n, SectorSize: p}
}

func TestWriteReadRoundtrip(t *testing.T) {
	for _, p := range []Params{
		testParams(t, 16, 16, 8, 512),
		testParams(t, 24, 4, 7, 512),
		testParams(t, 32, 14, 13, 512),
		testParams(t, 32, 16, 8, 4096),
		testParams(t, 16, 16, 13, 64), // smallest P above 2(M+N) = 58
	} {
		t.Run(fmt.Sprintf("AES%d-M%d-N%d-P%d", len(p.Key)*8, p.MacLen, p.NonceLen, p.SectorSize), func(t *testing.T) {
			const sectors = 3*laneMax + 5
			img, _ := newTestImage(t, p, sectors)
			ps := p.SectorSize
			want := randBytes(t, sectors*ps)
			if err := img.WriteSectors(0, splitSectors(clone(want), ps)); err != nil {
				t.Fatalf("WriteSectors: %v", err)
			}
			got := make([]byte, len(want))
			if err := img.ReadSectors(0, [][]byte{got}); err != nil {
				t.Fatalf("ReadSectors: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatal("read differs from write")
			}
			// Rewrite a middle run and read a window across it.
			patch := randBytes(t, 7*ps)
			copy(want[9*ps:], patch)
			if err := img.WriteSectors(9, [][]byte{patch[:2*ps], patch[2*ps:]}); err != nil {
				t.Fatalf("WriteSectors: %v", err)
			}
			got = make([]byte, 20*ps)
			if err := img.ReadSectors(3, splitSectors(got, ps)); err != nil {
				t.Fatalf("ReadSectors: %v", err)
			}
			if !bytes.Equal(got, want[3*ps:23*ps]) {
				t.Fatal("read after rewrite differs")
			}
			if err := img.Flush(); err != nil {
				t.Fatalf("Flush: %v", err)
			}
		})
	}
}

// TestLargeCallsSplitIntoChunks crosses the ciphertext chunk boundary with
// a tampered sector on each side of the boundary.
func TestLargeCallsSplitIntoChunks(t *testing.T) {
	p := testParams(t, 16, 16, 8, 512)
	chunk := chunkBytes / 1024
	sectors := 2*chunk + 3
	img, path := newTestImage(t, p, sectors)
	want := randBytes(t, sectors*512)
	if err := img.WriteSectors(0, [][]byte{clone(want)}); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(want))
	if err := img.ReadSectors(0, [][]byte{got}); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("large read: %v (equal %v)", err, bytes.Equal(got, want))
	}
	for _, s := range []int{chunk - 1, chunk + 1, 2 * chunk} {
		corrupt(t, path, int64(s)*1024+600)
	}
	err := img.ReadSectors(0, [][]byte{got})
	var ae *AuthError
	if !errors.As(err, &ae) || ae.Sector != uint64(chunk-1) || ae.Count != 3 {
		t.Fatalf("ReadSectors = %v, want AuthError at %d, count 3", err, chunk-1)
	}
}

// corrupt flips one bit of the file at off.
func corrupt(t testing.TB, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x80
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// TestEveryFieldAuthenticated flips a bit in each part of a slot: the
// ciphertext, the tag, the nonce and the adata.
func TestEveryFieldAuthenticated(t *testing.T) {
	p := testParams(t, 16, 8, 10, 512)
	img, path := newTestImage(t, p, 4)
	if err := img.WriteSectors(0, [][]byte{randBytes(t, 4*512)}); err != nil {
		t.Fatal(err)
	}
	for _, off := range []int64{0, 511, 512, 519, 520, 529, 530, 1023} {
		corrupt(t, path, 2*1024+off)
		err := img.ReadSectors(0, [][]byte{make([]byte, 4*512)})
		var ae *AuthError
		if !errors.As(err, &ae) || ae.Sector != 2 || ae.Count != 1 {
			t.Errorf("bit flipped at slot offset %d: %v, want AuthError at 2", off, err)
		}
		corrupt(t, path, 2*1024+off)
	}
	if err := img.ReadSectors(0, [][]byte{make([]byte, 4*512)}); err != nil {
		t.Fatalf("after restoring: %v", err)
	}
}

func TestUnwrittenSectorsFail(t *testing.T) {
	img, _ := newTestImage(t, testParams(t, 16, 16, 8, 512), 4)
	err := img.ReadSectors(0, [][]byte{make([]byte, 4*512)})
	var ae *AuthError
	if !errors.As(err, &ae) || ae.Sector != 0 || ae.Count != 4 {
		t.Fatalf("read of an unformatted image = %v, want AuthError at 0, count 4", err)
	}
	if err.Error() != "ccm: authentication failed at sector 0 and 3 more" {
		t.Errorf("message %q", err)
	}
}

func TestCapacity(t *testing.T) {
	for _, tc := range []struct {
		p       int
		size    int64
		sectors uint64
	}{
		{512, 0, 0},
		{512, 1023, 0},
		{512, 1024, 1},
		{512, 3 * 512, 1},     // odd trailing physical sector
		{512, 4*512 + 100, 2}, // trailing partial sector
		{4096, 5*4096 + 7, 2}, // odd sector and partial bytes
		{4096, 8192 * 1000, 1000},
	} {
		path := filepath.Join(t.TempDir(), "img")
		if err := os.WriteFile(path, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(path, tc.size); err != nil {
			t.Fatal(err)
		}
		p := testParams(t, 16, 16, 8, tc.p)
		img, err := Open(path, p, OpenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if img.Sectors() != tc.sectors || img.SectorSize() != tc.p || img.Info().SizeSectors != tc.sectors {
			t.Errorf("P %d size %d: Sectors = %d, want %d", tc.p, tc.size, img.Sectors(), tc.sectors)
		}
		if tc.sectors > 0 {
			if err := img.WriteSectors(tc.sectors-1, [][]byte{make([]byte, tc.p)}); err != nil {
				t.Errorf("write of the last sector: %v", err)
			}
		}
		if err := img.WriteSectors(tc.sectors, [][]byte{make([]byte, tc.p)}); !errors.Is(err, ErrOutOfRange) {
			t.Errorf("write past the end = %v, want ErrOutOfRange", err)
		}
		_ = img.Close()
		st, err := os.Stat(path)
		if err != nil || st.Size() != tc.size {
			t.Errorf("file size changed to %d", st.Size())
		}
	}
}

func TestArgumentErrors(t *testing.T) {
	img, _ := newTestImage(t, testParams(t, 16, 16, 8, 512), 8)
	for _, tc := range []struct {
		name  string
		start uint64
		bufs  [][]byte
		want  error
	}{
		{"partial sector", 0, [][]byte{make([]byte, 511)}, ErrNotWholeSectors},
		{"second buffer partial", 0, [][]byte{make([]byte, 512), make([]byte, 513)}, ErrNotWholeSectors},
		{"past end", 7, [][]byte{make([]byte, 1024)}, ErrOutOfRange},
		{"start past end", 9, nil, ErrOutOfRange},
		{"start overflows", math.MaxUint64, [][]byte{make([]byte, 512)}, ErrOutOfRange},
		{"start near overflow", math.MaxUint64 - 1, [][]byte{make([]byte, 1024)}, ErrOutOfRange},
	} {
		if err := img.ReadSectors(tc.start, tc.bufs); !errors.Is(err, tc.want) {
			t.Errorf("%s: ReadSectors = %v, want %v", tc.name, err, tc.want)
		}
		if err := img.WriteSectors(tc.start, tc.bufs); !errors.Is(err, tc.want) {
			t.Errorf("%s: WriteSectors = %v, want %v", tc.name, err, tc.want)
		}
	}
	for _, bufs := range [][][]byte{nil, {}, {{}}} {
		if err := img.ReadSectors(8, bufs); err != nil {
			t.Errorf("empty read at the end: %v", err)
		}
		if err := img.WriteSectors(0, bufs); err != nil {
			t.Errorf("empty write: %v", err)
		}
	}
}

func TestBadParams(t *testing.T) {
	k := make([]byte, 16)
	for _, p := range []Params{
		{Key: nil},
		{Key: make([]byte, 15)},
		{Key: make([]byte, 33)},
		{Key: k, MacLen: 3},
		{Key: k, MacLen: 5},
		{Key: k, MacLen: 18},
		{Key: k, NonceLen: 6},
		{Key: k, NonceLen: 14},
		{Key: k, SectorSize: 1000},
		{Key: k, SectorSize: 8192},
		{Key: k, SectorSize: 16},
		{Key: k, MacLen: 16, NonceLen: 8, SectorSize: 32},
		{Key: k, MacLen: 16, NonceLen: 13, SectorSize: 32},
		{Key: k, MacLen: 14, NonceLen: 13, SectorSize: 32},
	} {
		err := p.Validate()
		if !errors.Is(err, ErrBadParams) {
			t.Errorf("Validate(key %d, M %d, N %d, P %d) = %v, want ErrBadParams", len(p.Key), p.MacLen, p.NonceLen, p.SectorSize, err)
			continue
		}
		if _, err := Open(filepath.Join(t.TempDir(), "absent"), p, OpenOptions{}); !errors.Is(err, ErrBadParams) {
			t.Errorf("Open with bad params = %v, want ErrBadParams", err)
		}
	}
	for _, p := range []Params{
		{Key: k},
		{Key: make([]byte, 24), MacLen: 4, NonceLen: 7, SectorSize: 4096},
		{Key: make([]byte, 32), MacLen: 16, NonceLen: 13, SectorSize: 64},
	} {
		if err := p.Validate(); err != nil {
			t.Errorf("Validate(%d, %d, %d): %v", p.MacLen, p.NonceLen, p.SectorSize, err)
		}
	}
	secret := bytes.Repeat([]byte{0xab}, 17)
	if err := (Params{Key: secret}).Validate(); bytes.Contains([]byte(err.Error()), []byte("abab")) {
		t.Errorf("error %q shows key bytes", err)
	}
}

func TestReadOnly(t *testing.T) {
	p := testParams(t, 16, 16, 8, 512)
	img, path := newTestImage(t, p, 4)
	data := randBytes(t, 4*512)
	if err := img.WriteSectors(0, [][]byte{data}); err != nil {
		t.Fatal(err)
	}
	before := readFile(t, path)
	ro, err := Open(path, p, OpenOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if !ro.ReadOnly() || ro.Info().ReadWrite {
		t.Fatal("image opened read-only reports writable")
	}
	if err := ro.WriteSectors(0, [][]byte{make([]byte, 512)}); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("WriteSectors = %v, want ErrReadOnly", err)
	}
	if err := ro.WriteSectors(100, [][]byte{make([]byte, 3)}); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("bad WriteSectors = %v, want ErrReadOnly", err)
	}
	got := make([]byte, len(data))
	if err := ro.ReadSectors(0, [][]byte{got}); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read-only read: %v", err)
	}
	if !bytes.Equal(readFile(t, path), before) {
		t.Fatal("file changed under a read-only image")
	}
	// A file opened O_RDONLY makes the image read-only whatever the options.
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	img2, err := NewImage(f, p, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer img2.Close()
	if !img2.ReadOnly() {
		t.Fatal("image over an O_RDONLY file reports writable")
	}
	if err := img2.WriteSectors(0, [][]byte{make([]byte, 512)}); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("WriteSectors = %v, want ErrReadOnly", err)
	}
}

func TestClose(t *testing.T) {
	img, _ := newTestImage(t, testParams(t, 16, 16, 8, 512), 4)
	if err := img.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	buf := [][]byte{make([]byte, 512)}
	for name, err := range map[string]error{
		"ReadSectors":  img.ReadSectors(0, buf),
		"WriteSectors": img.WriteSectors(0, buf),
		"bad Read":     img.ReadSectors(99, [][]byte{make([]byte, 1)}),
		"Flush":        img.Flush(),
		"Close":        img.Close(),
	} {
		if !errors.Is(err, ErrDisconnected) {
			t.Errorf("%s after Close = %v, want ErrDisconnected", name, err)
		}
	}
}

func TestOpenMissingFile(t *testing.T) {
	_, err := Open(filepath.Join(t.TempDir(), "absent"), Params{Key: make([]byte, 16)}, OpenOptions{})
	var ue *UnknownError
	if !errors.As(err, &ue) || ue.Op != "open" || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Open of a missing file = %v, want UnknownError wrapping ErrNotExist", err)
	}
}

func TestFileShrank(t *testing.T) {
	img, path := newTestImage(t, testParams(t, 16, 16, 8, 512), 8)
	if err := img.WriteSectors(0, [][]byte{make([]byte, 8*512)}); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, 4*1024+10); err != nil {
		t.Fatal(err)
	}
	err := img.ReadSectors(2, [][]byte{make([]byte, 4*512)})
	var ue *UnknownError
	if !errors.As(err, &ue) || ue.Op != "read" || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("read past the shrunk end = %v, want UnknownError wrapping ErrUnexpectedEOF", err)
	}
}

// TestConcurrent runs readers and writers on disjoint sectors of one
// image; run it with -race.
func TestConcurrent(t *testing.T) {
	const workers, per = 8, 40
	p := testParams(t, 32, 16, 8, 512)
	img, _ := newTestImage(t, p, workers*per)
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- worker(img, uint64(w*per), per)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

func worker(img *Image, base uint64, n int) error {
	want := make([]byte, n*512)
	for round := range 5 {
		for i := range want {
			want[i] = byte(int(base) + round + i)
		}
		for s := 0; s < n; s += 5 {
			if err := img.WriteSectors(base+uint64(s), [][]byte{want[s*512 : (s+5)*512]}); err != nil {
				return err
			}
		}
		got := make([]byte, len(want))
		if err := img.ReadSectors(base, splitSectors(got, 512)); err != nil {
			return err
		}
		if !bytes.Equal(got, want) {
			return fmt.Errorf("sectors from %d: read differs from write in round %d", base, round)
		}
	}
	return nil
}

// TestNoAllocationPerSector checks the hot path: a 64 KiB read or write
// (128 sectors) allocates nothing in the steady state. A write draws a
// new generator key every 1 MiB (16 such writes), which allocates a few
// objects, well under one per call on average.
func TestNoAllocationPerSector(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items on purpose under -race")
	}
	img, _ := newTestImage(t, testParams(t, 16, 16, 8, 512), 256)
	buf := [][]byte{make([]byte, 32<<10), make([]byte, 32<<10)}
	if err := img.WriteSectors(0, buf); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() {
		if err := img.WriteSectors(0, buf); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("WriteSectors of 128 sectors: %v allocations per call, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() {
		if err := img.ReadSectors(0, buf); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("ReadSectors of 128 sectors: %v allocations per call, want 0", n)
	}
}
