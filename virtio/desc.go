package virtio

import "encoding/binary"

// Descriptor flags (virtio 1.2 section 2.7.5).
const (
	// DescFNext marks a descriptor that continues via its Next field.
	DescFNext uint16 = 1
	// DescFWrite marks a device-writable buffer (otherwise device-readable).
	DescFWrite uint16 = 2
	// DescFIndirect marks a descriptor that points to an indirect table.
	DescFIndirect uint16 = 4
)

// descSize is the size of one descriptor in a descriptor table.
const descSize = 16

// Desc is one split-virtqueue descriptor as the driver wrote it.
type Desc struct {
	Addr  GuestAddr
	Len   uint32
	Flags uint16
	Next  uint16
}

// HasNext reports whether the chain continues after d.
func (d Desc) HasNext() bool { return d.Flags&DescFNext != 0 }

// IsWriteOnly reports whether d is a device-writable buffer.
func (d Desc) IsWriteOnly() bool { return d.Flags&DescFWrite != 0 }

// IsIndirect reports whether d points to an indirect descriptor table.
func (d Desc) IsIndirect() bool { return d.Flags&DescFIndirect != 0 }

// decodeDesc decodes the little-endian descriptor in b[:16].
func decodeDesc(b []byte) Desc {
	_ = b[descSize-1]
	return Desc{
		Addr:  GuestAddr(binary.LittleEndian.Uint64(b[0:])),
		Len:   binary.LittleEndian.Uint32(b[8:]),
		Flags: binary.LittleEndian.Uint16(b[12:]),
		Next:  binary.LittleEndian.Uint16(b[14:]),
	}
}

// Encode writes d to b[:16] in the descriptor table's little-endian layout.
func (d Desc) Encode(b []byte) {
	_ = b[descSize-1]
	binary.LittleEndian.PutUint64(b[0:], uint64(d.Addr))
	binary.LittleEndian.PutUint32(b[8:], d.Len)
	binary.LittleEndian.PutUint16(b[12:], d.Flags)
	binary.LittleEndian.PutUint16(b[14:], d.Next)
}
