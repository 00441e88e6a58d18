package ccm

import (
	"bytes"
	"testing"
)

// fuzzKey is fixed so that the fuzzer's inputs are ciphertexts under a key
// it does not control.
var fuzzKey = []byte("ccm fuzz key 16B")

// FuzzOpen feeds arbitrary ciphertext, tag, nonce and adata to the AEAD's
// Open and to the sector path. Invariants: nothing panics; an input that
// opens is a genuine ciphertext (sealing its plaintext again gives the same
// bytes), so no forgery authenticates; an input that fails leaves the
// output zeroed. A sparse image's sector path differs only on an all-zero
// slot, which reads as zeros without failing.
func FuzzOpen(f *testing.F) {
	a := newAEAD(f, fuzzKey, 8, 16)
	nonce := []byte("nonce-08")
	ad := bytes.Repeat([]byte{0x5a}, 488)
	sealed := a.Seal(nil, nonce, bytes.Repeat([]byte("sector"), 100)[:512], ad)
	f.Add(nonce, ad, flip(sealed, 0))
	f.Add(nonce, ad, flip(sealed, len(sealed)-1))
	f.Add(nonce, flip(ad, 487), sealed)
	f.Add(nonce, []byte{}, []byte{})
	f.Add([]byte{}, []byte{1}, make([]byte, 16))
	f.Add(make([]byte, 8), make([]byte, 488), make([]byte, 528))
	g := newGeometry(512, 16, 8)
	k, err := newKernelKey(fuzzKey)
	if err != nil {
		f.Fatal(err)
	}
	sc := sectorCipher{geometry: g, key: k}
	sparse := sectorCipher{geometry: g, key: k, sparse: true}
	f.Fuzz(func(t *testing.T, nonce, ad, ct []byte) {
		n := make([]byte, 8)
		copy(n, nonce)
		dst := bytes.Repeat([]byte{0xa5}, len(ct))
		pt, err := a.Open(dst[:0], n, ct, ad)
		switch {
		case err == nil && !bytes.Equal(a.Seal(nil, n, pt, ad), ct):
			t.Fatalf("Open accepted a forged ciphertext")
		case err != nil && (pt != nil || !bytes.Equal(dst[:max(0, len(ct)-16)], make([]byte, max(0, len(ct)-16)))):
			t.Fatalf("failed Open left output %x", dst)
		}

		// The same bytes as one slot: ciphertext and tag, nonce, adata.
		slot := make([]byte, g.slotLen)
		copy(slot, ct)
		copy(slot[528:536], n)
		copy(slot[536:], ad)
		orig := clone(slot)
		out := bytes.Repeat([]byte{0xa5}, 512)
		_, failed := sc.open(g.newLaneState(), slot, &sectorCursor{bufs: [][]byte{out}, size: 512})
		switch {
		case failed == 0 && !bytes.Equal(a.Seal(nil, n, out, orig[536:]), orig[:528]):
			t.Fatalf("sector open accepted a forged slot")
		case failed != 0 && !bytes.Equal(out, make([]byte, 512)):
			t.Fatalf("failed sector open left output %x", out)
		}
		if !bytes.Equal(slot, orig) {
			t.Fatalf("sector open changed its input")
		}

		sout := bytes.Repeat([]byte{0xa5}, 512)
		_, sfailed := sparse.open(g.newLaneState(), slot, &sectorCursor{bufs: [][]byte{sout}, size: 512})
		switch {
		case isZero(slot) && (sfailed != 0 || !isZero(sout)):
			t.Fatalf("sparse open of an unwritten slot: %d failed, output %x", sfailed, sout)
		case !isZero(slot) && (sfailed != failed || !bytes.Equal(sout, out)):
			t.Fatalf("sparse open of a written slot differs: %d failed, want %d", sfailed, failed)
		}
	})
}
