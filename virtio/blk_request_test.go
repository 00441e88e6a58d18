package virtio_test

import (
	"errors"
	"math"
	"testing"

	"github.com/ccmblk/ccmblk/virtio"
	"github.com/ccmblk/ccmblk/virtio/virtiotest"
)

// testCapacity, testMaxDescs and testZero are the limits of the parse
// tests.
const (
	testCapacity = 2048
	testMaxDescs = 8
)

var testZero = virtio.ZeroLimits{MaxSectors: 64, MaxSegments: 4}

type seg = virtiotest.Seg

func hdr(d *virtiotest.Driver, typ uint32, sector uint64) seg {
	return seg{Addr: d.BlkHeader(typ, sector), Len: virtio.BlkHeaderSize}
}

func buf(d *virtiotest.Driver, n int, write bool) seg {
	return seg{Addr: d.Alloc(n), Len: uint32(n), Write: write}
}

func status(d *virtiotest.Driver) seg {
	return seg{Addr: d.BlkStatusByte(), Len: 1, Write: true}
}

// noStatus marks cases completed without a status byte (used length 0).
const noStatus = -1

type parseCase struct {
	name       string
	ss         int // disk sector size; 0 means 512
	indirect   bool
	build      func(d *virtiotest.Driver) []seg
	wantErr    error
	wantStatus int // BlkS* or noStatus
	wantType   uint32
	wantLen    uint64 // DataLen of accepted requests
}

func simple(typ uint32, sector uint64, n int, write bool) func(d *virtiotest.Driver) []seg {
	return func(d *virtiotest.Driver) []seg {
		s := []seg{hdr(d, typ, sector)}
		if n > 0 {
			s = append(s, buf(d, n, write))
		}
		return append(s, status(d))
	}
}

var parseCases = []parseCase{
	// Accepted: every type in its direction, in the layouts the spec allows.
	{name: "IN", build: simple(virtio.BlkTIn, 8, 4096, true), wantType: virtio.BlkTIn, wantLen: 4096},
	{name: "OUT", build: simple(virtio.BlkTOut, 8, 1024, false), wantType: virtio.BlkTOut, wantLen: 1024},
	{name: "FLUSH", build: simple(virtio.BlkTFlush, 0, 0, false), wantType: virtio.BlkTFlush},
	{name: "FLUSH with sector", build: simple(virtio.BlkTFlush, 99, 0, false), wantType: virtio.BlkTFlush},
	{name: "GET_ID", build: simple(virtio.BlkTGetID, 0, virtio.BlkIDBytes, true), wantType: virtio.BlkTGetID, wantLen: virtio.BlkIDBytes},
	{name: "GET_ID long buffer", build: simple(virtio.BlkTGetID, 0, 512, true), wantType: virtio.BlkTGetID, wantLen: virtio.BlkIDBytes},
	{name: "IN indirect", indirect: true, build: simple(virtio.BlkTIn, 0, 512, true), wantType: virtio.BlkTIn, wantLen: 512},
	{name: "IN empty", build: simple(virtio.BlkTIn, 0, 0, true), wantType: virtio.BlkTIn},
	{name: "IN last sector", build: simple(virtio.BlkTIn, testCapacity-1, 512, true), wantType: virtio.BlkTIn, wantLen: 512},
	{name: "IN 4096 disk", ss: 4096, build: simple(virtio.BlkTIn, 16, 8192, true), wantType: virtio.BlkTIn, wantLen: 8192},
	{name: "header split", build: func(d *virtiotest.Driver) []seg {
		h := hdr(d, virtio.BlkTOut, 2)
		return []seg{{Addr: h.Addr, Len: 3}, {Addr: h.Addr + 3, Len: 13}, buf(d, 512, false), status(d)}
	}, wantType: virtio.BlkTOut, wantLen: 512},
	{name: "header and data share", build: func(d *virtiotest.Driver) []seg {
		b := buf(d, 16+1024, false)
		h := hdr(d, virtio.BlkTOut, 4)
		copy(d.Bytes(b.Addr, 16), d.Bytes(h.Addr, 16))
		return []seg{b, status(d)}
	}, wantType: virtio.BlkTOut, wantLen: 1024},
	{name: "data and status share", build: func(d *virtiotest.Driver) []seg {
		return []seg{hdr(d, virtio.BlkTIn, 0), buf(d, 512, true), buf(d, 513, true)}
	}, wantType: virtio.BlkTIn, wantLen: 1024},
	{name: "data in pieces", build: func(d *virtiotest.Driver) []seg {
		return []seg{hdr(d, virtio.BlkTIn, 0), buf(d, 100, true), buf(d, 700, true), buf(d, 224, true), status(d)}
	}, wantType: virtio.BlkTIn, wantLen: 1024},
	{name: "WRITE_ZEROES", build: segments(virtio.BlkTWriteZeroes, sg(0, 64, 0)), wantType: virtio.BlkTWriteZeroes},
	{name: "WRITE_ZEROES unmap", build: segments(virtio.BlkTWriteZeroes, sg(testCapacity-64, 64, 1)), wantType: virtio.BlkTWriteZeroes},
	{name: "DISCARD most segments", build: segments(virtio.BlkTDiscard, sg(0, 8, 0), sg(100, 1, 0), sg(7, 0, 0), sg(testCapacity-1, 1, 0)), wantType: virtio.BlkTDiscard},
	{name: "DISCARD 4096 disk", ss: 4096, build: segments(virtio.BlkTDiscard, sg(8, 16, 0)), wantType: virtio.BlkTDiscard},
	{name: "segments split across descriptors", build: func(d *virtiotest.Driver) []seg {
		a, n := d.BlkSegments(sg(1, 2, 1), sg(3, 4, 0))
		return []seg{hdr(d, virtio.BlkTWriteZeroes, 0), {Addr: a, Len: 5}, {Addr: a + 5, Len: uint32(n - 5)}, status(d)}
	}, wantType: virtio.BlkTWriteZeroes},

	// Refused with a status byte.
	{name: "SCSI type", build: simple(2, 0, 0, false), wantErr: virtio.ErrUnsupported, wantStatus: int(virtio.BlkSUnsupp)},
	{name: "unknown type with data", build: simple(0xffffffff, 0, 512, true), wantErr: virtio.ErrUnsupported, wantStatus: int(virtio.BlkSUnsupp)},
	{name: "IN with readable data", build: simple(virtio.BlkTIn, 0, 512, false), wantErr: virtio.ErrDataDirection, wantStatus: int(virtio.BlkSIOErr)},
	{name: "OUT with writable data", build: simple(virtio.BlkTOut, 0, 512, true), wantErr: virtio.ErrDataDirection, wantStatus: int(virtio.BlkSIOErr)},
	{name: "FLUSH with readable data", build: simple(virtio.BlkTFlush, 0, 512, false), wantErr: virtio.ErrDataDirection, wantStatus: int(virtio.BlkSIOErr)},
	{name: "FLUSH with writable data", build: simple(virtio.BlkTFlush, 0, 512, true), wantErr: virtio.ErrDataDirection, wantStatus: int(virtio.BlkSIOErr)},
	{name: "GET_ID short", build: simple(virtio.BlkTGetID, 0, virtio.BlkIDBytes-1, true), wantErr: virtio.ErrDataLen, wantStatus: int(virtio.BlkSIOErr)},
	{name: "GET_ID readable", build: simple(virtio.BlkTGetID, 0, virtio.BlkIDBytes, false), wantErr: virtio.ErrDataDirection, wantStatus: int(virtio.BlkSIOErr)},
	{name: "WRITE_ZEROES unknown flag", build: segments(virtio.BlkTWriteZeroes, sg(0, 1, 2)), wantErr: virtio.ErrUnsupportedSegment, wantStatus: int(virtio.BlkSUnsupp)},
	{name: "WRITE_ZEROES high flag", build: segments(virtio.BlkTWriteZeroes, sg(0, 1, 0), sg(0, 1, 1<<31|1)), wantErr: virtio.ErrUnsupportedSegment, wantStatus: int(virtio.BlkSUnsupp)},
	{name: "DISCARD with unmap", build: segments(virtio.BlkTDiscard, sg(0, 1, 1)), wantErr: virtio.ErrUnsupportedSegment, wantStatus: int(virtio.BlkSUnsupp)},
	{name: "DISCARD too many segments", build: segments(virtio.BlkTDiscard, sg(0, 1, 0), sg(1, 1, 0), sg(2, 1, 0), sg(3, 1, 0), sg(4, 1, 0)), wantErr: virtio.ErrUnsupportedSegment, wantStatus: int(virtio.BlkSUnsupp)},
	{name: "DISCARD no segments", build: simple(virtio.BlkTDiscard, 0, 0, false), wantErr: virtio.ErrDataLen, wantStatus: int(virtio.BlkSIOErr)},
	{name: "WRITE_ZEROES short segment", build: simple(virtio.BlkTWriteZeroes, 0, 15, false), wantErr: virtio.ErrDataLen, wantStatus: int(virtio.BlkSIOErr)},
	{name: "WRITE_ZEROES partial second segment", build: simple(virtio.BlkTWriteZeroes, 0, 17, false), wantErr: virtio.ErrDataLen, wantStatus: int(virtio.BlkSIOErr)},
	{name: "WRITE_ZEROES writable segments", build: simple(virtio.BlkTWriteZeroes, 0, 16, true), wantErr: virtio.ErrDataDirection, wantStatus: int(virtio.BlkSIOErr)},
	{name: "WRITE_ZEROES segment too large", build: segments(virtio.BlkTWriteZeroes, sg(0, 65, 1)), wantErr: virtio.ErrSegmentSize, wantStatus: int(virtio.BlkSIOErr)},
	{name: "DISCARD past end", build: segments(virtio.BlkTDiscard, sg(testCapacity-1, 2, 0)), wantErr: virtio.ErrOutOfRange, wantStatus: int(virtio.BlkSIOErr)},
	{name: "DISCARD sector wraps", build: segments(virtio.BlkTDiscard, sg(math.MaxUint64-1, 8, 0)), wantErr: virtio.ErrOutOfRange, wantStatus: int(virtio.BlkSIOErr)},
	{name: "WRITE_ZEROES bad second segment", build: segments(virtio.BlkTWriteZeroes, sg(0, 8, 0), sg(testCapacity, 1, 0)), wantErr: virtio.ErrOutOfRange, wantStatus: int(virtio.BlkSIOErr)},
	{name: "4096 disk unaligned segment sector", ss: 4096, build: segments(virtio.BlkTDiscard, sg(4, 8, 0)), wantErr: virtio.ErrUnaligned, wantStatus: int(virtio.BlkSIOErr)},
	{name: "4096 disk unaligned segment length", ss: 4096, build: segments(virtio.BlkTWriteZeroes, sg(8, 12, 0)), wantErr: virtio.ErrUnaligned, wantStatus: int(virtio.BlkSIOErr)},
	{name: "header short", build: func(d *virtiotest.Driver) []seg {
		return []seg{{Addr: hdr(d, virtio.BlkTIn, 0).Addr, Len: 8}, buf(d, 512, true), status(d)}
	}, wantErr: virtio.ErrShortHeader, wantStatus: int(virtio.BlkSIOErr)},
	{name: "IN partial sector", build: simple(virtio.BlkTIn, 0, 100, true), wantErr: virtio.ErrDataLen, wantStatus: int(virtio.BlkSIOErr)},
	{name: "OUT partial sector", build: simple(virtio.BlkTOut, 0, 513, false), wantErr: virtio.ErrDataLen, wantStatus: int(virtio.BlkSIOErr)},
	{name: "IN past end", build: simple(virtio.BlkTIn, testCapacity, 512, true), wantErr: virtio.ErrOutOfRange, wantStatus: int(virtio.BlkSIOErr)},
	{name: "OUT straddles end", build: simple(virtio.BlkTOut, testCapacity-1, 1024, false), wantErr: virtio.ErrOutOfRange, wantStatus: int(virtio.BlkSIOErr)},
	{name: "IN sector MaxUint64", build: simple(virtio.BlkTIn, math.MaxUint64, 512, true), wantErr: virtio.ErrOutOfRange, wantStatus: int(virtio.BlkSIOErr)},
	{name: "OUT sector wraps", build: simple(virtio.BlkTOut, math.MaxUint64-1, 2048, false), wantErr: virtio.ErrOutOfRange, wantStatus: int(virtio.BlkSIOErr)},
	{name: "4096 disk unaligned sector", ss: 4096, build: simple(virtio.BlkTIn, 1, 4096, true), wantErr: virtio.ErrUnaligned, wantStatus: int(virtio.BlkSIOErr)},
	{name: "4096 disk partial sector", ss: 4096, build: simple(virtio.BlkTOut, 8, 512, false), wantErr: virtio.ErrUnaligned, wantStatus: int(virtio.BlkSIOErr)},
	{name: "data outside memory", build: func(d *virtiotest.Driver) []seg {
		return []seg{hdr(d, virtio.BlkTIn, 0), {Addr: 1 << 40, Len: 512, Write: true}, status(d)}
	}, wantErr: virtio.ErrNotInMemory, wantStatus: int(virtio.BlkSIOErr)},
	{name: "header outside memory", build: func(d *virtiotest.Driver) []seg {
		return []seg{{Addr: 1 << 40, Len: 16}, status(d)}
	}, wantErr: virtio.ErrNotInMemory, wantStatus: int(virtio.BlkSIOErr)},

	// Refused without a status byte: used length 0.
	{name: "status read-only", build: func(d *virtiotest.Driver) []seg {
		s := status(d)
		s.Write = false
		return []seg{hdr(d, virtio.BlkTFlush, 0), s}
	}, wantErr: virtio.ErrNoStatus, wantStatus: noStatus},
	{name: "status zero-length", build: func(d *virtiotest.Driver) []seg {
		s := status(d)
		s.Len = 0
		return []seg{hdr(d, virtio.BlkTFlush, 0), s}
	}, wantErr: virtio.ErrZeroLen, wantStatus: noStatus},
	{name: "status outside memory", build: func(d *virtiotest.Driver) []seg {
		return []seg{hdr(d, virtio.BlkTFlush, 0), {Addr: 1 << 40, Len: 1, Write: true}}
	}, wantErr: virtio.ErrNoStatus, wantStatus: noStatus},
	{name: "status address wraps", build: func(d *virtiotest.Driver) []seg {
		return []seg{hdr(d, virtio.BlkTFlush, 0), {Addr: math.MaxUint64, Len: 2, Write: true}}
	}, wantErr: virtio.ErrNoStatus, wantStatus: noStatus},
	{name: "header only", build: func(d *virtiotest.Driver) []seg {
		return []seg{hdr(d, virtio.BlkTIn, 0)}
	}, wantErr: virtio.ErrNoStatus, wantStatus: noStatus},
	{name: "too many descriptors", indirect: true, build: func(d *virtiotest.Driver) []seg {
		s := []seg{hdr(d, virtio.BlkTIn, 0)}
		for range testMaxDescs - 1 {
			s = append(s, buf(d, 512, true))
		}
		return append(s, status(d))
	}, wantErr: virtio.ErrTooManyDescs, wantStatus: noStatus},
	{name: "most descriptors", indirect: true, build: func(d *virtiotest.Driver) []seg {
		s := []seg{hdr(d, virtio.BlkTIn, 0)}
		for range testMaxDescs - 2 {
			s = append(s, buf(d, 512, true))
		}
		return append(s, status(d))
	}, wantType: virtio.BlkTIn, wantLen: 512 * (testMaxDescs - 2)},
	{name: "readable after status", build: func(d *virtiotest.Driver) []seg {
		return []seg{hdr(d, virtio.BlkTIn, 0), status(d), buf(d, 512, false)}
	}, wantErr: virtio.ErrDescOrder, wantStatus: noStatus},
}

// sg is one DISCARD or WRITE_ZEROES segment.
func sg(sector uint64, n, flags uint32) virtio.Segment {
	return virtio.Segment{Sector: sector, Sectors: n, Flags: flags}
}

// segments builds a DISCARD or WRITE_ZEROES request as Linux does.
func segments(typ uint32, segs ...virtio.Segment) func(d *virtiotest.Driver) []seg {
	return func(d *virtiotest.Driver) []seg {
		a, n := d.BlkSegments(segs...)
		return []seg{hdr(d, typ, 0), {Addr: a, Len: uint32(n)}, status(d)}
	}
}

// buildParseCase lays tc out in a fresh driver and publishes it.
func buildParseCase(t testing.TB, tc parseCase) *virtiotest.Driver {
	d := virtiotest.NewGuest(t, 1<<16, testQueueSize)
	segs := tc.build(d)
	var head uint16
	if tc.indirect {
		head = d.AddIndirect(segs...)
	} else {
		head = d.AddChain(segs...)
	}
	d.Publish(head)
	return d
}

func parseOne(t testing.TB, d *virtiotest.Driver, ss int, r *virtio.Request) error {
	q := d.Queue(false)
	var c virtio.Chain
	if ok, err := q.Pop(&c); !ok || err != nil {
		t.Fatalf("Pop: %v, %v", ok, err)
	}
	if ss == 0 {
		ss = 512
	}
	return virtio.ParseRequest(&c, virtio.BlkLimits{Capacity: testCapacity, SectorSize: ss, MaxDescs: testMaxDescs, Discard: testZero, WriteZeroes: testZero}, r)
}

func TestParseRequest(t *testing.T) {
	for _, tc := range parseCases {
		t.Run(tc.name, func(t *testing.T) {
			d := buildParseCase(t, tc)
			var r virtio.Request
			err := parseOne(t, d, tc.ss, &r)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("ParseRequest: got %v, want %v", err, tc.wantErr)
			}
			if tc.wantStatus == noStatus {
				if r.HasStatus() {
					t.Fatal("request has a status byte, want none")
				}
				return
			}
			if !r.HasStatus() {
				t.Fatal("request has no status byte")
			}
			if err != nil {
				if got := virtio.BlkStatus(err); int(got) != tc.wantStatus {
					t.Fatalf("BlkStatus: got %d, want %d", got, tc.wantStatus)
				}
				return
			}
			if r.Type != tc.wantType || r.DataLen != tc.wantLen {
				t.Fatalf("got type %d, %d data bytes; want %d, %d", r.Type, r.DataLen, tc.wantType, tc.wantLen)
			}
			var n uint64
			for _, b := range r.Data() {
				n += uint64(len(b))
			}
			if n != r.DataLen {
				t.Fatalf("data views hold %d bytes, DataLen %d", n, r.DataLen)
			}
		})
	}
}

// TestParseRequestReuse checks that a Request's buffers are recycled.
func TestParseRequestReuse(t *testing.T) {
	d := buildParseCase(t, parseCases[0])
	q := d.Queue(false)
	var r virtio.Request
	var c virtio.Chain
	if _, err := q.Pop(&c); err != nil {
		t.Fatal(err)
	}
	if err := virtio.ParseRequest(&c, virtio.BlkLimits{Capacity: testCapacity, SectorSize: 512}, &r); err != nil {
		t.Fatal(err)
	}
	if err := q.PushUsed(c.Head(), 0, nil); err != nil {
		t.Fatal(err)
	}
	q.PublishUsed()
	d.Used()
	h := d.AddChain(simple(virtio.BlkTIn, 0, 512, true)(d)...)
	d.Publish(h)
	if _, err := q.Pop(&c); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(10, func() {
		c2 := c
		if err := virtio.ParseRequest(&c2, virtio.BlkLimits{Capacity: testCapacity, SectorSize: 512}, &r); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("ParseRequest allocates %v times per request", allocs)
	}
}

// TestParseSegments checks what ParseRequest copies out of the segments.
func TestParseSegments(t *testing.T) {
	want := []virtio.Segment{sg(1, 2, 1), sg(3, 4, 0)}
	d := buildParseCase(t, parseCase{build: segments(virtio.BlkTWriteZeroes, want...)})
	var r virtio.Request
	if err := parseOne(t, d, 512, &r); err != nil {
		t.Fatal(err)
	}
	if got := r.Segments(); len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("Segments = %+v, want %+v", got, want)
	}
}

// TestParseSegmentsNotOffered: without the feature, the types are
// unsupported.
func TestParseSegmentsNotOffered(t *testing.T) {
	for _, typ := range []uint32{virtio.BlkTDiscard, virtio.BlkTWriteZeroes} {
		d := buildParseCase(t, parseCase{build: segments(typ, sg(0, 1, 0))})
		var c virtio.Chain
		if ok, err := d.Queue(false).Pop(&c); !ok || err != nil {
			t.Fatal(ok, err)
		}
		var r virtio.Request
		err := virtio.ParseRequest(&c, virtio.BlkLimits{Capacity: testCapacity, SectorSize: 512}, &r)
		if !errors.Is(err, virtio.ErrUnsupported) || virtio.BlkStatus(err) != virtio.BlkSUnsupp {
			t.Errorf("type %d not offered: %v, want UNSUPP", typ, err)
		}
	}
}
