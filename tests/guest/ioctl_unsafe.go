package main

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// blkRange runs a block device ioctl whose argument is a {start, length}
// byte range (BLKDISCARD, BLKZEROOUT).
func blkRange(fd int, req uint, off, n uint64) error {
	r := [2]uint64{off, n}
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(req), uintptr(unsafe.Pointer(&r)))
	if errno != 0 {
		return errno
	}
	return nil
}

// blkGetSize64 returns the size of a block device in bytes (BLKGETSIZE64).
func blkGetSize64(fd int) (uint64, error) {
	var n uint64
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(unix.BLKGETSIZE64), uintptr(unsafe.Pointer(&n)))
	if errno != 0 {
		return 0, errno
	}
	return n, nil
}
