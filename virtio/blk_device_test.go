package virtio_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/ccmblk/ccmblk/virtio"
	"github.com/ccmblk/ccmblk/virtio/virtiotest"
)

var testOpts = virtio.BlockOptions{NumQueues: 2, QueueSize: 256, Serial: "ccmblk-test", Name: "test"}

func TestNewBlockDeviceRejects(t *testing.T) {
	tests := []struct {
		name string
		disk virtio.Disk
		opts func(o *virtio.BlockOptions)
	}{
		{"nil disk", nil, nil},
		{"sector size 1000", virtiotest.NewMemDisk(1000, 1), nil},
		{"sector size 256", virtiotest.NewMemDisk(256, 1), nil},
		{"capacity overflows", hugeDisk{virtiotest.NewMemDisk(4096, 1)}, nil},
		{"no queues", virtiotest.NewMemDisk(512, 1), func(o *virtio.BlockOptions) { o.NumQueues = 0 }},
		{"too many queues", virtiotest.NewMemDisk(512, 1), func(o *virtio.BlockOptions) { o.NumQueues = virtio.MaxBlkQueues + 1 }},
		{"queue size 3", virtiotest.NewMemDisk(512, 1), func(o *virtio.BlockOptions) { o.QueueSize = 3 }},
		{"queue size 2", virtiotest.NewMemDisk(512, 1), func(o *virtio.BlockOptions) { o.QueueSize = 2 }},
		{"queue size above max", virtiotest.NewMemDisk(512, 1), func(o *virtio.BlockOptions) { o.QueueSize = 0xffff }},
		{"serial too long", virtiotest.NewMemDisk(512, 1), func(o *virtio.BlockOptions) { o.Serial = "123456789012345678901" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := testOpts
			if tc.opts != nil {
				tc.opts(&o)
			}
			if _, err := virtio.NewBlockDevice(tc.disk, o); !errors.Is(err, virtio.ErrBadOptions) {
				t.Fatalf("NewBlockDevice: got %v, want %v", err, virtio.ErrBadOptions)
			}
		})
	}
}

// hugeDisk claims 2^64 bytes.
type hugeDisk struct{ *virtiotest.MemDisk }

func (hugeDisk) SectorSize() int { return 4096 }
func (hugeDisk) Sectors() uint64 { return 1 << 52 }

func TestFeatures(t *testing.T) {
	disk := virtiotest.NewMemDisk(512, 8)
	dev, err := virtio.NewBlockDevice(disk, testOpts)
	if err != nil {
		t.Fatal(err)
	}
	want := virtio.FVersion1 | virtio.FRingIndirectDesc | virtio.FRingEventIdx | virtio.BlkFSegMax |
		virtio.BlkFBlkSize | virtio.BlkFTopology | virtio.BlkFFlush | virtio.BlkFConfigWCE | virtio.BlkFMQ
	if got := dev.Features(); got != want {
		t.Fatalf("Features: got %#x, want %#x", got, want)
	}
	if dev.NumQueues() != 2 || dev.MaxQueueSize() != 256 {
		t.Fatalf("NumQueues, MaxQueueSize: got %d, %d", dev.NumQueues(), dev.MaxQueueSize())
	}
	disk.SetReadOnly(true)
	ro, err := virtio.NewBlockDevice(disk, testOpts)
	if err != nil {
		t.Fatal(err)
	}
	if got := ro.Features(); got != want|virtio.BlkFRO {
		t.Fatalf("read-only Features: got %#x, want %#x", got, want|virtio.BlkFRO)
	}
}

func TestConfigSpace(t *testing.T) {
	for _, ss := range []int{512, 4096} {
		dev, err := virtio.NewBlockDevice(virtiotest.NewMemDisk(ss, 100), testOpts)
		if err != nil {
			t.Fatal(err)
		}
		var cfg [virtio.BlkConfigSize]byte
		if err := dev.ReadConfig(0, cfg[:]); err != nil {
			t.Fatal(err)
		}
		le := binary.LittleEndian
		checks := []struct {
			field     string
			got, want uint64
		}{
			{"capacity", le.Uint64(cfg[0:]), uint64(100 * ss / 512)},
			{"size_max", uint64(le.Uint32(cfg[8:])), 0},
			{"seg_max", uint64(le.Uint32(cfg[12:])), 254},
			{"blk_size", uint64(le.Uint32(cfg[20:])), uint64(ss)},
			{"physical_block_exp", uint64(cfg[24]), 0},
			{"alignment_offset", uint64(cfg[25]), 0},
			{"min_io_size", uint64(le.Uint16(cfg[26:])), 1},
			{"opt_io_size", uint64(le.Uint32(cfg[28:])), 0},
			{"writeback", uint64(cfg[32]), 1},
			{"num_queues", uint64(le.Uint16(cfg[34:])), 2},
			{"max_discard_sectors", uint64(le.Uint32(cfg[36:])), 0},
		}
		for _, c := range checks {
			if c.got != c.want {
				t.Errorf("sector size %d: %s: got %d, want %d", ss, c.field, c.got, c.want)
			}
		}
		part := make([]byte, 4)
		if err := dev.ReadConfig(20, part); err != nil || le.Uint32(part) != uint32(ss) {
			t.Errorf("ReadConfig(20, 4): got %x, %v", part, err)
		}
	}

	dev, err := virtio.NewBlockDevice(virtiotest.NewMemDisk(512, 1), testOpts)
	if err != nil {
		t.Fatal(err)
	}
	if err := dev.ReadConfig(virtio.BlkConfigSize-1, make([]byte, 2)); !errors.Is(err, virtio.ErrConfigRange) {
		t.Fatalf("ReadConfig past end: got %v", err)
	}
	if err := dev.ReadConfig(0xffffffff, make([]byte, 2)); !errors.Is(err, virtio.ErrConfigRange) {
		t.Fatalf("ReadConfig offset overflow: got %v", err)
	}
	writes := []struct {
		name string
		off  uint32
		data []byte
		want error
	}{
		{"capacity", 0, make([]byte, 8), virtio.ErrConfigReadOnly},
		{"writeback and neighbour", 32, []byte{0, 0}, virtio.ErrConfigReadOnly},
		{"writeback 2", 32, []byte{2}, virtio.ErrConfigReadOnly},
		{"num_queues", 34, []byte{1, 0}, virtio.ErrConfigReadOnly},
		{"past end", virtio.BlkConfigSize, []byte{0}, virtio.ErrConfigRange},
		{"writeback 0", 32, []byte{0}, nil},
	}
	for _, w := range writes {
		if err := dev.WriteConfig(w.off, w.data); !errors.Is(err, w.want) {
			t.Errorf("WriteConfig %s: got %v, want %v", w.name, err, w.want)
		}
	}
	b := make([]byte, 1)
	if err := dev.ReadConfig(32, b); err != nil || b[0] != 0 {
		t.Fatalf("writeback after WriteConfig 0: got %d, %v", b[0], err)
	}
}

func TestServeQueueRejects(t *testing.T) {
	dev, err := virtio.NewBlockDevice(virtiotest.NewMemDisk(512, 8), virtio.BlockOptions{NumQueues: 1, QueueSize: 8})
	if err != nil {
		t.Fatal(err)
	}
	small := virtiotest.NewGuest(t, 1<<16, 8).Queue(false)
	big := virtiotest.NewGuest(t, 1<<16, 16).Queue(false)
	k, c := virtiotest.NewKick(), virtiotest.NewCall()
	tests := []struct {
		name  string
		index int
		q     *virtio.Queue
		kick  virtio.Kick
		want  error
	}{
		{"index -1", -1, small, k, virtio.ErrQueueIndex},
		{"index 1", 1, small, k, virtio.ErrQueueIndex},
		{"queue too big", 0, big, k, virtio.ErrBadOptions},
		{"nil queue", 0, nil, k, virtio.ErrBadOptions},
		{"nil kick", 0, small, nil, virtio.ErrBadOptions},
	}
	for _, tc := range tests {
		if err := dev.ServeQueue(tc.index, tc.q, tc.kick, c); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestGetID(t *testing.T) {
	tests := []struct{ serial, want string }{
		{"abc", "abc\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"},
		{"12345678901234567890", "12345678901234567890"},
		{"", string(make([]byte, 20))},
	}
	for _, tc := range tests {
		o := testOpts
		o.Serial = tc.serial
		h := startDevice(t, virtiotest.NewMemDisk(512, 8), o, false)
		r := h.d.AddBlk(virtio.BlkTGetID, 0, 32, false)
		copy(h.d.Data(r), bytes.Repeat([]byte{0xee}, 32))
		used := h.run(r.Head)
		if got := h.d.Status(r); got != virtio.BlkSOK {
			t.Fatalf("serial %q: status %d", tc.serial, got)
		}
		if got := string(h.d.Data(r)[:20]); got != tc.want {
			t.Errorf("serial %q: got %q, want %q", tc.serial, got, tc.want)
		}
		if h.d.Data(r)[20] != 0xee {
			t.Errorf("serial %q: GET_ID wrote past 20 bytes", tc.serial)
		}
		if used[0].Len != 21 {
			t.Errorf("serial %q: used length %d, want 21", tc.serial, used[0].Len)
		}
		h.stop()
	}
}
