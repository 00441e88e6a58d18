package ccm

import "encoding/binary"

// geometry is the layout of one logical sector on disk: a slot of two
// physical sectors, 2P bytes, holding
//
//	[0, P)        the CCM ciphertext of the P plaintext bytes
//	[P, P+M)      the tag
//	[P+M, P+M+N)  the nonce
//	[P+M+N, 2P)   the adata, A = P-M-N bytes
type geometry struct {
	sectorSize int // P
	macLen     int // M
	nonceLen   int // N
	adataLen   int // A = P-M-N
	slotLen    int // 2P
	// hdrLen is the length of the CBC-MAC input before the payload: B0, then
	// the 2-byte adata length, the adata and zero padding to 16 bytes.
	hdrLen   int
	b0Flags  byte // RFC 3610 section 2.2: Adata, (M-2)/2 and L-1
	ctrFlags byte // RFC 3610 section 2.3: L-1
}

// newGeometry returns the layout for sector size p, tag length m and nonce
// length n.
//
// Preconditions: the values passed Params.geometry's checks.
func newGeometry(p, m, n int) geometry {
	l := 15 - n
	a := p - m - n
	return geometry{
		sectorSize: p,
		macLen:     m,
		nonceLen:   n,
		adataLen:   a,
		slotLen:    2 * p,
		// A < 2^16 - 2^8 (P <= 4096), so its length takes two bytes.
		hdrLen:   16 + (2+a+15)&^15,
		b0Flags:  byte(0x40 | (m-2)/2<<3 | (l - 1)),
		ctrFlags: byte(l - 1),
	}
}

// laneState is the scratch of one call into the lane kernels. The parts of
// each header that do not change between sectors (the B0 flags, the payload
// length, the adata length and the padding) are written once here; a sector
// fills in only its nonce and adata.
type laneState struct {
	l   lanes
	hdr []byte // laneMax headers of hdrLen bytes
	// pt receives the plaintext of laneMax sectors while their tags are
	// checked (see sectorCipher.open).
	pt []byte
}

func (g *geometry) newLaneState() *laneState {
	ls := &laneState{hdr: make([]byte, laneMax*g.hdrLen), pt: make([]byte, laneMax*g.sectorSize)}
	for i := range laneMax {
		h := ls.hdr[i*g.hdrLen : (i+1)*g.hdrLen : (i+1)*g.hdrLen]
		h[0] = g.b0Flags
		// The payload length P in the last L bytes of B0; P <= 4096 and
		// L >= 2, so two bytes hold it and the bytes before stay zero.
		binary.BigEndian.PutUint16(h[14:16], uint16(g.sectorSize))
		binary.BigEndian.PutUint16(h[16:18], uint16(g.adataLen))
		ls.l.hdr[i] = h
	}
	return ls
}

// release drops the references to the caller's buffers.
func (ls *laneState) release() {
	clear(ls.l.src[:])
	clear(ls.l.dst[:])
}

// loadLane sets lane i's header and counter block from the nonce and adata
// in slot.
func (g *geometry) loadLane(ls *laneState, i int, slot []byte) {
	nonce := slot[g.sectorSize+g.macLen : g.sectorSize+g.macLen+g.nonceLen]
	h := ls.l.hdr[i]
	copy(h[1:1+g.nonceLen], nonce)
	copy(h[18:18+g.adataLen], slot[g.sectorSize+g.macLen+g.nonceLen:g.slotLen])
	c := &ls.l.ctr[i]
	*c = [16]byte{}
	c[0] = g.ctrFlags
	copy(c[1:], nonce)
}

// sectorCursor hands out, in order, the P-byte sectors of a list of buffers
// that are each a whole number of sectors.
type sectorCursor struct {
	bufs [][]byte
	off  int // offset of the next sector in bufs[0]
	size int // P
}

// next returns the next sector.
//
// Preconditions: at least one sector is left.
func (c *sectorCursor) next() []byte {
	for c.off == len(c.bufs[0]) {
		c.bufs, c.off = c.bufs[1:], 0
	}
	s := c.bufs[0][c.off : c.off+c.size : c.off+c.size]
	c.off += c.size
	return s
}

// sectorCipher encrypts and decrypts runs of slots with one key.
type sectorCipher struct {
	geometry
	key *kernelKey
	// sparse makes open read an all-zero slot as an unwritten sector of
	// zeros instead of a failed one.
	sparse bool
}

// seal encrypts the next len(ct)/slotLen sectors of src into the slots of
// ct, laneMax at a time, and stores their tags.
//
// Preconditions: the nonce and adata of every slot of ct are filled in.
func (sc *sectorCipher) seal(ls *laneState, ct []byte, src *sectorCursor) {
	for len(ct) > 0 {
		n := min(laneMax, len(ct)/sc.slotLen)
		for i := range n {
			slot := ct[i*sc.slotLen : (i+1)*sc.slotLen]
			sc.loadLane(ls, i, slot)
			ls.l.src[i] = src.next()
			ls.l.dst[i] = slot[:sc.sectorSize]
		}
		ls.l.n = n
		sealLanes(sc.key, &ls.l, sc.hdrLen, sc.sectorSize)
		for i := range n {
			copy(ct[i*sc.slotLen+sc.sectorSize:i*sc.slotLen+sc.sectorSize+sc.macLen], ls.l.tag[i][:sc.macLen])
		}
		ct = ct[n*sc.slotLen:]
	}
}

// open decrypts the slots of ct, laneMax at a time, into ls.pt, checks
// their tags there, and copies each verified plaintext to the next of the
// len(ct)/slotLen sectors of dst. dst is written once per sector, never
// read, and never holds unverified plaintext: it may be guest memory that
// a guest thread watches or changes meanwhile. A sector whose tag does not
// verify is zeroed; open returns the index within ct of the first one and
// how many there were. With sc.sparse, an all-zero slot is an unwritten
// sector: it reads as zeros and does not count as failed.
func (sc *sectorCipher) open(ls *laneState, ct []byte, dst *sectorCursor) (first, failed int) {
	for base := 0; len(ct) > 0; {
		n := min(laneMax, len(ct)/sc.slotLen)
		for i := range n {
			slot := ct[i*sc.slotLen : (i+1)*sc.slotLen]
			sc.loadLane(ls, i, slot)
			ls.l.src[i] = slot[:sc.sectorSize]
			ls.l.dst[i] = ls.pt[i*sc.sectorSize : (i+1)*sc.sectorSize : (i+1)*sc.sectorSize]
		}
		ls.l.n = n
		openLanes(sc.key, &ls.l, sc.hdrLen, sc.sectorSize)
		for i := range n {
			out := dst.next()
			tag := ct[i*sc.slotLen+sc.sectorSize : i*sc.slotLen+sc.sectorSize+sc.macLen]
			if tagEqual(ls.l.tag[i][:sc.macLen], tag) {
				copy(out, ls.l.dst[i])
				continue
			}
			clear(out)
			if sc.sparse && isZero(ct[i*sc.slotLen:(i+1)*sc.slotLen]) {
				continue
			}
			if failed == 0 {
				first = base + i
			}
			failed++
		}
		ct = ct[n*sc.slotLen:]
		base += n
	}
	return first, failed
}

// tagEqual compares two tags of the same length in constant time, eight
// bytes at a time (crypto/subtle's compare goes byte by byte).
func tagEqual(a, b []byte) bool {
	var d uint64
	for len(a) >= 8 {
		d |= binary.LittleEndian.Uint64(a) ^ binary.LittleEndian.Uint64(b)
		a, b = a[8:], b[8:]
	}
	for i := range a {
		d |= uint64(a[i] ^ b[i])
	}
	return d == 0
}

// isZero reports whether b holds only zero bytes, eight at a time.
func isZero(b []byte) bool {
	var d uint64
	for len(b) >= 8 {
		d |= binary.LittleEndian.Uint64(b)
		b = b[8:]
	}
	for _, c := range b {
		d |= uint64(c)
	}
	return d == 0
}
