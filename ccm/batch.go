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
}

func newKernelKey(key []byte) (*kernelKey, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return &kernelKey{block: b, rounds: 6 + len(key)/4}, nil
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
}
