package ccm

import (
	"crypto/aes"
	"crypto/cipher"
)

// laneMax is the largest number of sectors one kernel call processes. CBC-MAC
// is sequential within a sector, so speed comes from running the MACs (and
// the CTR keystreams) of many sectors of one request side by side.
const laneMax = 16

// kernelKey is an AES key prepared for the lane kernels.
type kernelKey struct {
	block  cipher.Block
	rounds int // 10, 12 or 14
	// enc is the expanded encryption key (FIPS-197 section 5.2): round key
	// r is enc[16r:16r+16], the words w[4r..4r+3] each in big-endian byte
	// order, which is the block layout AES instructions use. Bytes past
	// round key rounds are zero.
	enc [16 * (14 + 1)]byte
}

func newKernelKey(key []byte) (*kernelKey, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	k := &kernelKey{block: b, rounds: 6 + len(key)/4}
	expandKey(key, &k.enc)
	return k, nil
}

// lanes is the work of one kernel call: n sectors of one geometry.
//
// For lane i < n:
//   - hdr[i] holds the CCM blocks that precede the payload in the CBC-MAC:
//     B0, then the 2-byte adata length and the adata, zero-padded to a
//     multiple of 16 (RFC 3610 section 2.2). len(hdr[i]) >= hdrLen.
//   - src[i] and dst[i] hold the payload (dataLen bytes, a multiple of 16).
//     dst[i] may be src[i] exactly, but must not overlap it otherwise.
//   - ctr[i] is the counter block A_0 (flags, nonce, counter 0). The kernels
//     increment only its last two bytes, big-endian: L = 15-N >= 2 and a
//     sector has at most 256 blocks, so the counter never leaves them.
//   - tag[i] receives the full 16-byte CBC-MAC XOR E(A_0); the CCM tag is
//     its first M bytes.
type lanes struct {
	n   int
	hdr [laneMax][]byte
	src [laneMax][]byte
	dst [laneMax][]byte
	ctr [laneMax][16]byte
	tag [laneMax][16]byte

	work genericWork // scratch of the generic kernels
}

// checkLanes panics if a lane buffer is shorter than the geometry: the
// assembly kernels do not check bounds, and slicing within capacity
// would let the generic ones read or write past a buffer.
func checkLanes(l *lanes, hdrLen, dataLen int) {
	for i := 0; i < l.n; i++ {
		if len(l.hdr[i]) < hdrLen || len(l.src[i]) < dataLen || len(l.dst[i]) < dataLen {
			panic("ccm: lane buffer shorter than its geometry")
		}
	}
}
