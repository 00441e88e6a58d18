package ccm

import (
	"bytes"
	"errors"
	"testing"
)

// formatted makes an image of n sectors holding random data and reopens
// it with o.
func formatted(t testing.TB, p Params, n int, o OpenOptions) (*Image, string, []byte) {
	t.Helper()
	img, path := newTestImage(t, p, n)
	data := randBytes(t, n*p.SectorSize)
	if err := img.WriteSectors(0, [][]byte{data}); err != nil {
		t.Fatal(err)
	}
	_ = img.Close()
	return reopen(t, path, p, o), path, data
}

func TestWriteZeroesDefaultEncrypts(t *testing.T) {
	p := testParams(t, 16, 16, 8, 512)
	img, path, data := formatted(t, p, 600, OpenOptions{})
	before := readFile(t, path)
	// unmap is a hint on a default image: both store encrypted zeros.
	if err := img.WriteZeroes(10, 300, true); err != nil {
		t.Fatal(err)
	}
	if err := img.WriteZeroes(400, 7, false); err != nil {
		t.Fatal(err)
	}
	after := readFile(t, path)
	for s := 10; s < 310; s++ {
		if bytes.Equal(after[s*1024+512:(s+1)*1024], before[s*1024+512:(s+1)*1024]) {
			t.Fatalf("sector %d kept its tag, nonce and adata", s)
		}
		if isZero(after[s*1024 : (s+1)*1024]) {
			t.Fatalf("sector %d is a hole on a default image", s)
		}
	}
	plain := reopen(t, path, p, OpenOptions{ReadOnly: true})
	got, err := readAll(t, plain, 0, 600)
	if err != nil {
		t.Fatalf("read after WriteZeroes: %v", err)
	}
	want := bytes.Clone(data)
	clear(want[10*512 : 310*512])
	clear(want[400*512 : 407*512])
	if !bytes.Equal(got, want) {
		t.Fatal("WriteZeroes did not zero exactly its range")
	}
	if err := img.Discard(0, 1); !errors.Is(err, ErrUnimplemented) {
		t.Fatalf("Discard on a default image = %v, want ErrUnimplemented", err)
	}
}

func TestSparsePunchesHoles(t *testing.T) {
	p := testParams(t, 16, 16, 8, 512)
	// 4096 sectors: 4 MiB of slots, so whole file system blocks get freed.
	img, path, data := formatted(t, p, 4096, OpenOptions{Sparse: true})
	before := allocated(t, path)
	if err := img.Discard(0, 1024); err != nil {
		t.Fatal(err)
	}
	if err := img.WriteZeroes(2048, 1024, true); err != nil {
		t.Fatal(err)
	}
	// Without unmap, a sparse image stores encrypted zeros.
	if err := img.WriteZeroes(3500, 10, false); err != nil {
		t.Fatal(err)
	}
	if after := allocated(t, path); after > before-3<<20/2 {
		t.Fatalf("allocated %d bytes before, %d after freeing 2 MiB of slots", before, after)
	}
	got, err := readAll(t, img, 0, 4096)
	if err != nil {
		t.Fatalf("sparse read: %v", err)
	}
	want := bytes.Clone(data)
	clear(want[:1024*512])
	clear(want[2048*512 : 3072*512])
	clear(want[3500*512 : 3510*512])
	if !bytes.Equal(got, want) {
		t.Fatal("sparse image does not read back as written and zeroed")
	}
	raw := readFile(t, path)
	if isZero(raw[3500*1024 : 3510*1024]) {
		t.Fatal("WriteZeroes without unmap punched a hole")
	}
	// A plain open sees the holes as unwritten sectors.
	plain := reopen(t, path, p, OpenOptions{ReadOnly: true})
	_, err = readAll(t, plain, 0, 4096)
	var ae *AuthError
	if !errors.As(err, &ae) || ae.Sector != 0 || ae.Count != 2048 {
		t.Fatalf("plain read of a punched image = %v, want 2048 failures from 0", err)
	}
}

// TestSparseStillAuthenticates: sparse mode accepts only all-zero slots;
// any other damage still fails, and the first failing sector is named.
func TestSparseStillAuthenticates(t *testing.T) {
	p := testParams(t, 16, 16, 8, 512)
	img, path, _ := formatted(t, p, 40, OpenOptions{Sparse: true})
	if err := img.Discard(3, 2); err != nil {
		t.Fatal(err)
	}
	corrupt(t, path, 7*1024+600) // the nonce of sector 7
	corrupt(t, path, 4*1024+5)   // one byte in the hole of sector 4
	buf := make([]byte, 40*512)
	err := img.ReadSectors(0, [][]byte{buf})
	var ae *AuthError
	if !errors.As(err, &ae) || ae.Sector != 4 || ae.Count != 2 {
		t.Fatalf("read = %v, want failures at 4 and 7", err)
	}
	if !isZero(buf[4*512:5*512]) || !isZero(buf[7*512:8*512]) || !isZero(buf[3*512:4*512]) {
		t.Fatal("failed or unwritten sectors not zeroed")
	}
}

func TestZeroesArgumentErrors(t *testing.T) {
	p := testParams(t, 16, 16, 8, 512)
	img, path, _ := formatted(t, p, 8, OpenOptions{Sparse: true})
	for _, tc := range []struct{ start, n uint64 }{{8, 1}, {0, 9}, {7, 2}, {1, ^uint64(0)}, {^uint64(0), 1}} {
		if err := img.WriteZeroes(tc.start, tc.n, false); !errors.Is(err, ErrOutOfRange) {
			t.Errorf("WriteZeroes(%d, %d) = %v, want ErrOutOfRange", tc.start, tc.n, err)
		}
		if err := img.Discard(tc.start, tc.n); !errors.Is(err, ErrOutOfRange) {
			t.Errorf("Discard(%d, %d) = %v, want ErrOutOfRange", tc.start, tc.n, err)
		}
	}
	if err := img.WriteZeroes(8, 0, true); err != nil {
		t.Errorf("empty WriteZeroes at the end = %v", err)
	}
	ro := reopen(t, path, p, OpenOptions{ReadOnly: true, Sparse: true})
	if err := ro.WriteZeroes(0, 1, false); !errors.Is(err, ErrReadOnly) {
		t.Errorf("read-only WriteZeroes = %v", err)
	}
	if err := ro.Discard(0, 1); !errors.Is(err, ErrReadOnly) {
		t.Errorf("read-only Discard = %v", err)
	}
	_ = img.Close()
	if err := img.WriteZeroes(0, 1, true); !errors.Is(err, ErrDisconnected) {
		t.Errorf("WriteZeroes after Close = %v", err)
	}
}
