package pattern

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
)

// GenBlockSize is the size of a generation-tagged block.
const GenBlockSize = 4096

// genMagic starts every written generation-tagged block.
const genMagic = "CCMBLKGN"

// GenBlock fills b, GenBlockSize bytes, with generation gen of block blk:
// the magic, blk and gen (little-endian), then the pattern of Fill seeded
// by blk and gen. Generation 0 is all zeros, what a fresh disk reads.
func GenBlock(b []byte, blk, gen uint64) {
	b = b[:GenBlockSize]
	if gen == 0 {
		clear(b)
		return
	}
	copy(b, genMagic)
	binary.LittleEndian.PutUint64(b[8:], blk)
	binary.LittleEndian.PutUint64(b[16:], gen)
	Fill(b[24:], mix(blk)^gen, 0)
}

// BlockGen returns the generation block blk holds in b, GenBlockSize
// bytes: 0 for zeros, else the generation b is exactly GenBlock of. Any
// other content (a torn or misplaced write) is an error.
func BlockGen(b []byte, blk uint64) (uint64, error) {
	b = b[:GenBlockSize]
	gen := uint64(0)
	if string(b[:8]) == genMagic {
		gen = binary.LittleEndian.Uint64(b[16:])
	}
	want := make([]byte, GenBlockSize)
	GenBlock(want, blk, gen)
	if !bytes.Equal(b, want) {
		return 0, fmt.Errorf("block %d holds neither zeros nor a generation of its own (header %x)", blk, b[:24])
	}
	return gen, nil
}

// GenDigest returns the SHA-256, in hex, of the generations of every block
// in order (little-endian u64 each): equal digests mean every block holds
// the same generation.
func GenDigest(gens []uint64) string {
	h := sha256.New()
	var w [8]byte
	for _, g := range gens {
		binary.LittleEndian.PutUint64(w[:], g)
		h.Write(w[:])
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}
