package ccm

import "crypto/subtle"

// sealLanesGeneric encrypts src into dst and computes the tags, with the
// lanes interleaved block by block so that their AES calls are independent.
func sealLanesGeneric(k *kernelKey, l *lanes, hdrLen, dataLen int) {
	checkLanes(l, hdrLen, dataLen)
	mac, ctr, ks := &l.work.mac, &l.work.ctr, l.work.ks[:]
	clear(mac[:])
	macHeaders(k, l, mac, hdrLen)
	for i := 0; i < l.n; i++ {
		ctr[i] = l.ctr[i]
		k.block.Encrypt(l.tag[i][:], ctr[i][:])
	}
	var src [16]byte
	for off := 0; off < dataLen; off += 16 {
		for i := 0; i < l.n; i++ {
			// Read each plaintext block once, as the assembly kernels do:
			// src may be guest memory the guest changes meanwhile, and the
			// tag must cover exactly what is encrypted. Reading it before
			// dst (which may alias src) is written also keeps aliasing safe.
			copy(src[:], l.src[i][off:off+16])
			subtle.XORBytes(mac[i][:], mac[i][:], src[:])
			k.block.Encrypt(mac[i][:], mac[i][:])
			incCounter(&ctr[i])
			k.block.Encrypt(ks, ctr[i][:])
			subtle.XORBytes(l.dst[i][off:off+16], src[:], ks)
		}
	}
	for i := 0; i < l.n; i++ {
		subtle.XORBytes(l.tag[i][:], l.tag[i][:], mac[i][:])
	}
}

// openLanesGeneric decrypts src into dst and computes the tags the
// plaintext should have; the caller compares them and clears dst on a
// mismatch.
func openLanesGeneric(k *kernelKey, l *lanes, hdrLen, dataLen int) {
	checkLanes(l, hdrLen, dataLen)
	mac, ctr, ks := &l.work.mac, &l.work.ctr, l.work.ks[:]
	clear(mac[:])
	macHeaders(k, l, mac, hdrLen)
	for i := 0; i < l.n; i++ {
		ctr[i] = l.ctr[i]
		k.block.Encrypt(l.tag[i][:], ctr[i][:])
	}
	for off := 0; off < dataLen; off += 16 {
		for i := 0; i < l.n; i++ {
			dst := l.dst[i][off : off+16]
			incCounter(&ctr[i])
			k.block.Encrypt(ks, ctr[i][:])
			subtle.XORBytes(dst, l.src[i][off:off+16], ks)
			subtle.XORBytes(mac[i][:], mac[i][:], dst)
			k.block.Encrypt(mac[i][:], mac[i][:])
		}
	}
	for i := 0; i < l.n; i++ {
		subtle.XORBytes(l.tag[i][:], l.tag[i][:], mac[i][:])
	}
}

// genericWork is the working state of the generic kernels. It lives in
// lanes because the blocks handed to cipher.Block escape: kept on the
// stack they would be allocated on every call.
type genericWork struct {
	mac, ctr [laneMax][16]byte
	ks       [16]byte
}

// macHeaders runs the CBC-MAC of every lane over its header blocks.
func macHeaders(k *kernelKey, l *lanes, mac *[laneMax][16]byte, hdrLen int) {
	for off := 0; off < hdrLen; off += 16 {
		for i := 0; i < l.n; i++ {
			subtle.XORBytes(mac[i][:], mac[i][:], l.hdr[i][off:off+16])
			k.block.Encrypt(mac[i][:], mac[i][:])
		}
	}
}

// incCounter increments the 16-bit big-endian counter in the last two bytes
// of a CTR block (see lanes for why two bytes suffice).
func incCounter(c *[16]byte) {
	c[15]++
	if c[15] == 0 {
		c[14]++
	}
}
