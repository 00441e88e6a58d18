package virtio_test

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/ccmblk/ccmblk/virtio"
	"github.com/ccmblk/ccmblk/virtio/virtiotest"
)

const (
	fN = virtio.DescFNext
	fW = virtio.DescFWrite
	fI = virtio.DescFIndirect
)

// chainCase is a descriptor table (and optionally an indirect table at
// indirectAt) with the chain to walk starting at head 0.
type chainCase struct {
	name     string
	table    []virtio.Desc
	indirect []virtio.Desc // written at indirectAt
	wantN    int           // descriptors yielded, for good chains
	wantLen  uint64        // bytes yielded, for good chains
	wantErr  error
}

const (
	testQueueSize = 16
	indirectAt    = virtio.GuestAddr(0x8000)
	bufAt         = virtio.GuestAddr(0x9000)
)

var chainCases = []chainCase{
	{name: "single", table: []virtio.Desc{{Addr: bufAt, Len: 10}}, wantN: 1, wantLen: 10},
	{name: "read then write", table: []virtio.Desc{
		{Addr: bufAt, Len: 16, Flags: fN, Next: 5}, {}, {}, {}, {},
		{Addr: bufAt, Len: 512, Flags: fW}, {}, {}}, wantN: 2, wantLen: 528},
	{name: "indirect", table: []virtio.Desc{{Addr: indirectAt, Len: 48, Flags: fI}},
		indirect: []virtio.Desc{{Addr: bufAt, Len: 16, Flags: fN, Next: 1}, {Addr: bufAt, Len: 4096, Flags: fN | fW, Next: 2}, {Addr: bufAt, Len: 1, Flags: fW}}, wantN: 3, wantLen: 4113},
	{name: "direct then indirect", table: []virtio.Desc{{Addr: bufAt, Len: 16, Flags: fN, Next: 1}, {Addr: indirectAt, Len: 16, Flags: fI}},
		indirect: []virtio.Desc{{Addr: bufAt, Len: 1, Flags: fW}}, wantN: 2, wantLen: 17},
	{name: "indirect flagged writable", table: []virtio.Desc{{Addr: indirectAt, Len: 16, Flags: fI | fW}},
		indirect: []virtio.Desc{{Addr: bufAt, Len: 7}}, wantN: 1, wantLen: 7},
	{name: "whole table", table: fullTable(testQueueSize, false), wantN: testQueueSize, wantLen: testQueueSize},
	{name: "exactly 2^32 bytes", table: []virtio.Desc{{Addr: bufAt, Len: 1 << 31, Flags: fN, Next: 1}, {Addr: bufAt, Len: 1 << 31}},
		wantN: 2, wantLen: 1 << 32},

	{name: "loop", table: []virtio.Desc{{Addr: bufAt, Len: 1, Flags: fN, Next: 1}, {Addr: bufAt, Len: 1, Flags: fN, Next: 0}}, wantErr: virtio.ErrChainLoop},
	{name: "self loop", table: []virtio.Desc{{Addr: bufAt, Len: 1, Flags: fN, Next: 0}}, wantErr: virtio.ErrChainLoop},
	{name: "whole table plus one", table: fullTable(testQueueSize, true), wantErr: virtio.ErrChainLoop},
	{name: "next at size", table: []virtio.Desc{{Addr: bufAt, Len: 1, Flags: fN, Next: testQueueSize}}, wantErr: virtio.ErrDescIndex},
	{name: "next max", table: []virtio.Desc{{Addr: bufAt, Len: 1, Flags: fN, Next: 0xffff}}, wantErr: virtio.ErrDescIndex},
	{name: "nested indirect", table: []virtio.Desc{{Addr: indirectAt, Len: 32, Flags: fI}},
		indirect: []virtio.Desc{{Addr: bufAt, Len: 1, Flags: fN, Next: 1}, {Addr: indirectAt, Len: 32, Flags: fI}}, wantErr: virtio.ErrNestedIndirect},
	{name: "indirect len not multiple of 16", table: []virtio.Desc{{Addr: indirectAt, Len: 24, Flags: fI}},
		indirect: []virtio.Desc{{Addr: bufAt, Len: 1}}, wantErr: virtio.ErrBadIndirect},
	{name: "indirect len 0", table: []virtio.Desc{{Addr: indirectAt, Len: 0, Flags: fI}}, wantErr: virtio.ErrBadIndirect},
	{name: "indirect with next", table: []virtio.Desc{{Addr: indirectAt, Len: 16, Flags: fI | fN, Next: 1}, {Addr: bufAt, Len: 1}},
		indirect: []virtio.Desc{{Addr: bufAt, Len: 1}}, wantErr: virtio.ErrBadIndirect},
	{name: "indirect too large", table: []virtio.Desc{{Addr: indirectAt, Len: 16 * (virtio.MaxQueueSize + 1), Flags: fI}}, wantErr: virtio.ErrBadIndirect},
	{name: "indirect outside memory", table: []virtio.Desc{{Addr: 1 << 40, Len: 16, Flags: fI}}, wantErr: virtio.ErrBadIndirect},
	{name: "indirect table wraps", table: []virtio.Desc{{Addr: ^virtio.GuestAddr(0) - 15, Len: 32, Flags: fI}}, wantErr: virtio.ErrBadIndirect},
	{name: "indirect loop", table: []virtio.Desc{{Addr: indirectAt, Len: 32, Flags: fI}},
		indirect: []virtio.Desc{{Addr: bufAt, Len: 1, Flags: fN, Next: 1}, {Addr: bufAt, Len: 1, Flags: fN, Next: 0}}, wantErr: virtio.ErrChainLoop},
	{name: "indirect next beyond table", table: []virtio.Desc{{Addr: indirectAt, Len: 32, Flags: fI}},
		indirect: []virtio.Desc{{Addr: bufAt, Len: 1, Flags: fN, Next: 2}, {Addr: bufAt, Len: 1}}, wantErr: virtio.ErrDescIndex},
	{name: "total above 2^32", table: []virtio.Desc{{Addr: bufAt, Len: 0xffffffff, Flags: fN, Next: 1}, {Addr: bufAt, Len: 2}}, wantErr: virtio.ErrChainTooLong},
	{name: "readable after writable", table: []virtio.Desc{{Addr: bufAt, Len: 1, Flags: fW | fN, Next: 1}, {Addr: bufAt, Len: 1}}, wantErr: virtio.ErrDescOrder},
	{name: "readable after writable across indirect", table: []virtio.Desc{{Addr: bufAt, Len: 1, Flags: fW | fN, Next: 1}, {Addr: indirectAt, Len: 16, Flags: fI}},
		indirect: []virtio.Desc{{Addr: bufAt, Len: 1}}, wantErr: virtio.ErrDescOrder},
	{name: "zero length", table: []virtio.Desc{{Addr: bufAt, Len: 16, Flags: fN, Next: 1}, {Addr: bufAt, Len: 0, Flags: fW}}, wantErr: virtio.ErrZeroLen},
}

// fullTable returns a chain through every descriptor; with loop the last
// one points back to the first.
func fullTable(n int, loop bool) []virtio.Desc {
	t := make([]virtio.Desc, n)
	for i := range t {
		t[i] = virtio.Desc{Addr: bufAt, Len: 1, Flags: fN, Next: uint16(i + 1)}
	}
	if loop {
		t[n-1].Next = 0
	} else {
		t[n-1].Flags = 0
	}
	return t
}

// setupChain writes tc's tables into a fresh queue, publishes head 0 and
// pops it.
func setupChain(t *testing.T, table, indirect []virtio.Desc) (*virtiotest.Driver, *virtio.Chain) {
	t.Helper()
	d := virtiotest.NewGuest(t, 1<<16, testQueueSize)
	for i, desc := range table {
		d.WriteDesc(uint16(i), desc)
	}
	for i, desc := range indirect {
		desc.Encode(d.Bytes(indirectAt+virtio.GuestAddr(16*i), 16))
	}
	q := d.Queue(false)
	d.Publish(0)
	var c virtio.Chain
	ok, err := q.Pop(&c)
	if !ok || err != nil {
		t.Fatalf("Pop: got %v, %v; want true, nil", ok, err)
	}
	return d, &c
}

// walk drains c and returns what it yielded.
func walk(c *virtio.Chain) ([]virtio.Desc, error) {
	var ds []virtio.Desc
	for {
		d, ok, err := c.Next()
		if err != nil || !ok {
			return ds, err
		}
		ds = append(ds, d)
	}
}

func TestChainShapes(t *testing.T) {
	for _, tc := range chainCases {
		t.Run(tc.name, func(t *testing.T) {
			_, c := setupChain(t, tc.table, tc.indirect)
			ds, err := walk(c)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("walk: got %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				var ce *virtio.ChainError
				if !errors.As(err, &ce) || ce.Head != 0 {
					t.Fatalf("error %v is not a *ChainError for head 0", err)
				}
				// Errors are sticky.
				if _, ok, err2 := c.Next(); ok || err2 == nil {
					t.Fatalf("Next after error: got %v, %v", ok, err2)
				}
				return
			}
			if len(ds) != tc.wantN || c.Bytes() != tc.wantLen {
				t.Fatalf("got %d descriptors, %d bytes; want %d, %d", len(ds), c.Bytes(), tc.wantN, tc.wantLen)
			}
			if _, ok, err := c.Next(); ok || err != nil {
				t.Fatalf("Next after end: got %v, %v", ok, err)
			}
		})
	}
}

// TestIndirectAcrossRegions checks that an indirect table straddling two
// adjacent regions is still read correctly.
func TestIndirectAcrossRegions(t *testing.T) {
	d := virtiotest.NewGuest(t, 1<<16, testQueueSize)
	lo := d.Bytes(0, 0x8008)
	hi := d.Bytes(0x8008, 0x1000)
	m, err := virtio.NewMemory([]virtio.Region{virtio.NewRegion(0, lo), virtio.NewRegion(0x8008, hi)})
	if err != nil {
		t.Fatal(err)
	}
	d.WriteDesc(0, virtio.Desc{Addr: indirectAt, Len: 32, Flags: fI})
	virtio.Desc{Addr: bufAt, Len: 3, Flags: fN, Next: 1}.Encode(d.Bytes(indirectAt, 16))
	virtio.Desc{Addr: bufAt, Len: 4, Flags: fW}.Encode(d.Bytes(indirectAt+16, 16))
	q, err := virtio.NewQueue(m, d.Config(false))
	if err != nil {
		t.Fatal(err)
	}
	d.Publish(0)
	var c virtio.Chain
	if ok, err := q.Pop(&c); !ok || err != nil {
		t.Fatalf("Pop: %v, %v", ok, err)
	}
	ds, err := walk(&c)
	if err != nil || len(ds) != 2 || ds[0].Len != 3 || ds[1].Len != 4 {
		t.Fatalf("walk: got %v, %v", ds, err)
	}
}

func TestChainReaderWriter(t *testing.T) {
	d := virtiotest.NewGuest(t, 1<<16, testQueueSize)
	m := d.Memory()
	a, b, w1, w2 := d.Alloc(5), d.Alloc(20), d.Alloc(3), d.Alloc(4)
	copy(d.Bytes(a, 5), "hello")
	copy(d.Bytes(b, 20), ", world! and more...")
	descs := []virtio.Desc{
		{Addr: a, Len: 5, Flags: fN}, {Addr: b, Len: 20, Flags: fN},
		{Addr: w1, Len: 3, Flags: fW | fN}, {Addr: w2, Len: 4, Flags: fW},
	}
	r := virtio.NewChainReader(m, descs)
	if r.Remaining() != 25 {
		t.Fatalf("reader Remaining: got %d, want 25", r.Remaining())
	}
	p := make([]byte, 8)
	if n, err := io.ReadFull(&r, p); n != 8 || err != nil || string(p) != "hello, w" {
		t.Fatalf("ReadFull: got %q, %d, %v", p, n, err)
	}
	views, err := r.Slices(6, nil)
	if err != nil || len(views) != 1 || string(views[0]) != "orld! " {
		t.Fatalf("Slices: got %q, %v", views, err)
	}
	rest, err := io.ReadAll(&r)
	if err != nil || string(rest) != "and more..." {
		t.Fatalf("ReadAll: got %q, %v", rest, err)
	}
	if _, err := r.Slices(1, nil); err == nil {
		t.Fatal("Slices past end succeeded")
	}

	w := virtio.NewChainWriter(m, descs)
	w.Limit(6) // keep the last byte out, like a status byte
	if n, err := w.Write([]byte("abcdefg")); n != 6 || err != io.ErrShortWrite {
		t.Fatalf("Write past limit: got %d, %v", n, err)
	}
	if got := append(d.Bytes(w1, 3), d.Bytes(w2, 4)...); !bytes.Equal(got, []byte("abcdef\x00")) {
		t.Fatalf("written: got %q", got)
	}
	w = virtio.NewChainWriter(m, descs)
	views, err = w.Slices(7, nil)
	if err != nil || len(views) != 2 || len(views[0]) != 3 || len(views[1]) != 4 {
		t.Fatalf("writer Slices: got %d views, %v", len(views), err)
	}
}
