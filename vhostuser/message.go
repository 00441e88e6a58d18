package vhostuser

import (
	"encoding/binary"
	"fmt"

	"github.com/ccmblk/ccmblk/virtio"
)

// vhost-user messages are in the machine's native byte order (spec
// "Message Specification"); virtio rings, which are little-endian, are
// never decoded in this package.
var ne = binary.NativeEndian

// Wire layout limits.
const (
	headerSize = 12
	// maxPayload bounds a message body (rust-vmm MAX_MSG_SIZE); nothing this
	// package accepts is larger than a full SET_MEM_TABLE (264 bytes) or
	// GET_CONFIG (268 bytes).
	maxPayload = 0x1000
	// maxFDs is the most descriptors one message carries: SET_MEM_TABLE with
	// QEMU's VHOST_MEMORY_BASELINE_NREGIONS regions.
	maxFDs = 8
	// maxMemTableRegions bounds SET_MEM_TABLE (VHOST_MEMORY_BASELINE_NREGIONS).
	maxMemTableRegions = 8
	// maxConfigSize is VHOST_USER_MAX_CONFIG_SIZE.
	maxConfigSize    = 256
	configHeaderSize = 12
	memRegionSize    = 32
	vringStateSize   = 8
	vringAddrSize    = 40
	memRegMsgSize    = 8 + memRegionSize
	u64Size          = 8
)

// Header flag bits.
const (
	flagVersionMask = 0x3
	flagVersion     = 0x1
	// FlagReply marks a back-end reply.
	FlagReply = 1 << 2
	// FlagNeedReply asks for a REPLY_ACK acknowledgement.
	FlagNeedReply = 1 << 3
	flagsKnown    = flagVersionMask | FlagReply | FlagNeedReply
)

// Vring file payload bits (SET_VRING_KICK/CALL/ERR).
const (
	vringIndexMask = 0xff
	// vringNoFD says no descriptor accompanies the message.
	vringNoFD = 1 << 8
)

// vringAddrFLog is VHOST_VRING_F_LOG, the only defined SET_VRING_ADDR flag.
const vringAddrFLog = 1 << 0

// qva is an address in the front end's own address space (QEMU's
// userspace_addr); it is meaningful only through the memory table.
type qva uint64

// header is the fixed 12-byte message header.
type header struct {
	req   Request
	flags uint32
	size  uint32
}

func decodeHeader(b []byte) header {
	return header{req: Request(ne.Uint32(b[0:])), flags: ne.Uint32(b[4:]), size: ne.Uint32(b[8:])}
}

func (h header) encode(b []byte) {
	ne.PutUint32(b[0:], uint32(h.req))
	ne.PutUint32(b[4:], h.flags)
	ne.PutUint32(b[8:], h.size)
}

// check is the first validation layer: version, direction, known flags and
// the size bound. A message failing it cannot be trusted to be framed
// correctly, so the session ends.
func (h header) check() error {
	switch {
	case h.flags&flagVersionMask != flagVersion:
		return protoErr(h.req, "header version %d, want 1", h.flags&flagVersionMask)
	case h.flags&FlagReply != 0:
		return protoErr(h.req, "reply flag set on a request")
	case h.flags&^flagsKnown != 0:
		return protoErr(h.req, "unknown header flags %#x", h.flags&^flagsKnown)
	case h.size > maxPayload:
		return protoErr(h.req, "payload size %d exceeds %d", h.size, maxPayload)
	}
	return nil
}

// payload is a decoded message body. encode returns the exact bytes it was
// decoded from, which FuzzDecodeMessage checks.
type payload interface {
	encode() []byte
}

// queued is a payload that names a queue; dispatch checks the index.
type queued interface {
	queue() uint32
}

type empty struct{}

func (empty) encode() []byte { return nil }

func decodeEmpty(b []byte) (empty, error) { return empty{}, nil }

type u64 uint64

func (v u64) encode() []byte { return ne.AppendUint64(nil, uint64(v)) }

func decodeU64(b []byte) (u64, error) { return u64(ne.Uint64(b)), nil }

// vringState is struct vhost_vring_state.
type vringState struct {
	index uint32
	num   uint32
}

func (v vringState) queue() uint32 { return v.index }

func (v vringState) encode() []byte {
	b := ne.AppendUint32(nil, v.index)
	return ne.AppendUint32(b, v.num)
}

func decodeVringState(b []byte) (vringState, error) {
	return vringState{index: ne.Uint32(b), num: ne.Uint32(b[4:])}, nil
}

// vringAddr is struct vhost_vring_addr. Note the field order: desc, used,
// avail, log.
type vringAddr struct {
	index uint32
	flags uint32
	desc  qva
	used  qva
	avail qva
	log   uint64
}

func (v vringAddr) queue() uint32 { return v.index }

func (v vringAddr) encode() []byte {
	b := ne.AppendUint32(nil, v.index)
	b = ne.AppendUint32(b, v.flags)
	b = ne.AppendUint64(b, uint64(v.desc))
	b = ne.AppendUint64(b, uint64(v.used))
	b = ne.AppendUint64(b, uint64(v.avail))
	return ne.AppendUint64(b, v.log)
}

func decodeVringAddr(b []byte) (vringAddr, error) {
	v := vringAddr{
		index: ne.Uint32(b),
		flags: ne.Uint32(b[4:]),
		desc:  qva(ne.Uint64(b[8:])),
		used:  qva(ne.Uint64(b[16:])),
		avail: qva(ne.Uint64(b[24:])),
		log:   ne.Uint64(b[32:]),
	}
	// VHOST_VRING_F_LOG is the only flag the spec defines.
	if v.flags&^vringAddrFLog != 0 {
		return v, fmt.Errorf("unknown vring flags %#x", v.flags)
	}
	return v, nil
}

// vringFile is the u64 of SET_VRING_KICK, _CALL and _ERR: a queue index in
// bits 0-7 and the no-descriptor flag in bit 8.
type vringFile struct {
	index uint8
	noFD  bool
}

func (v vringFile) queue() uint32 { return uint32(v.index) }

func (v vringFile) encode() []byte {
	x := uint64(v.index)
	if v.noFD {
		x |= vringNoFD
	}
	return ne.AppendUint64(nil, x)
}

func decodeVringFile(b []byte) (vringFile, error) {
	x := ne.Uint64(b)
	// Spec: bits 0-7 are the index, bit 8 the no-fd flag; QEMU sends
	// nothing else (vhost_set_vring_file).
	if x&^(vringIndexMask|vringNoFD) != 0 {
		return vringFile{}, fmt.Errorf("unknown bits %#x", x&^(vringIndexMask|vringNoFD))
	}
	return vringFile{index: uint8(x & vringIndexMask), noFD: x&vringNoFD != 0}, nil
}

// memRegion is VhostUserMemoryRegion.
type memRegion struct {
	gpa        virtio.GuestAddr
	size       uint64
	uaddr      qva
	mmapOffset uint64
}

func (r memRegion) append(b []byte) []byte {
	b = ne.AppendUint64(b, uint64(r.gpa))
	b = ne.AppendUint64(b, r.size)
	b = ne.AppendUint64(b, uint64(r.uaddr))
	return ne.AppendUint64(b, r.mmapOffset)
}

func decodeMemRegion(b []byte) memRegion {
	return memRegion{
		gpa:        virtio.GuestAddr(ne.Uint64(b)),
		size:       ne.Uint64(b[8:]),
		uaddr:      qva(ne.Uint64(b[16:])),
		mmapOffset: ne.Uint64(b[24:]),
	}
}

// memTable is VhostUserMemory with exactly nregions regions.
type memTable struct {
	padding uint32
	regions []memRegion
}

func (t memTable) encode() []byte {
	b := ne.AppendUint32(nil, uint32(len(t.regions)))
	b = ne.AppendUint32(b, t.padding)
	for _, r := range t.regions {
		b = r.append(b)
	}
	return b
}

func decodeMemTable(b []byte) (memTable, error) {
	if len(b) < 8 {
		return memTable{}, fmt.Errorf("size %d, want at least 8", len(b))
	}
	n := ne.Uint32(b)
	// QEMU sends exactly nregions entries (vhost_user_fill_set_mem_table_msg).
	if n == 0 || n > maxMemTableRegions {
		return memTable{}, fmt.Errorf("%d regions, want 1 to %d", n, maxMemTableRegions)
	}
	if uint64(len(b)) != 8+uint64(n)*memRegionSize {
		return memTable{}, fmt.Errorf("size %d for %d regions, want %d", len(b), n, 8+n*memRegionSize)
	}
	t := memTable{padding: ne.Uint32(b[4:]), regions: make([]memRegion, n)}
	for i := range t.regions {
		t.regions[i] = decodeMemRegion(b[8+i*memRegionSize:])
	}
	return t, nil
}

// memRegMsg is VhostUserMemRegMsg (ADD_MEM_REG, REM_MEM_REG).
type memRegMsg struct {
	padding uint64
	region  memRegion
}

func (m memRegMsg) encode() []byte {
	return m.region.append(ne.AppendUint64(nil, m.padding))
}

func decodeMemRegMsg(b []byte) (memRegMsg, error) {
	return memRegMsg{padding: ne.Uint64(b), region: decodeMemRegion(b[8:])}, nil
}

// configMsg is VhostUserConfig with size bytes of region.
type configMsg struct {
	offset uint32
	flags  uint32
	data   []byte
}

func (c configMsg) encode() []byte {
	b := ne.AppendUint32(nil, c.offset)
	b = ne.AppendUint32(b, uint32(len(c.data)))
	b = ne.AppendUint32(b, c.flags)
	return append(b, c.data...)
}

func decodeConfig(b []byte) (configMsg, error) {
	if len(b) < configHeaderSize {
		return configMsg{}, fmt.Errorf("size %d, want at least %d", len(b), configHeaderSize)
	}
	size := ne.Uint32(b[4:])
	// The spec and QEMU both bound the config space by 256 bytes, and QEMU
	// sends header plus exactly size bytes.
	if size > maxConfigSize || uint64(len(b)) != configHeaderSize+uint64(size) {
		return configMsg{}, fmt.Errorf("config size %d in a %d-byte payload", size, len(b))
	}
	return configMsg{offset: ne.Uint32(b), flags: ne.Uint32(b[8:]), data: b[configHeaderSize:]}, nil
}
