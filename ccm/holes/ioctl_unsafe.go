package holes

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// ioctlPair runs ioctl(fd, req, r) for the requests whose argument points
// at two u64 (uint64_t range[2] in linux/fs.h).
func ioctlPair(fd int, req uint, r *[2]uint64) error {
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(req), uintptr(unsafe.Pointer(r)))
	if errno != 0 {
		return errno
	}
	return nil
}
