package main

import (
	"errors"
	"fmt"
)

var errRawNoHoles = errors.New("raw: the image can neither punch holes nor zero ranges")

// WriteZeroes makes sectors [start, start+n) read as zeros: a hole (or an
// unmapping zero-out on a block device) with unmap, a zeroed allocated
// range without; where the storage can do neither, zeros are written.
func (d *rawDisk) WriteZeroes(start, n uint64, unmap bool) error {
	off, length, err := d.byteRange(start, n)
	if err != nil {
		return err
	}
	if unmap {
		err = d.holes.Punch(off, length)
	} else {
		err = d.holes.Zero(off, length)
	}
	if err != nil {
		return fmt.Errorf("raw: %w", err)
	}
	return nil
}

// Discard frees sectors [start, start+n): a hole in a file, BLKDISCARD on
// a block device. Storage that cannot discard keeps the data, which
// DISCARD allows.
func (d *rawDisk) Discard(start, n uint64) error {
	off, length, err := d.byteRange(start, n)
	if err != nil {
		return err
	}
	if _, err := d.holes.Discard(off, length); err != nil {
		return fmt.Errorf("raw: %w", err)
	}
	return nil
}

// byteRange checks sectors [start, start+n) of a writable image and
// returns them in bytes.
func (d *rawDisk) byteRange(start, n uint64) (off, length int64, err error) {
	sectors := d.sectors.Load()
	switch {
	case d.readOnly:
		return 0, 0, errRawReadOnly
	case d.holes == nil:
		return 0, 0, errRawNoHoles
	case start > sectors || n > sectors-start:
		return 0, 0, errRawRange
	}
	// The image's size fits an int64, so every range inside it does.
	return int64(start) * int64(d.sectorSize), int64(n) * int64(d.sectorSize), nil
}
