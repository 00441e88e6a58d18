package main

import (
	"bytes"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

func TestParseSize(t *testing.T) {
	ok := []struct {
		in   string
		want uint64
	}{
		{"0", 0},
		{"512", 512},
		{"4096B", 4096},
		{"64K", 64 << 10},
		{"64k", 64 << 10},
		{"512M", 512 << 20},
		{"1G", 1 << 30},
		{"1GiB", 1 << 30},
		{"2gb", 2 << 30},
		{"3T", 3 << 40},
		{" 7M ", 7 << 20},
		{"16777215T", 16777215 << 40},
	}
	for _, tc := range ok {
		got, err := parseSize(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "K", "-1", "+1", "1.5G", "1KK", "1Ki", "1X", "1 G", "16777216T", "99999999999999999999", "0x10"} {
		if got, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) = %d, want an error", in, got)
		}
	}
}

func TestHumanBytes(t *testing.T) {
	for _, tc := range []struct {
		in   uint64
		want string
	}{
		{0, "0 B"}, {1023, "1023 B"}, {32768, "32 KiB"}, {3 << 29, "1.5 GiB"}, {1 << 40, "1 TiB"},
	} {
		if got := humanBytes(tc.in); got != tc.want {
			t.Errorf("humanBytes(%d) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestBadSectorSpans(t *testing.T) {
	var b badSectors
	// Chunks finish out of order; spans that touch are joined.
	b.add(2048, 2)
	b.add(1, 1)
	b.add(2, 1)
	b.add(700, 1)
	b.add(2047, 1)
	b.add(3, 1)
	if got, want := formatSpans(b.merged()), "1-3,700,2047-2049"; got != want {
		t.Errorf("spans %q, want %q", got, want)
	}
	if got := b.count(); got != 7 {
		t.Errorf("count %d, want 7", got)
	}
	var w, hint bytes.Buffer
	err := b.report(&w, "", &hint, 4096)
	if err == nil || err.Error() != "7 of 4096 sectors fail authentication" {
		t.Errorf("report error %v", err)
	}
	if w.String() != "bad sectors: 1-3,700,2047-2049\n" || hint.Len() != 0 {
		t.Errorf("report wrote %q and hint %q", w.String(), hint.String())
	}
	var none badSectors
	if err := none.report(&w, "", &hint, 1); err != nil {
		t.Errorf("report of no bad sectors: %v", err)
	}
}

func TestProgress(t *testing.T) {
	var buf bytes.Buffer
	start := time.Unix(1000, 0)
	p := &progress{w: &buf, label: "dec", total: 100e6, start: start}
	p.add(10e6)
	p.tick(start.Add(500 * time.Millisecond))
	if buf.Len() != 0 {
		t.Fatalf("progress shown for a short run: %q", buf.String())
	}
	p.tick(start.Add(2 * time.Second))
	if got, want := buf.String(), "\rdec:  10.0%      5.0 MB/s  ETA 0:18\x1b[K"; got != want {
		t.Fatalf("progress line %q, want %q", got, want)
	}
	buf.Reset()
	p.add(40e6)
	p.tick(start.Add(2*time.Second + 100*time.Millisecond))
	if buf.Len() != 0 {
		t.Fatalf("progress redrawn after 100ms: %q", buf.String())
	}
	p.tick(start.Add(5 * time.Second))
	if got, want := buf.String(), "\rdec:  50.0%     10.0 MB/s  ETA 0:05\x1b[K"; got != want {
		t.Fatalf("progress line %q, want %q", got, want)
	}
	buf.Reset()
	p.add(50e6)
	p.finish(start.Add(3723 * time.Second))
	if got, want := buf.String(), "\rdec: 100.0%      0.0 MB/s  in 1:02:03\x1b[K\n"; got != want {
		t.Fatalf("final line %q, want %q", got, want)
	}

	// Quiet when stderr is not a terminal, and after a short run.
	q := newProgress(&env{stderr: &buf}, "enc", 1)
	if q.w != nil {
		t.Error("progress enabled on a non-terminal")
	}
	buf.Reset()
	short := &progress{w: &buf, label: "enc", total: 1, start: start}
	short.finish(start.Add(time.Second))
	if buf.Len() != 0 {
		t.Errorf("final line after a run that showed nothing: %q", buf.String())
	}
}

func TestForChunks(t *testing.T) {
	const sectorSize = 4096
	per := uint64(chunkBytes / sectorSize)
	total := 5*per + 3
	seen := make([]atomic.Int32, total)
	quiet := &progress{}
	err := forChunks(total, sectorSize, quiet, func(start uint64, buf []byte) error {
		if len(buf)%sectorSize != 0 || start%per != 0 {
			return fmt.Errorf("chunk at %d of %d bytes", start, len(buf))
		}
		for i := range uint64(len(buf) / sectorSize) {
			seen[start+i].Add(1)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range seen {
		if n := seen[i].Load(); n != 1 {
			t.Fatalf("sector %d handled %d times, want once", i, n)
		}
	}
	if got := quiet.done.Load(); got != total*sectorSize {
		t.Errorf("progress counted %d bytes, want %d", got, total*sectorSize)
	}

	boom := errors.New("boom")
	var calls atomic.Int32
	err = forChunks(1000*per, sectorSize, &progress{}, func(start uint64, buf []byte) error {
		calls.Add(1)
		if start == 2*per {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) {
		t.Errorf("got %v, want the chunk's error", err)
	}
	if n := calls.Load(); n >= 1000 {
		t.Errorf("%d chunks processed after an error, want the run to stop", n)
	}
}
