package main

import (
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ccmblk/ccmblk/tests/pattern"
)

// fillGen1 writes generation 1 to every block through buf and flushes.
func fillGen1(f *os.File, buf []byte, blocks uint64) error {
	for b := range blocks {
		pattern.GenBlock(buf[b*pattern.GenBlockSize:], b, 1)
	}
	if err := pwriteFull(f, buf, 0); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fsync: %w", err)
	}
	return nil
}

// readMem proves that what the device writes into guest RAM survives a
// live migration that happens while it writes. It fills the disk with
// generation-1 blocks (pattern.GenBlock; with ccmblk.readonly=1 the host
// has), prints CCMBLK-START, and then,
// for ccmblk.seconds, reads the whole disk with O_DIRECT into buffers it
// first poisons, and checks every block only after the whole disk is
// read: a buffer filled on the migration source and checked on the
// destination holds its block only if the device's writes into it were
// logged and sent again.
func readMem(d *disk, p params) ([]string, error) {
	secs, err := p.num("seconds", 10)
	if err != nil {
		return nil, err
	}
	blocks := d.size / pattern.GenBlockSize
	if blocks == 0 || d.size > 64<<20 {
		return nil, fmt.Errorf("readmem needs a disk of 1 to 64 MiB, not %d bytes", d.size)
	}
	readOnly := p.str("readonly", "0") == "1"
	mode := os.O_RDWR
	if readOnly {
		mode = os.O_RDONLY
	}
	f, err := d.open(mode)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size := int(blocks * pattern.GenBlockSize)
	buf, err := alignedBuf(size)
	if err != nil {
		return nil, err
	}
	defer unix.Munmap(buf)
	if !readOnly {
		if err := fillGen1(f, buf, blocks); err != nil {
			return nil, err
		}
	}
	acked := make([]uint64, blocks)
	for i := range acked {
		acked[i] = 1
	}
	say("CCMBLK-START %s", kv("case", "readmem"))
	passes := 0
	for deadline := time.Now().Add(time.Duration(secs) * time.Second); time.Now().Before(deadline); passes++ {
		for i := range buf {
			buf[i] = 0xa5
		}
		const chunk = 128 << 10
		for off := 0; off < size; off += chunk {
			if err := preadFull(f, buf[off:min(off+chunk, size)], uint64(off)); err != nil {
				return nil, err
			}
		}
		for b := range blocks {
			got, err := pattern.BlockGen(buf[b*pattern.GenBlockSize:], b)
			if err != nil || got != 1 {
				return nil, fmt.Errorf("pass %d: buffer of block %d does not hold what the disk read (generation %d, %v)", passes, b, got, err)
			}
		}
	}
	return []string{kv("blocks", blocks), kv("passes", passes), kv("gens", pattern.GenDigest(acked))}, nil
}
