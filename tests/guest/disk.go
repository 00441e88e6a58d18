package main

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// disk is the guest's view of the virtio-blk device under test.
type disk struct {
	name   string // e.g. vda
	dev    string // /dev/vda
	size   uint64 // bytes
	sector uint64 // logical block size in bytes
}

// waitDisk waits until the block device name exists with a non-zero size.
func waitDisk(name string, timeout time.Duration) (*disk, error) {
	deadline := time.Now().Add(timeout)
	for {
		d, err := probeDisk(name)
		if err == nil {
			return d, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("disk %s did not appear: %v", name, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// probeDisk reads the disk's geometry from sysfs.
func probeDisk(name string) (*disk, error) {
	d := &disk{name: name, dev: "/dev/" + name}
	n, err := d.sysNum("size")
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, errors.New("size is 0")
	}
	d.size = n * 512
	if d.sector, err = d.sysNum("queue/logical_block_size"); err != nil {
		return nil, err
	}
	if _, err := os.Stat(d.dev); err != nil {
		return nil, err
	}
	return d, nil
}

// sys reads a sysfs attribute of the disk.
func (d *disk) sys(attr string) (string, error) {
	b, err := os.ReadFile(filepath.Join("/sys/block", d.name, attr))
	return strings.TrimSpace(string(b)), err
}

// sysNum reads a numeric sysfs attribute of the disk.
func (d *disk) sysNum(attr string) (uint64, error) {
	s, err := d.sys(attr)
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(s, 10, 64)
}

// readOnly returns the kernel's read-only flag of the disk (0 or 1).
func (d *disk) readOnly() (string, error) { return d.sys("ro") }

// setCache sets the virtio-blk cache mode ("writeback" or "writethrough").
func (d *disk) setCache(mode string) error {
	var v string
	switch mode {
	case "writeback":
		v = "write back"
	case "writethrough":
		v = "write through"
	default:
		return fmt.Errorf("unknown cache mode %q", mode)
	}
	path := filepath.Join("/sys/block", d.name, "cache_type")
	if err := os.WriteFile(path, []byte(v), 0); err != nil {
		return fmt.Errorf("set cache mode %s: %v", mode, err)
	}
	return nil
}

// open opens the disk with O_DIRECT, so reads and writes reach the device.
func (d *disk) open(flag int) (*os.File, error) {
	return os.OpenFile(d.dev, flag|unix.O_DIRECT, 0)
}

// alignedBuf returns a page-aligned buffer of n bytes, as O_DIRECT needs.
func alignedBuf(n int) ([]byte, error) {
	return unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
}

// openBuf opens the disk with flag (see open) and maps a buffer of n bytes
// (see alignedBuf) for its transfers; release unmaps the buffer and closes
// the disk.
func (d *disk) openBuf(flag, n int) (f *os.File, buf []byte, release func(), err error) {
	if f, err = d.open(flag); err != nil {
		return nil, nil, nil, err
	}
	if buf, err = alignedBuf(n); err != nil {
		_ = f.Close()
		return nil, nil, nil, err
	}
	return f, buf, func() {
		_ = unix.Munmap(buf)
		_ = f.Close()
	}, nil
}

// hashAll reads the whole disk with O_DIRECT and returns its SHA-256.
func (d *disk) hashAll() (string, error) {
	f, buf, release, err := d.openBuf(os.O_RDONLY, 1<<20)
	if err != nil {
		return "", err
	}
	defer release()
	h := sha256.New()
	for off := uint64(0); off < d.size; {
		n := min(uint64(len(buf)), d.size-off)
		if err := preadFull(f, buf[:n], off); err != nil {
			return "", err
		}
		h.Write(buf[:n])
		off += n
	}
	return fmt.Sprintf("%x", h.Sum(nil)), nil
}

// preadFull reads exactly len(p) bytes at off.
func preadFull(f *os.File, p []byte, off uint64) error {
	n, err := f.ReadAt(p, int64(off))
	if err == io.EOF && n == len(p) {
		err = nil
	}
	if err != nil {
		return fmt.Errorf("read %d bytes at %d: %w", len(p), off, err)
	}
	return nil
}

// pwriteFull writes p at off.
func pwriteFull(f *os.File, p []byte, off uint64) error {
	if _, err := f.WriteAt(p, int64(off)); err != nil {
		return fmt.Errorf("write %d bytes at %d: %w", len(p), off, err)
	}
	return nil
}

// errnoName names the errno inside err, or returns err's text.
func errnoName(err error) string {
	var errno unix.Errno
	if errors.As(err, &errno) {
		if name := unix.ErrnoName(errno); name != "" {
			return name
		}
	}
	return err.Error()
}
