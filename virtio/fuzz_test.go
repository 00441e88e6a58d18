package virtio_test

import (
	"encoding/binary"
	"testing"

	"github.com/ccmblk/ccmblk/virtio"
	"github.com/ccmblk/ccmblk/virtio/virtiotest"
)

// encodeTable lays descriptors out as a descriptor table.
func encodeTable(ds []virtio.Desc) []byte {
	b := make([]byte, 16*len(ds))
	for i, d := range ds {
		d.Encode(b[16*i:])
	}
	return b
}

// encodeHeads lays out available ring entries.
func encodeHeads(heads ...uint16) []byte {
	b := make([]byte, 2*len(heads))
	for i, h := range heads {
		binary.LittleEndian.PutUint16(b[2*i:], h)
	}
	return b
}

// FuzzChain lays fuzz bytes out as a queue (size, descriptor table,
// available ring entries and index, and an indirect table area), then pops
// and walks every chain. Invariants: no panic, every walk ends, no head is
// popped twice, no chain exceeds 2^32 bytes, and every popped head can be
// completed exactly once.
func FuzzChain(f *testing.F) {
	for _, tc := range chainCases {
		f.Add(uint8(4), encodeTable(tc.table), encodeHeads(0), uint16(1), encodeTable(tc.indirect))
	}
	f.Add(uint8(4), encodeTable(chainCases[0].table), encodeHeads(0), uint16(17), []byte(nil))
	f.Add(uint8(4), encodeTable(chainCases[0].table), encodeHeads(0, 0), uint16(2), []byte(nil))
	f.Add(uint8(4), encodeTable(chainCases[0].table), encodeHeads(16), uint16(1), []byte(nil))
	f.Add(uint8(0), encodeTable(chainCases[0].table), encodeHeads(0), uint16(1), []byte(nil))
	f.Add(uint8(8), encodeTable(fullTable(256, true)), encodeHeads(0, 1, 2), uint16(3), []byte(nil))

	f.Fuzz(func(t *testing.T, sizeLog uint8, table, avail []byte, availIdx uint16, indirect []byte) {
		size := uint16(1) << (sizeLog % 9)
		d := virtiotest.NewGuest(t, 1<<16, size)
		copy(d.Bytes(0, 16*int(size)), table)
		copy(d.Bytes(indirectAt, 0x8000), indirect)
		var heads []uint16
		for i := 0; i+1 < len(avail) && len(heads) < int(size); i += 2 {
			heads = append(heads, binary.LittleEndian.Uint16(avail[i:]))
		}
		d.Publish(heads...)
		d.SetAvailIdx(availIdx)
		q := d.Queue(true)

		seen := map[uint16]bool{}
		var popped []uint16
		for range int(size) + 1 {
			var c virtio.Chain
			ok, err := q.Pop(&c)
			if err != nil || !ok {
				break
			}
			if seen[c.Head()] {
				t.Fatalf("head %d popped twice", c.Head())
			}
			seen[c.Head()] = true
			popped = append(popped, c.Head())
			n := 0
			for {
				_, ok, err := c.Next()
				if err != nil || !ok {
					break
				}
				if n++; n > int(size)+virtio.MaxQueueSize {
					t.Fatalf("chain of head %d does not end", c.Head())
				}
			}
			if c.Bytes() > 1<<32 {
				t.Fatalf("chain of head %d has %d bytes", c.Head(), c.Bytes())
			}
		}
		for _, h := range popped {
			if err := q.PushUsed(h, 0, nil); err != nil {
				t.Fatalf("PushUsed(%d): %v", h, err)
			}
		}
		q.PublishUsed()
		if used := d.Used(); len(used) != len(popped) {
			t.Fatalf("%d used elements for %d popped chains", len(used), len(popped))
		}
	})
}

// heapStart is where virtiotest puts the heap of a queue of testQueueSize.
const heapStart = virtio.GuestAddr(0x2000)

// parseSeed returns the descriptor table and heap of a parse table case.
func parseSeed(t testing.TB, tc parseCase) (table, heap []byte) {
	if got := virtiotest.NewGuest(t, 1<<16, testQueueSize).Alloc(0); got != heapStart {
		t.Fatalf("heap starts at %#x, want %#x", uint64(got), uint64(heapStart))
	}
	d := buildParseCase(t, tc)
	end := d.Alloc(0)
	return append([]byte(nil), d.Bytes(0, 16*testQueueSize)...), append([]byte(nil), d.Bytes(heapStart, int(end-heapStart))...)
}

// FuzzParseRequest parses a request whose descriptor table and buffers are
// fuzz bytes. Invariants: no panic; an accepted request has a status byte,
// data views adding up to DataLen, and a range inside the disk; a refused
// one with a status byte maps to IOERR or UNSUPP.
func FuzzParseRequest(f *testing.F) {
	for _, tc := range parseCases {
		table, heap := parseSeed(f, tc)
		f.Add(table, heap, tc.ss == 4096)
	}
	f.Fuzz(func(t *testing.T, table, heap []byte, big bool) {
		ss := 512
		if big {
			ss = 4096
		}
		d := virtiotest.NewGuest(t, 1<<16, testQueueSize)
		copy(d.Bytes(0, 16*testQueueSize), table)
		copy(d.Bytes(heapStart, 0x10000-int(heapStart)), heap)
		d.Publish(0)
		var r virtio.Request
		err := parseOne(t, d, ss, &r)
		if err != nil {
			if r.HasStatus() {
				if s := virtio.BlkStatus(err); s != virtio.BlkSIOErr && s != virtio.BlkSUnsupp {
					t.Fatalf("refused request maps to status %d", s)
				}
			}
			return
		}
		if !r.HasStatus() {
			t.Fatal("accepted request without status byte")
		}
		var n uint64
		for _, b := range r.Data() {
			n += uint64(len(b))
		}
		if n != r.DataLen {
			t.Fatalf("data views hold %d bytes, DataLen %d", n, r.DataLen)
		}
		switch r.Type {
		case virtio.BlkTIn, virtio.BlkTOut:
			if r.DataLen%uint64(ss) != 0 || r.Sector+r.DataLen/512 > testCapacity || r.Sector > testCapacity {
				t.Fatalf("accepted sector %d, %d bytes", r.Sector, r.DataLen)
			}
		case virtio.BlkTFlush:
			if r.DataLen != 0 {
				t.Fatalf("FLUSH with %d data bytes", r.DataLen)
			}
		case virtio.BlkTGetID:
			if r.DataLen != virtio.BlkIDBytes {
				t.Fatalf("GET_ID with %d data bytes", r.DataLen)
			}
		case virtio.BlkTDiscard, virtio.BlkTWriteZeroes:
			checkSegments(t, &r, ss)
		default:
			t.Fatalf("accepted type %d", r.Type)
		}
	})
}

// checkSegments checks the invariants of an accepted DISCARD or
// WRITE_ZEROES request.
func checkSegments(t *testing.T, r *virtio.Request, ss int) {
	segs := r.Segments()
	if len(segs) == 0 || len(segs) > int(testZero.MaxSegments) || r.DataLen != 0 {
		t.Fatalf("accepted %d segments, %d data bytes", len(segs), r.DataLen)
	}
	for _, s := range segs {
		per := uint64(ss / 512)
		end := s.Sector + uint64(s.Sectors)
		if s.Sectors > testZero.MaxSectors || end < s.Sector || end > testCapacity || s.Sector%per != 0 || uint64(s.Sectors)%per != 0 {
			t.Fatalf("accepted segment %+v", s)
		}
		if s.Flags&^virtio.BlkWriteZeroesFlagUnmap != 0 || r.Type == virtio.BlkTDiscard && s.Flags != 0 {
			t.Fatalf("accepted flags %#x on type %d", s.Flags, r.Type)
		}
	}
}
