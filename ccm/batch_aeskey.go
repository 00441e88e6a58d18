package ccm

import "encoding/binary"

// expandKey writes the AES key schedule of key (16, 24 or 32 bytes) into
// enc as in FIPS-197 section 5.2 (KeyExpansion): Nk = len(key)/4 words of
// key, Nr = Nk+6 rounds, 4(Nr+1) words in all. The caller has checked the
// key length (aes.NewCipher did).
func expandKey(key []byte, enc *[16 * (14 + 1)]byte) {
	nk := len(key) / 4
	nw := 4 * (nk + 6 + 1)
	var w [4 * (14 + 1)]uint32
	for i := 0; i < nk; i++ {
		w[i] = binary.BigEndian.Uint32(key[4*i:])
	}
	rcon := byte(1)
	for i := nk; i < nw; i++ {
		t := w[i-1]
		switch {
		case i%nk == 0:
			t = subWord(t<<8|t>>24) ^ uint32(rcon)<<24
			rcon = gfMul(rcon, 2)
		case nk > 6 && i%nk == 4:
			t = subWord(t)
		}
		w[i] = w[i-nk] ^ t
	}
	for i := 0; i < nw; i++ {
		binary.BigEndian.PutUint32(enc[4*i:], w[i])
	}
}

// subWord applies the S-box to each byte of a word (FIPS-197 5.2).
func subWord(w uint32) uint32 {
	return uint32(sbox(byte(w>>24)))<<24 | uint32(sbox(byte(w>>16)))<<16 |
		uint32(sbox(byte(w>>8)))<<8 | uint32(sbox(byte(w)))
}

// sbox computes the AES S-box (FIPS-197 5.1.1): the multiplicative inverse
// in GF(2^8) (0 maps to 0), then the affine transformation. Key expansion
// needs at most 52 S-box values per key, so a computed value is cheaper
// than carrying a table.
func sbox(x byte) byte {
	// x^254 is the inverse of x in GF(2^8) (x^255 = 1 for x != 0).
	inv := byte(1)
	for e, p := 254, x; e > 0; e >>= 1 {
		if e&1 != 0 {
			inv = gfMul(inv, p)
		}
		p = gfMul(p, p)
	}
	b := inv
	return b ^ rotl8(b, 1) ^ rotl8(b, 2) ^ rotl8(b, 3) ^ rotl8(b, 4) ^ 0x63
}

// gfMul multiplies in GF(2^8) modulo x^8 + x^4 + x^3 + x + 1 (FIPS-197 4.2).
func gfMul(a, b byte) byte {
	var p byte
	for b != 0 {
		if b&1 != 0 {
			p ^= a
		}
		hi := a & 0x80
		a <<= 1
		if hi != 0 {
			a ^= 0x1b
		}
		b >>= 1
	}
	return p
}

// rotl8 rotates b left by n bits (0 < n < 8).
func rotl8(b byte, n uint) byte { return b<<n | b>>(8-n) }
