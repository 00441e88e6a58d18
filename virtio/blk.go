package virtio

import "encoding/binary"

// Transport feature bits (virtio 1.2 section 6).
const (
	// FRingIndirectDesc is VIRTIO_F_RING_INDIRECT_DESC (bit 28).
	FRingIndirectDesc uint64 = 1 << 28
	// FRingEventIdx is VIRTIO_F_RING_EVENT_IDX (bit 29).
	FRingEventIdx uint64 = 1 << 29
	// FVersion1 is VIRTIO_F_VERSION_1 (bit 32).
	FVersion1 uint64 = 1 << 32
)

// virtio-blk feature bits (virtio 1.2 section 5.2.3).
const (
	// BlkFSizeMax is VIRTIO_BLK_F_SIZE_MAX: size_max is valid.
	BlkFSizeMax uint64 = 1 << 1
	// BlkFSegMax is VIRTIO_BLK_F_SEG_MAX: seg_max is valid.
	BlkFSegMax uint64 = 1 << 2
	// BlkFGeometry is VIRTIO_BLK_F_GEOMETRY: geometry is valid.
	BlkFGeometry uint64 = 1 << 4
	// BlkFRO is VIRTIO_BLK_F_RO: the device is read-only.
	BlkFRO uint64 = 1 << 5
	// BlkFBlkSize is VIRTIO_BLK_F_BLK_SIZE: blk_size is valid.
	BlkFBlkSize uint64 = 1 << 6
	// BlkFFlush is VIRTIO_BLK_F_FLUSH: the FLUSH command is supported.
	BlkFFlush uint64 = 1 << 9
	// BlkFTopology is VIRTIO_BLK_F_TOPOLOGY: topology is valid.
	BlkFTopology uint64 = 1 << 10
	// BlkFConfigWCE is VIRTIO_BLK_F_CONFIG_WCE: writeback is writable.
	BlkFConfigWCE uint64 = 1 << 11
	// BlkFMQ is VIRTIO_BLK_F_MQ: num_queues is valid.
	BlkFMQ uint64 = 1 << 12
	// BlkFDiscard is VIRTIO_BLK_F_DISCARD: the DISCARD command and its
	// configuration fields.
	BlkFDiscard uint64 = 1 << 13
	// BlkFWriteZeroes is VIRTIO_BLK_F_WRITE_ZEROES: the WRITE_ZEROES
	// command and its configuration fields.
	BlkFWriteZeroes uint64 = 1 << 14
)

// virtio-blk request types (virtio 1.2 section 5.2.6).
const (
	BlkTIn    uint32 = 0 // read sectors into device-writable buffers
	BlkTOut   uint32 = 1 // write sectors from device-readable buffers
	BlkTFlush uint32 = 4 // make completed writes durable
	BlkTGetID uint32 = 8 // return the device serial
	// BlkTDiscard frees the sectors of each segment; they may read as
	// anything afterwards.
	BlkTDiscard uint32 = 11
	// BlkTWriteZeroes makes the sectors of each segment read as zeros.
	BlkTWriteZeroes uint32 = 13
)

// virtio-blk request status values.
const (
	BlkSOK     uint8 = 0 // success
	BlkSIOErr  uint8 = 1 // device or driver error
	BlkSUnsupp uint8 = 2 // request type not supported
)

// Sizes of the virtio-blk wire structures.
const (
	// BlkHeaderSize is the size of the request header: le32 type,
	// le32 reserved, le64 sector.
	BlkHeaderSize = 16
	// BlkIDBytes is the size of the GET_ID answer.
	BlkIDBytes = 20
	// BlkSectorSize is the unit of the request sector field and of
	// capacity.
	BlkSectorSize = 512
	// BlkConfigSize is the size of struct virtio_blk_config in virtio 1.2,
	// up to and including the zoned characteristics.
	BlkConfigSize = 96
)

// Offsets in struct virtio_blk_config (virtio 1.2 section 5.2.4). The
// fields not listed stay 0: size_max (8, le32; BlkFSizeMax is not offered),
// geometry (16; BlkFGeometry is not offered), physical_block_exp (24) and
// alignment_offset (25) (one logical block per physical block, aligned),
// the discard and write-zeroes fields when their features are not offered,
// and from offset 60 on the secure-erase and zoned fields, whose features
// are not offered.
const (
	cfgCapacity            = 0  // le64, in 512-byte sectors
	cfgSegMax              = 12 // le32
	cfgBlkSize             = 20 // le32
	cfgMinIOSize           = 26 // le16, in blk_size units
	cfgWriteback           = 32 // u8
	cfgNumQueues           = 34 // le16
	cfgMaxDiscardSectors   = 36 // le32, per segment, in 512-byte sectors
	cfgMaxDiscardSeg       = 40 // le32
	cfgDiscardAlign        = 44 // le32, in 512-byte sectors
	cfgMaxWriteZeroesSecs  = 48 // le32, per segment, in 512-byte sectors
	cfgMaxWriteZeroesSeg   = 52 // le32
	cfgWriteZeroesMayUnmap = 56 // u8
)

// blkConfig is the device's configuration, encoded by encode.
type blkConfig struct {
	capacity  uint64
	segMax    uint32
	blkSize   uint32
	writeback bool
	numQueues uint16
	// Zero unless the feature is offered (virtio 1.2 section 5.2.4).
	discard, writeZeroes ZeroLimits
	mayUnmap             bool
}

// encode writes the configuration space into b.
func (c *blkConfig) encode(b *[BlkConfigSize]byte) {
	*b = [BlkConfigSize]byte{}
	binary.LittleEndian.PutUint64(b[cfgCapacity:], c.capacity)
	binary.LittleEndian.PutUint32(b[cfgSegMax:], c.segMax)
	binary.LittleEndian.PutUint32(b[cfgBlkSize:], c.blkSize)
	binary.LittleEndian.PutUint16(b[cfgMinIOSize:], 1)
	if c.writeback {
		b[cfgWriteback] = 1
	}
	binary.LittleEndian.PutUint16(b[cfgNumQueues:], c.numQueues)
	if c.discard.MaxSegments > 0 {
		binary.LittleEndian.PutUint32(b[cfgMaxDiscardSectors:], c.discard.MaxSectors)
		binary.LittleEndian.PutUint32(b[cfgMaxDiscardSeg:], c.discard.MaxSegments)
		binary.LittleEndian.PutUint32(b[cfgDiscardAlign:], c.blkSize/BlkSectorSize)
	}
	if c.writeZeroes.MaxSegments > 0 {
		binary.LittleEndian.PutUint32(b[cfgMaxWriteZeroesSecs:], c.writeZeroes.MaxSectors)
		binary.LittleEndian.PutUint32(b[cfgMaxWriteZeroesSeg:], c.writeZeroes.MaxSegments)
		if c.mayUnmap {
			b[cfgWriteZeroesMayUnmap] = 1
		}
	}
}
