package pattern

import (
	"encoding/binary"
	"fmt"
)

// Fill sets p to the pattern bytes for disk offsets [off, off+len(p)) under
// seed. Byte i of the disk is byte i%8 (little-endian) of mix(seed, i/8), so
// any slice of the pattern can be produced independently of the others.
func Fill(p []byte, seed, off uint64) {
	var w [8]byte
	for i := range p {
		pos := off + uint64(i)
		if i == 0 || pos%8 == 0 {
			binary.LittleEndian.PutUint64(w[:], mix(seed^(pos/8)*0x9e3779b97f4a7c15))
		}
		p[i] = w[pos%8]
	}
}

// mix is the splitmix64 finaliser: a cheap bijection with good diffusion.
func mix(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// DemoMessage is what the guest's demo action writes to the start of the
// disk and reads back.
const DemoMessage = "hello from the ccmblk demo guest: this sector is stored encrypted and authenticated\n"

// Extent is a byte range of the disk.
type Extent struct {
	Off, Len uint64
}

// String formats e as off+len, the form the guest prints.
func (e Extent) String() string { return fmt.Sprintf("%d+%d", e.Off, e.Len) }

// WritePlan returns the non-overlapping extents the guest's write action
// covers on a disk of size bytes made of sector-byte sectors: the start of
// the disk, a run in the middle, and the last sector. size must be a multiple
// of sector and at least 8 sectors.
func WritePlan(size, sector uint64) ([]Extent, error) {
	if sector == 0 || size%sector != 0 || size < 8*sector {
		return nil, fmt.Errorf("pattern: disk of %d bytes with %d-byte sectors is too small or unaligned", size, sector)
	}
	down := func(v uint64) uint64 { return v / sector * sector }
	first := max(sector, min(down(size/8), 4096))
	mid := down(size / 2)
	midLen := max(sector, min(down(size/4), 64<<10))
	return []Extent{
		{Off: 0, Len: first},
		{Off: mid, Len: midLen},
		{Off: size - sector, Len: sector},
	}, nil
}

// Apply writes the pattern of every extent of plan into img, an in-memory
// copy of the whole disk, giving the contents the disk has after the guest's
// write action.
func Apply(img []byte, plan []Extent, seed uint64) error {
	for _, e := range plan {
		if e.Off+e.Len > uint64(len(img)) || e.Off+e.Len < e.Off {
			return fmt.Errorf("pattern: extent %v outside a %d-byte image", e, len(img))
		}
		Fill(img[e.Off:e.Off+e.Len], seed, e.Off)
	}
	return nil
}
