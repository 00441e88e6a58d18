package pattern

import (
	"bytes"
	"testing"
)

func TestFillIsPositional(t *testing.T) {
	whole := make([]byte, 4096)
	Fill(whole, 7, 1000)
	for _, cut := range []struct{ off, n int }{{0, 1}, {3, 13}, {8, 8}, {1001, 2000}, {4095, 1}} {
		part := make([]byte, cut.n)
		Fill(part, 7, 1000+uint64(cut.off))
		if !bytes.Equal(part, whole[cut.off:cut.off+cut.n]) {
			t.Errorf("Fill at +%d len %d differs from the same range of a larger fill", cut.off, cut.n)
		}
	}
	other := make([]byte, 4096)
	Fill(other, 8, 1000)
	if bytes.Equal(other, whole) {
		t.Error("seeds 7 and 8 give the same pattern")
	}
}

func TestWritePlan(t *testing.T) {
	for _, tc := range []struct {
		size, sector uint64
		want         []Extent
	}{
		{32768, 512, []Extent{{0, 4096}, {16384, 8192}, {32256, 512}}},
		{4096, 512, []Extent{{0, 512}, {2048, 1024}, {3584, 512}}},
		{1 << 30, 4096, []Extent{{0, 4096}, {1 << 29, 64 << 10}, {1<<30 - 4096, 4096}}},
	} {
		got, err := WritePlan(tc.size, tc.sector)
		if err != nil {
			t.Fatalf("WritePlan(%d, %d): %v", tc.size, tc.sector, err)
		}
		if len(got) != len(tc.want) {
			t.Fatalf("WritePlan(%d, %d) = %v, want %v", tc.size, tc.sector, got, tc.want)
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("WritePlan(%d, %d)[%d] = %v, want %v", tc.size, tc.sector, i, got[i], tc.want[i])
			}
		}
	}
	for _, bad := range [][2]uint64{{3584, 512}, {4097, 512}, {4096, 0}} {
		if _, err := WritePlan(bad[0], bad[1]); err == nil {
			t.Errorf("WritePlan(%d, %d) succeeded, want error", bad[0], bad[1])
		}
	}
}

func TestApply(t *testing.T) {
	img := bytes.Repeat([]byte{0xaa}, 8192)
	plan := []Extent{{512, 512}, {8192 - 512, 512}}
	if err := Apply(img, plan, 3); err != nil {
		t.Fatal(err)
	}
	want := make([]byte, 512)
	Fill(want, 3, 512)
	if !bytes.Equal(img[512:1024], want) {
		t.Error("extent 512+512 does not hold the pattern")
	}
	if img[0] != 0xaa || img[1024] != 0xaa || img[7679] != 0xaa {
		t.Error("bytes outside the plan changed")
	}
	if err := Apply(img, []Extent{{8000, 512}}, 3); err == nil {
		t.Error("Apply accepted an extent past the end")
	}
}
