package pattern

import (
	"testing"
)

// TestGenBlock checks that BlockGen recognizes exactly the blocks GenBlock
// makes: zeros as generation 0, each generation of the right block, and
// nothing else.
func TestGenBlock(t *testing.T) {
	b := make([]byte, GenBlockSize)
	for _, gen := range []uint64{0, 1, 2, 1 << 40} {
		GenBlock(b, 7, gen)
		if got, err := BlockGen(b, 7); err != nil || got != gen {
			t.Errorf("generation %d of block 7 reads as %d, %v", gen, got, err)
		}
	}
	GenBlock(b, 7, 3)
	if _, err := BlockGen(b, 8); err == nil {
		t.Errorf("block 7's content accepted as block 8")
	}
	torn := make([]byte, GenBlockSize)
	GenBlock(torn, 7, 3)
	GenBlock(b, 7, 4)
	copy(torn[2048:], b[2048:])
	if _, err := BlockGen(torn, 7); err == nil {
		t.Errorf("half of generation 3 and half of 4 accepted")
	}
	clear(b)
	b[100] = 1
	if _, err := BlockGen(b, 7); err == nil {
		t.Errorf("a non-zero block without a header accepted")
	}
	if GenDigest([]uint64{1, 2}) == GenDigest([]uint64{2, 1}) {
		t.Errorf("the digest ignores the order of the blocks")
	}
}
