package ccm

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"
)

func TestGeometry(t *testing.T) {
	for _, tc := range []struct {
		p, m, n          int
		hdrLen           int
		b0Flags, ctrFlag byte
	}{
		// A = 488: 16 + roundup(490, 16) = 512; flags 0x40 | 7<<3 | 6.
		{512, 16, 8, 512, 0x7e, 0x06},
		// A = 496: 16 + roundup(498, 16) = 528; flags 0x40 | 3<<3 | 6.
		{512, 8, 8, 528, 0x5e, 0x06},
		// A = 484: 16 + 496; L = 3: flags 0x40 | 7<<3 | 2.
		{512, 16, 12, 512, 0x7a, 0x02},
		// A = 494: 2+A = 496 needs no padding; flags 0x40 | 2<<3 | 2.
		{512, 6, 12, 512, 0x52, 0x02},
		// A = 4069: 16 + roundup(4071, 16) = 4096; L = 2.
		{4096, 14, 13, 4096, 0x40 | 6<<3 | 1, 0x01},
	} {
		g := newGeometry(tc.p, tc.m, tc.n)
		if g.hdrLen != tc.hdrLen || g.b0Flags != tc.b0Flags || g.ctrFlags != tc.ctrFlag || g.adataLen != tc.p-tc.m-tc.n || g.slotLen != 2*tc.p {
			t.Errorf("P %d M %d N %d: got %+v, want hdrLen %d flags %#x %#x", tc.p, tc.m, tc.n, g, tc.hdrLen, tc.b0Flags, tc.ctrFlag)
		}
	}
}

// sealSlotsRef builds the slots of plaintext sectors pt with the reference
// AEAD, given each slot's nonce and adata already in ct.
func sealSlotsRef(t *testing.T, key []byte, g geometry, ct, pt []byte) {
	t.Helper()
	a := newAEAD(t, key, g.nonceLen, g.macLen)
	for i := 0; i < len(ct)/g.slotLen; i++ {
		slot := ct[i*g.slotLen : (i+1)*g.slotLen]
		nonce := slot[g.sectorSize+g.macLen : g.sectorSize+g.macLen+g.nonceLen]
		ad := slot[g.sectorSize+g.macLen+g.nonceLen:]
		a.Seal(slot[:0], nonce, pt[i*g.sectorSize:(i+1)*g.sectorSize], ad)
	}
}

// TestSectorMatchesAEAD checks the lane path against NewCCM for runs that
// fill the lanes partly, fully and more than once.
func TestSectorMatchesAEAD(t *testing.T) {
	for _, geo := range [][3]int{{512, 16, 8}, {512, 8, 8}, {512, 4, 13}, {4096, 16, 12}, {64, 16, 13}} {
		for _, keyLen := range []int{16, 24, 32} {
			for _, n := range []int{1, laneMax - 1, laneMax, 2*laneMax + 3} {
				name := fmt.Sprintf("P%d-M%d-N%d-AES%d-%d", geo[0], geo[1], geo[2], keyLen*8, n)
				t.Run(name, func(t *testing.T) {
					checkSectorMatchesAEAD(t, newGeometry(geo[0], geo[1], geo[2]), randBytes(t, keyLen), n)
				})
			}
		}
	}
}

func checkSectorMatchesAEAD(t *testing.T, g geometry, key []byte, n int) {
	k, err := newKernelKey(key)
	if err != nil {
		t.Fatal(err)
	}
	sc := sectorCipher{geometry: g, key: k}
	ls := g.newLaneState()
	pt := randBytes(t, n*g.sectorSize)
	ct := randBytes(t, n*g.slotLen) // nonce and adata as a write draws them
	want := clone(ct)
	sealSlotsRef(t, key, g, want, pt)
	sc.seal(ls, ct, &sectorCursor{bufs: splitSectors(clone(pt), g.sectorSize), size: g.sectorSize})
	if !bytes.Equal(ct, want) {
		t.Fatal("sealed slots differ from the reference AEAD")
	}
	got := make([]byte, len(pt))
	if first, failed := sc.open(ls, ct, &sectorCursor{bufs: splitSectors(got, g.sectorSize), size: g.sectorSize}); failed != 0 {
		t.Fatalf("open: %d failed from %d", failed, first)
	}
	if !bytes.Equal(got, pt) {
		t.Fatal("opened sectors differ")
	}
	// Break the last sector and, if there is one, the first.
	ct[len(ct)-g.slotLen+g.sectorSize] ^= 1
	wantFirst, wantFailed := n-1, 1
	if n > 1 {
		ct[g.slotLen-1] ^= 1 // adata
		wantFirst, wantFailed = 0, 2
	}
	got = bytes.Repeat([]byte{0xcc}, len(pt))
	first, failed := sc.open(ls, ct, &sectorCursor{bufs: [][]byte{got}, size: g.sectorSize})
	if first != wantFirst || failed != wantFailed {
		t.Fatalf("open of broken slots = %d, %d; want %d, %d", first, failed, wantFirst, wantFailed)
	}
	for i := range n {
		s := got[i*g.sectorSize : (i+1)*g.sectorSize]
		bad := i == n-1 || (n > 1 && i == 0)
		if bad && !bytes.Equal(s, make([]byte, g.sectorSize)) {
			t.Fatalf("failed sector %d not zeroed", i)
		}
		if !bad && !bytes.Equal(s, pt[i*g.sectorSize:(i+1)*g.sectorSize]) {
			t.Fatalf("good sector %d differs", i)
		}
	}
}

func TestLaneHeader(t *testing.T) {
	g := newGeometry(512, 16, 8)
	ls := g.newLaneState()
	slot := make([]byte, g.slotLen)
	for i := range slot {
		slot[i] = byte(i)
	}
	g.loadLane(ls, 3, slot)
	h := ls.l.hdr[3]
	want := make([]byte, g.hdrLen)
	want[0] = 0x7e
	copy(want[1:9], slot[528:536])
	binary.BigEndian.PutUint16(want[14:16], 512) // in L = 7 bytes, 9..15
	binary.BigEndian.PutUint16(want[16:18], 488)
	copy(want[18:], slot[536:])
	if !bytes.Equal(h, want) {
		t.Fatalf("header\n got %x\nwant %x", h, want)
	}
	var ctr [16]byte
	ctr[0] = 6
	copy(ctr[1:], slot[528:536])
	if ls.l.ctr[3] != ctr {
		t.Fatalf("counter block %x, want %x", ls.l.ctr[3], ctr)
	}
}

func TestSectorCursor(t *testing.T) {
	a, b := make([]byte, 4), make([]byte, 8)
	c := sectorCursor{bufs: [][]byte{nil, a, {}, {}, b}, size: 4}
	for i, want := range [][]byte{a, b[:4], b[4:]} {
		got := c.next()
		if &got[0] != &want[0] || len(got) != 4 || cap(got) != 4 {
			t.Fatalf("sector %d: wrong slice", i)
		}
	}
}

func TestTagEqual(t *testing.T) {
	for m := 4; m <= 16; m += 2 {
		a := randBytes(t, m)
		if !tagEqual(a, clone(a)) {
			t.Fatalf("M %d: equal tags compare unequal", m)
		}
		for i := range m {
			for bit := range 8 {
				b := clone(a)
				b[i] ^= 1 << bit
				if tagEqual(a, b) {
					t.Fatalf("M %d: tags differing in byte %d bit %d compare equal", m, i, bit)
				}
			}
		}
	}
}
