package ccm

import (
	"crypto/cipher"
	"crypto/subtle"
	"encoding/binary"
	"errors"
)

// ccmAEAD is CCM (NIST SP 800-38C, RFC 3610) over a 128-bit block cipher.
type ccmAEAD struct {
	b         cipher.Block
	nonceSize int // N, 7..13; the length field is L = 15-N bytes
	tagSize   int // M, 4..16 and even
}

// NewCCM returns CCM over b, a block cipher with 16-byte blocks such as
// crypto/aes, with nonces of nonceSize bytes (7..13) and tags of tagSize
// bytes (4, 6, ..., 16). The message length is limited to 2^(8L)-1 bytes,
// L = 15-nonceSize.
//
// The returned AEAD follows crypto/cipher's rules: Seal and Open panic on a
// nonce of the wrong length or a message longer than the limit; Open
// returns ErrAuth and zeroes its output when the tag does not verify; dst
// may be the input's start ([:0]) for in-place use but must not overlap it
// otherwise.
func NewCCM(b cipher.Block, nonceSize, tagSize int) (cipher.AEAD, error) {
	if b.BlockSize() != 16 {
		return nil, errors.New("ccm: block cipher must have 16-byte blocks")
	}
	if err := checkSizes(nonceSize, tagSize); err != nil {
		return nil, err
	}
	return &ccmAEAD{b: b, nonceSize: nonceSize, tagSize: tagSize}, nil
}

// NonceSize returns N.
func (c *ccmAEAD) NonceSize() int { return c.nonceSize }

// Overhead returns M, the tag length.
func (c *ccmAEAD) Overhead() int { return c.tagSize }

// maxLen is the longest message the L-byte length field can encode; it
// also keeps the CTR counter inside its L bytes.
func (c *ccmAEAD) maxLen() uint64 {
	l := 15 - c.nonceSize
	if l >= 8 {
		return 1<<63 - 1 // beyond any slice length
	}
	return 1<<(8*l) - 1
}

// Seal encrypts and authenticates plaintext with ad and appends the result
// (ciphertext, then the M-byte tag) to dst.
func (c *ccmAEAD) Seal(dst, nonce, plaintext, ad []byte) []byte {
	if len(nonce) != c.nonceSize {
		panic("ccm: incorrect nonce length given to CCM")
	}
	if uint64(len(plaintext)) > c.maxLen() {
		panic("ccm: message too large for CCM")
	}
	ret, out := sliceForAppend(dst, len(plaintext)+c.tagSize)
	// CCM authenticates the plaintext: MAC it before out, which may alias
	// it, is overwritten.
	var tag [16]byte
	c.cbcMAC(&tag, nonce, plaintext, ad)
	s0 := c.ctr(out[:len(plaintext)], plaintext, nonce)
	subtle.XORBytes(out[len(plaintext):], tag[:c.tagSize], s0[:c.tagSize])
	return ret
}

// Open decrypts and verifies ciphertext (with its tag at the end) and ad,
// and appends the plaintext to dst. When the tag does not verify it
// returns ErrAuth and the bytes it would have appended are zero.
func (c *ccmAEAD) Open(dst, nonce, ciphertext, ad []byte) ([]byte, error) {
	if len(nonce) != c.nonceSize {
		panic("ccm: incorrect nonce length given to CCM")
	}
	if len(ciphertext) < c.tagSize || uint64(len(ciphertext)-c.tagSize) > c.maxLen() {
		return nil, ErrAuth
	}
	n := len(ciphertext) - c.tagSize
	var want [16]byte
	copy(want[:], ciphertext[n:]) // out may alias ciphertext's start
	ret, out := sliceForAppend(dst, n)
	s0 := c.ctr(out, ciphertext[:n], nonce)
	var tag [16]byte
	c.cbcMAC(&tag, nonce, out, ad)
	subtle.XORBytes(tag[:], tag[:], s0[:])
	if subtle.ConstantTimeCompare(tag[:c.tagSize], want[:c.tagSize]) != 1 {
		clear(out)
		return nil, ErrAuth
	}
	return ret, nil
}

// ctr XORs src with the keystream E(A_1), E(A_2), ... into dst and returns
// S_0 = E(A_0), the block that masks the tag (RFC 3610 section 2.3). A_i is
// the flags byte L-1, the nonce and the counter i in L bytes; cipher's CTR
// increments the whole block big-endian, which equals incrementing the L
// counter bytes because maxLen keeps the counter from overflowing them.
func (c *ccmAEAD) ctr(dst, src, nonce []byte) [16]byte {
	var a, s0 [16]byte
	a[0] = byte(14 - c.nonceSize) // L-1
	copy(a[1:], nonce)
	c.b.Encrypt(s0[:], a[:])
	if len(src) > 0 {
		a[15] = 1
		cipher.NewCTR(c.b, a[:]).XORKeyStream(dst, src)
	}
	return s0
}

// cbcMAC computes the CBC-MAC T of RFC 3610 section 2.2 into t: blocks B0
// (flags, nonce, message length), then the encoded length of ad, ad and
// zero padding, then the message and zero padding.
func (c *ccmAEAD) cbcMAC(t *[16]byte, nonce, msg, ad []byte) {
	l := 15 - c.nonceSize
	var b0 [16]byte
	b0[0] = byte((c.tagSize-2)/2<<3 | (l - 1))
	if len(ad) > 0 {
		b0[0] |= 0x40 // Adata flag
	}
	copy(b0[1:], nonce)
	var ln [8]byte
	binary.BigEndian.PutUint64(ln[:], uint64(len(msg)))
	copy(b0[16-l:], ln[8-l:])
	m := mac{b: c.b}
	m.write(b0[:])
	if len(ad) > 0 {
		// RFC 3610 section 2.2: 2 bytes below 2^16-2^8, else 0xfffe and 4
		// bytes, else 0xffff and 8 bytes.
		var enc [10]byte
		var k int
		switch a := uint64(len(ad)); {
		case a < 1<<16-1<<8:
			binary.BigEndian.PutUint16(enc[:], uint16(a))
			k = 2
		case a <= 1<<32-1:
			enc[0], enc[1] = 0xff, 0xfe
			binary.BigEndian.PutUint32(enc[2:], uint32(a))
			k = 6
		default:
			enc[0], enc[1] = 0xff, 0xff
			binary.BigEndian.PutUint64(enc[2:], a)
			k = 10
		}
		m.write(enc[:k])
		m.write(ad)
		m.pad()
	}
	m.write(msg)
	m.pad()
	*t = m.x
}

// mac is a running CBC-MAC with a zero IV.
type mac struct {
	b cipher.Block
	x [16]byte // chaining value, XORed with the n pending bytes
	n int      // bytes of the current block absorbed so far
}

func (m *mac) write(p []byte) {
	for len(p) > 0 {
		k := subtle.XORBytes(m.x[m.n:], m.x[m.n:], p)
		m.n += k
		p = p[k:]
		if m.n == 16 {
			m.b.Encrypt(m.x[:], m.x[:])
			m.n = 0
		}
	}
}

// pad completes a partial block with zeros, which leave x unchanged.
func (m *mac) pad() {
	if m.n > 0 {
		m.b.Encrypt(m.x[:], m.x[:])
		m.n = 0
	}
}

// sliceForAppend extends in by n bytes, reallocating if its capacity is too
// small, and returns the whole slice and the n new bytes.
func sliceForAppend(in []byte, n int) (head, tail []byte) {
	if total := len(in) + n; cap(in) >= total {
		head = in[:total]
	} else {
		head = make([]byte, total)
		copy(head, in)
	}
	tail = head[len(in):]
	return head, tail
}
