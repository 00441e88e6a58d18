package virtiotest

import (
	"encoding/binary"

	"github.com/ccmblk/ccmblk/virtio"
)

// statusUnset is the value the status byte holds until the device writes it.
const statusUnset = 0xff

// BlkReq is a virtio-blk request built by AddBlk.
type BlkReq struct {
	Head    uint16
	Header  virtio.GuestAddr
	Data    virtio.GuestAddr // DataLen bytes; 0 if DataLen is 0
	DataLen int
	Status  virtio.GuestAddr
}

// BlkHeader allocates a 16-byte request header {typ, 0, sector} on the heap.
func (d *Driver) BlkHeader(typ uint32, sector uint64) virtio.GuestAddr {
	h := d.Alloc(virtio.BlkHeaderSize)
	b := d.Bytes(h, virtio.BlkHeaderSize)
	binary.LittleEndian.PutUint32(b[0:], typ)
	binary.LittleEndian.PutUint64(b[8:], sector)
	return h
}

// BlkStatusByte allocates a status byte holding 0xff (not yet written).
func (d *Driver) BlkStatusByte() virtio.GuestAddr {
	s := d.Alloc(1)
	d.Bytes(s, 1)[0] = statusUnset
	return s
}

// AddBlk builds a request in the layout Linux uses: the header, then
// dataLen bytes of data (device-readable for OUT, device-writable
// otherwise) if dataLen > 0, then the status byte. With indirect the
// descriptors go into an indirect table. The request is not yet published.
func (d *Driver) AddBlk(typ uint32, sector uint64, dataLen int, indirect bool) BlkReq {
	r := BlkReq{Header: d.BlkHeader(typ, sector), DataLen: dataLen}
	segs := []Seg{{Addr: r.Header, Len: virtio.BlkHeaderSize}}
	if dataLen > 0 {
		r.Data = d.Alloc(dataLen)
		segs = append(segs, Seg{Addr: r.Data, Len: uint32(dataLen), Write: typ != virtio.BlkTOut})
	}
	r.Status = d.BlkStatusByte()
	segs = append(segs, Seg{Addr: r.Status, Len: 1, Write: true})
	if indirect {
		r.Head = d.AddIndirect(segs...)
	} else {
		r.Head = d.AddChain(segs...)
	}
	return r
}

// Status returns the request's status byte (0xff until the device writes
// it).
func (d *Driver) Status(r BlkReq) byte { return d.Bytes(r.Status, 1)[0] }

// Data returns the host view of the request's data buffer.
func (d *Driver) Data(r BlkReq) []byte { return d.Bytes(r.Data, r.DataLen) }
