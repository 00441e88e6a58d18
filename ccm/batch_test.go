package ccm

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"fmt"
	"math/rand/v2"
	"testing"
)

// refLane is CCM of one sector computed the plain way (RFC 3610 section
// 2.2-2.3): the CBC-MAC over hdr and the plaintext, then the keystream
// E(A_1), E(A_2), ... and the tag CBC-MAC XOR E(A_0), all block by block
// with crypto/aes. It returns the output payload and the full tag.
func refLane(b cipher.Block, hdr, in []byte, a0 [16]byte, seal bool) ([]byte, [16]byte) {
	out := make([]byte, len(in))
	ctr := a0
	var ks [16]byte
	for off := 0; off < len(in); off += 16 {
		c := off/16 + 1
		ctr[14], ctr[15] = byte(c>>8), byte(c)
		b.Encrypt(ks[:], ctr[:])
		for i := range 16 {
			out[off+i] = in[off+i] ^ ks[i]
		}
	}
	plain := in
	if !seal {
		plain = out
	}
	var mac [16]byte
	for _, blk := range [][]byte{hdr, plain} {
		for off := 0; off < len(blk); off += 16 {
			for i := range 16 {
				mac[i] ^= blk[off+i]
			}
			b.Encrypt(mac[:], mac[:])
		}
	}
	var tag [16]byte
	b.Encrypt(tag[:], a0[:])
	for i := range tag {
		tag[i] ^= mac[i]
	}
	return out, tag
}

// laneGeometry is a header and payload length pair the kernels are called
// with.
type laneGeometry struct{ hdrLen, dataLen int }

// sectorGeometries returns the distinct geometries of the image format
// (ccm-format.md): P = 512 and 4096, M = 4..16, N = 7..13; the header is
// B0, then the 2-byte adata length and the P-M-N bytes of adata, padded.
func sectorGeometries() []laneGeometry {
	seen := map[laneGeometry]bool{}
	var gs []laneGeometry
	for _, p := range []int{512, 4096} {
		for m := 4; m <= 16; m += 2 {
			for n := 7; n <= 13; n++ {
				g := laneGeometry{16 + (2+p-m-n+15)/16*16, p}
				if !seen[g] {
					seen[g] = true
					gs = append(gs, g)
				}
			}
		}
	}
	return gs
}

// edgeGeometries exercise the schedule's branches: a header longer than
// the payload, an empty payload, a one-block header (left to the generic
// code), and a header past the job scratch.
var edgeGeometries = []laneGeometry{
	{32, 16}, {32, 512}, {48, 16}, {160, 32}, {32, 0}, {16, 64}, {8192, 64},
}

// laneCase is random input for n lanes of one geometry, with unaligned
// buffers, a header longer than hdrLen and guard bytes after each payload.
type laneCase struct {
	g              laneGeometry
	n              int
	hdr, src, dst  [laneMax][]byte
	ctr            [laneMax][16]byte
	dstBuf, srcBuf [laneMax][]byte // payload plus guard bytes
}

const guard = 16

func newLaneCase(r *rand.Rand, g laneGeometry, n int, alias bool) *laneCase {
	c := &laneCase{g: g, n: n}
	fill := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	for i := 0; i < n; i++ {
		c.hdr[i] = fill(1 + g.hdrLen + 16)[1:]
		c.srcBuf[i] = fill(3 + g.dataLen + guard)[3:]
		c.src[i] = c.srcBuf[i][:g.dataLen]
		c.dstBuf[i] = c.srcBuf[i]
		if !alias {
			c.dstBuf[i] = fill(5 + g.dataLen + guard)[5:]
		}
		c.dst[i] = c.dstBuf[i][:g.dataLen]
		copy(c.ctr[i][:], fill(14)) // counter bytes 14..15 stay zero
		c.ctr[i][0] = byte(r.IntN(8))
	}
	return c
}

// check runs kernel op on the case and compares every lane with refLane.
func (c *laneCase) check(t *testing.T, kern laneKernel, b cipher.Block, k *kernelKey, seal bool) {
	t.Helper()
	var want, hdrs, srcs, guards [laneMax][]byte
	var wantTag [laneMax][16]byte
	for i := 0; i < c.n; i++ {
		want[i], wantTag[i] = refLane(b, c.hdr[i][:c.g.hdrLen], c.src[i], c.ctr[i], seal)
		hdrs[i] = bytes.Clone(c.hdr[i])
		srcs[i] = bytes.Clone(c.srcBuf[i])
		guards[i] = bytes.Clone(c.dstBuf[i][c.g.dataLen:])
	}
	l := &lanes{n: c.n, hdr: c.hdr, src: c.src, dst: c.dst, ctr: c.ctr}
	if seal {
		kern.seal(k, l, c.g.hdrLen, c.g.dataLen)
	} else {
		kern.open(k, l, c.g.hdrLen, c.g.dataLen)
	}
	for i := 0; i < c.n; i++ {
		if !bytes.Equal(c.dst[i], want[i]) {
			t.Fatalf("lane %d of %d: payload differs from the reference", i, c.n)
		}
		if l.tag[i] != wantTag[i] {
			t.Fatalf("lane %d of %d: tag %x, want %x", i, c.n, l.tag[i], wantTag[i])
		}
		if !bytes.Equal(c.dstBuf[i][c.g.dataLen:], guards[i]) {
			t.Fatalf("lane %d of %d: wrote past the payload", i, c.n)
		}
		if !bytes.Equal(c.hdr[i], hdrs[i]) || l.ctr[i] != c.ctr[i] {
			t.Fatalf("lane %d of %d: header or counter block modified", i, c.n)
		}
		if &c.srcBuf[i][0] != &c.dstBuf[i][0] && !bytes.Equal(c.srcBuf[i], srcs[i]) {
			t.Fatalf("lane %d of %d: source modified", i, c.n)
		}
	}
}

// TestLaneKernels cross-checks every implementation this build can run on
// this CPU against refLane, for all key sizes, the format's geometries,
// every lane count, seal and open, with and without dst == src.
func TestLaneKernels(t *testing.T) {
	gs := append(sectorGeometries(), edgeGeometries...)
	for _, kern := range laneKernels() {
		t.Run(kern.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, uint64(len(kern.name))))
			for _, keyLen := range []int{16, 24, 32} {
				key := make([]byte, keyLen)
				for i := range key {
					key[i] = byte(r.Uint32())
				}
				b, err := aes.NewCipher(key)
				if err != nil {
					t.Fatal(err)
				}
				k, err := newKernelKey(key)
				if err != nil {
					t.Fatal(err)
				}
				for _, g := range gs {
					for n := 1; n <= laneMax; n++ {
						if g.dataLen > 512 && n%4 != 1 && n != laneMax {
							continue // big sectors: a few lane counts suffice
						}
						for _, seal := range []bool{true, false} {
							for _, alias := range []bool{false, true} {
								name := fmt.Sprintf("AES-%d/hdr%d/data%d/n%d/seal=%v/alias=%v", 8*keyLen, g.hdrLen, g.dataLen, n, seal, alias)
								t.Run(name, func(t *testing.T) {
									newLaneCase(r, g, n, alias).check(t, kern, b, k, seal)
								})
							}
						}
					}
				}
			}
		})
	}
}

// TestLaneKernelRoundTrip seals with each implementation and opens the
// result with it and with the active one, reusing the lanes, and gets the
// plaintext, the same tags, and on a second seal the same ciphertext.
func TestLaneKernelRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 3))
	key := make([]byte, 32)
	k, err := newKernelKey(key)
	if err != nil {
		t.Fatal(err)
	}
	for _, kern := range laneKernels() {
		c := newLaneCase(r, laneGeometry{512, 512}, laneMax, true)
		var plain, sealed [laneMax][]byte
		for i := range plain {
			plain[i] = bytes.Clone(c.src[i])
		}
		l := &lanes{n: c.n, hdr: c.hdr, src: c.src, dst: c.dst, ctr: c.ctr}
		kern.seal(k, l, 512, 512)
		tags := l.tag
		for i := range sealed {
			sealed[i] = bytes.Clone(c.dst[i])
		}
		for _, open := range []func(*kernelKey, *lanes, int, int){kern.open, openLanes} {
			for i := range c.src {
				copy(c.src[i], sealed[i])
			}
			open(k, l, 512, 512)
			for i := range plain {
				if !bytes.Equal(c.dst[i], plain[i]) || l.tag[i] != tags[i] {
					t.Fatalf("%s: lane %d does not round-trip", kern.name, i)
				}
			}
		}
		kern.seal(k, l, 512, 512)
		for i := range sealed {
			if !bytes.Equal(c.dst[i], sealed[i]) || l.tag[i] != tags[i] {
				t.Fatalf("%s: lane %d seals differently the second time", kern.name, i)
			}
		}
	}
}

// TestLaneKernelShortBuffer checks that a lane buffer shorter than the
// geometry panics instead of being overrun.
func TestLaneKernelShortBuffer(t *testing.T) {
	k, err := newKernelKey(make([]byte, 16))
	if err != nil {
		t.Fatal(err)
	}
	for _, kern := range laneKernels() {
		for _, seal := range []bool{true, false} {
			c := newLaneCase(rand.New(rand.NewPCG(6, 7)), laneGeometry{512, 512}, 4, false)
			c.src[3] = c.src[3][:496]
			l := &lanes{n: c.n, hdr: c.hdr, src: c.src, dst: c.dst, ctr: c.ctr}
			func() {
				defer func() {
					if recover() == nil {
						t.Errorf("%s seal=%v: short source did not panic", kern.name, seal)
					}
				}()
				if seal {
					kern.seal(k, l, 512, 512)
				} else {
					kern.open(k, l, 512, 512)
				}
			}()
		}
	}
}
