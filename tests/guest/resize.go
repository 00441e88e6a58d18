package main

import (
	"bytes"
	"fmt"
	"os"
	"time"

	"github.com/ccmblk/ccmblk/tests/pattern"
)

// resizeSeed seeds the pattern the resize action writes into the new last
// sector; the host checks it after decrypting the image.
const resizeSeed = 11

// resize waits, without rebooting or reopening anything, until the disk
// reaches the size given by the want parameter (bytes), as the host grows
// it online; it then checks the size with BLKGETSIZE64, writes the new last
// sector with the pattern of resizeSeed at its offset, reads it back and
// reports the sizes. Before waiting it prints "CCMBLK-READY size=N", the
// host's cue to resize, unless the host had its cue before the driver was
// bound (hold).
func resize(d *disk, p params) ([]string, error) {
	want, err := p.num("want", 0)
	if err != nil {
		return nil, err
	}
	old := d.size
	if _, held := p["hold"]; !held {
		say("CCMBLK-READY action=resize size=%d", old)
	}
	start := time.Now()
	for {
		n, err := d.sysNum("size")
		if err != nil {
			return nil, err
		}
		if n*512 == want {
			d.size = want
			break
		}
		if n*512 > want {
			return nil, fmt.Errorf("disk grew to %d bytes, beyond the %d expected", n*512, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
	waited := time.Since(start)
	f, buf, release, err := d.openBuf(os.O_RDWR, int(d.sector))
	if err != nil {
		return nil, err
	}
	defer release()
	ioctl, err := blkGetSize64(int(f.Fd()))
	if err != nil {
		return nil, fmt.Errorf("BLKGETSIZE64: %v", err)
	}
	if ioctl != want {
		return nil, fmt.Errorf("BLKGETSIZE64 says %d bytes, sysfs %d", ioctl, want)
	}
	last := want - d.sector
	pattern.Fill(buf, resizeSeed, last)
	if err := pwriteFull(f, buf, last); err != nil {
		return nil, fmt.Errorf("write the new last sector: %v", err)
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("fsync: %v", err)
	}
	clear(buf)
	if err := preadFull(f, buf, last); err != nil {
		return nil, fmt.Errorf("read the new last sector: %v", err)
	}
	wantBuf := make([]byte, len(buf))
	pattern.Fill(wantBuf, resizeSeed, last)
	if !bytes.Equal(buf, wantBuf) {
		return nil, fmt.Errorf("the new last sector reads back differently")
	}
	return []string{kv("old", old), kv("new", want), kv("ioctl", ioctl), kv("sector", d.sector),
		kv("waited_ms", waited.Milliseconds())}, nil
}
