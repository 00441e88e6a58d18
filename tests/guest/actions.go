package main

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/ccmblk/ccmblk/tests/pattern"
	"golang.org/x/sys/unix"
)

// readAll reads the whole disk and reports its size, read-only flag and
// SHA-256.
func readAll(d *disk, _ params) ([]string, error) {
	ro, err := d.readOnly()
	if err != nil {
		return nil, err
	}
	sum, err := d.hashAll()
	if err != nil {
		return nil, err
	}
	return []string{kv("size", d.size), kv("sector", d.sector), kv("ro", ro), kv("sha256", sum)}, nil
}

// writeCheck writes the pattern of pattern.WritePlan, flushes, reads every
// extent back and reports the SHA-256 of the whole disk afterwards.
func writeCheck(d *disk, p params) ([]string, error) {
	seed, err := p.num("seed", 1)
	if err != nil {
		return nil, err
	}
	ro, err := d.readOnly()
	if err != nil {
		return nil, err
	}
	plan, err := pattern.WritePlan(d.size, d.sector)
	if err != nil {
		return nil, err
	}
	var biggest uint64
	for _, e := range plan {
		biggest = max(biggest, e.Len)
	}
	f, buf, release, err := d.openBuf(os.O_RDWR, int(biggest))
	if err != nil {
		return nil, err
	}
	defer release()
	want := make([]byte, biggest)
	var done []string
	for _, e := range plan {
		pattern.Fill(buf[:e.Len], seed, e.Off)
		if err := pwriteFull(f, buf[:e.Len], e.Off); err != nil {
			return nil, err
		}
		done = append(done, e.String())
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("fsync: %w", err)
	}
	for _, e := range plan {
		clear(buf)
		if err := preadFull(f, buf[:e.Len], e.Off); err != nil {
			return nil, err
		}
		pattern.Fill(want[:e.Len], seed, e.Off)
		if !bytes.Equal(buf[:e.Len], want[:e.Len]) {
			return nil, fmt.Errorf("read back of extent %v differs from what was written", e)
		}
	}
	sum, err := d.hashAll()
	if err != nil {
		return nil, err
	}
	return []string{kv("size", d.size), kv("sector", d.sector), kv("ro", ro), kv("seed", seed),
		kv("extents", strings.Join(done, ",")), kv("sha256", sum)}, nil
}

// roCheck reports the read-only flag and tries to write the first sector.
// It fails when that write succeeds.
func roCheck(d *disk, _ params) ([]string, error) {
	ro, err := d.readOnly()
	if err != nil {
		return nil, err
	}
	openErr, writeErr := "none", "none"
	f, err := d.open(os.O_RDWR)
	if err != nil {
		openErr = errnoName(err)
	} else {
		buf, err := alignedBuf(int(d.sector))
		if err != nil {
			_ = f.Close()
			return nil, err
		}
		copy(buf, "this write must not reach a read-only disk\n")
		werr := pwriteFull(f, buf, 0)
		if werr == nil {
			werr = f.Sync()
		}
		_ = unix.Munmap(buf)
		_ = f.Close()
		if werr == nil {
			return nil, fmt.Errorf("write to disk with ro=%s succeeded", ro)
		}
		writeErr = errnoName(werr)
	}
	sum, err := d.hashAll()
	if err != nil {
		return nil, err
	}
	return []string{kv("ro", ro), kv("open", openErr), kv("write", writeErr), kv("sha256", sum)}, nil
}

// sectorScan reads every logical block on its own. It reports the blocks
// that fail with EIO and the SHA-256 of the disk with those blocks replaced
// by zeros; any other error fails the scan.
func sectorScan(d *disk, _ params) ([]string, error) {
	f, buf, release, err := d.openBuf(os.O_RDONLY, int(d.sector))
	if err != nil {
		return nil, err
	}
	defer release()
	zero := make([]byte, d.sector)
	h := sha256.New()
	var bad []string
	n := d.size / d.sector
	for i := uint64(0); i < n; i++ {
		err := preadFull(f, buf, i*d.sector)
		switch {
		case err == nil:
			h.Write(buf)
		case errors.Is(err, unix.EIO):
			bad = append(bad, fmt.Sprint(i))
			h.Write(zero)
		default:
			return nil, err
		}
	}
	eio := "none"
	if len(bad) > 0 {
		eio = strings.Join(bad, ",")
	}
	return []string{kv("sector", d.sector), kv("sectors", n), kv("eio", eio),
		kv("sha256", fmt.Sprintf("%x", h.Sum(nil)))}, nil
}

// demo shows what the guest sees: the disk's size and read-only flag, a
// message written to the start of the disk (when writable) and read back,
// and a checksum of the whole disk.
func demo(d *disk, _ params) ([]string, error) {
	ro, err := d.readOnly()
	if err != nil {
		return nil, err
	}
	say("guest: disk /dev/%s: %d bytes (%d MiB), %d-byte sectors, read-only=%s", d.name, d.size, d.size>>20, d.sector, ro)
	msg := pattern.DemoMessage
	if ro == "0" {
		f, buf, release, err := d.openBuf(os.O_RDWR, int(d.sector))
		if err != nil {
			return nil, err
		}
		defer release()
		copy(buf, msg)
		if err := pwriteFull(f, buf, 0); err != nil {
			return nil, err
		}
		if err := f.Sync(); err != nil {
			return nil, err
		}
		say("guest: wrote %d bytes to sector 0 and flushed", len(msg))
		clear(buf)
		if err := preadFull(f, buf, 0); err != nil {
			return nil, err
		}
		got := string(buf[:len(msg)])
		if got != msg {
			return nil, fmt.Errorf("read back %q, wrote %q", got, msg)
		}
		say("guest: read back sector 0: %q", strings.TrimSpace(got))
	} else {
		say("guest: disk is read-only, not writing")
	}
	sum, err := d.hashAll()
	if err != nil {
		return nil, err
	}
	say("guest: sha256 of the whole disk: %s", sum)
	return []string{kv("size", d.size), kv("sector", d.sector), kv("ro", ro), kv("sha256", sum)}, nil
}
