package ccm

import (
	"os"
	"reflect"
	"testing"
)

type run struct{ s, k uint64 }

func unwrittenRuns(t *testing.T, img *Image, start, n uint64) []run {
	t.Helper()
	var got []run
	if err := img.Unwritten(start, n, func(s, k uint64) { got = append(got, run{s, k}) }); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestUnwrittenFindsHolesAndZeroSlots(t *testing.T) {
	p := testParams(t, 16, 16, 8, 512)
	img, _, _ := formatted(t, p, 2048, OpenOptions{Sparse: true})
	if got := unwrittenRuns(t, img, 0, 2048); len(got) != 0 {
		t.Fatalf("formatted image: unwritten %v", got)
	}
	// Whole file system blocks become holes, single slots zero in place;
	// runs that touch are joined.
	must(t, img.Discard(100, 1))
	must(t, img.Discard(512, 600))
	must(t, img.Discard(1112, 3))
	must(t, img.Discard(2047, 1))
	want := []run{{100, 1}, {512, 603}, {2047, 1}}
	if got := unwrittenRuns(t, img, 0, 2048); !reflect.DeepEqual(got, want) {
		t.Fatalf("unwritten %v, want %v", got, want)
	}
	if got := unwrittenRuns(t, img, 101, 500); !reflect.DeepEqual(got, []run{{512, 89}}) {
		t.Fatalf("unwritten in [101, 601): %v", got)
	}
	first, ok, err := img.FirstWritten()
	if err != nil || !ok || first != 0 {
		t.Fatalf("FirstWritten = %d, %v, %v", first, ok, err)
	}
	must(t, img.Discard(0, 100))
	if first, ok, err = img.FirstWritten(); err != nil || !ok || first != 101 {
		t.Fatalf("FirstWritten after discarding 0..99 = %d, %v, %v", first, ok, err)
	}
	if err := img.Unwritten(2000, 49, func(uint64, uint64) {}); err == nil {
		t.Fatal("Unwritten past the end succeeded")
	}
}

func TestUnwrittenEmptySparseImage(t *testing.T) {
	p := testParams(t, 16, 16, 8, 512)
	img, path := newTestImage(t, p, 1)
	_ = img.Close()
	if err := os.Truncate(path, 1<<30); err != nil {
		t.Fatal(err)
	}
	sp := reopen(t, path, p, OpenOptions{Sparse: true})
	n := sp.Sectors()
	if got := unwrittenRuns(t, sp, 0, n); !reflect.DeepEqual(got, []run{{0, n}}) {
		t.Fatalf("empty image: %v", got)
	}
	if _, ok, err := sp.FirstWritten(); ok || err != nil {
		t.Fatalf("FirstWritten on an empty image = %v, %v", ok, err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
