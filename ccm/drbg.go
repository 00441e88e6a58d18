package ccm

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
)

// drbgRekeyBytes is how much output a generator produces under one key
// before it draws a new key from crypto/rand. See the package doc for the
// reasons behind 1 MiB.
const drbgRekeyBytes = 1 << 20

// drbg is the generator of nonces and adata: AES-128 in CTR mode, keyed
// with 16 bytes and started at a 16-byte counter block drawn from
// crypto/rand, and re-keyed after drbgRekeyBytes of output. It is not safe
// for concurrent use; each in-flight write holds its own.
//
// AES-128 rather than AES-256: the output is stored in the clear (it is
// the nonces and adata), so the generator only needs to be unique and
// indistinguishable from random, which AES-128 gives far beyond 1 MiB per
// key, and its 10 rounds cost less on the write path than 14.
type drbg struct {
	stream cipher.Stream
	left   int // output left under the current key
}

func newDRBG() *drbg {
	d := &drbg{}
	d.rekey()
	return d
}

func (d *drbg) rekey() {
	var seed [16 + 16]byte
	// crypto/rand.Read never fails: it crashes the program rather than
	// return short output.
	_, _ = rand.Read(seed[:])
	b, err := aes.NewCipher(seed[:16])
	if err != nil {
		panic("ccm: aes.NewCipher rejected a 16-byte key")
	}
	d.stream = cipher.NewCTR(b, seed[16:])
	clear(seed[:])
	d.left = drbgRekeyBytes
}

// read fills p with generator output.
func (d *drbg) read(p []byte) {
	for len(p) > 0 {
		if d.left == 0 {
			d.rekey()
		}
		n := min(len(p), d.left)
		clear(p[:n])
		d.stream.XORKeyStream(p[:n], p[:n])
		d.left -= n
		p = p[n:]
	}
}

// fillTails fills bytes [off, stride) of every stride-byte record of buf.
// A write fills the second physical sector of every slot: the tag's place
// (overwritten once the sector is sealed), the nonce and the adata; that
// is whole AES blocks, which the CTR code makes in fewer, larger steps.
//
// Preconditions: len(buf) is a multiple of stride; 0 <= off <= stride.
func (d *drbg) fillTails(buf []byte, stride, off int) {
	for ; len(buf) >= stride; buf = buf[stride:] {
		d.read(buf[off:stride])
	}
}
