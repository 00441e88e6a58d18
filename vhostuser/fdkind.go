package vhostuser

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// Descriptor kinds. Every descriptor a message carries is checked against
// the kind its message needs before it is used or kept, and refused
// otherwise; the errors are wrapped by the caller's ProtocolError:
//
//	SET_VRING_KICK, SET_VRING_CALL, SET_VRING_ERR    checkEventFD
//	SET_MEM_TABLE, ADD_MEM_REG                        checkMemoryFile
//	SET_LOG_BASE, SET_INFLIGHT_FD                     checkSealedMemfd
//	SET_BACKEND_REQ_FD                                checkFreshSocket
//
// REM_MEM_REG's optional descriptor is never used and only closed.

// checkEventFD refuses a descriptor that is not an eventfd. A kick must be
// pollable so that closing it stops the ring's reader, and a call or err
// descriptor must not block a writer.
func checkEventFD(fd int) error {
	target, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
	if err != nil {
		return fmt.Errorf("inspect descriptor: %w", err)
	}
	if target != "anon_inode:[eventfd]" {
		return fmt.Errorf("descriptor is %q, want an eventfd", target)
	}
	return nil
}

// checkMemoryFile refuses a guest RAM descriptor that is not a regular
// file of at least need bytes on tmpfs (memfd, /dev/shm) or hugetlbfs,
// what QEMU's memory backends use. Pages of those files are in memory or
// allocated on the spot: touching them cannot wait on another process (a
// file on a FUSE mount could block the reader forever). anyFile admits a
// regular file on any file system (ServerOptions.AnyMemoryFile). The size
// check keeps every mapped page backed: touching a page past the end of
// the file would fault.
func checkMemoryFile(fd int, need uint64, anyFile bool) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("stat descriptor: %w", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return fmt.Errorf("descriptor is not a regular file (mode %#o), want a memfd, tmpfs or hugetlbfs file", st.Mode)
	}
	if !anyFile {
		if err := checkMemoryFS(fd); err != nil {
			return err
		}
	}
	if uint64(st.Size) < need {
		return fmt.Errorf("region needs %#x bytes of a %#x-byte file", need, st.Size)
	}
	return nil
}

// checkMemoryFS refuses a file that is neither on tmpfs (which memfds
// are) nor on hugetlbfs.
func checkMemoryFS(fd int) error {
	var fs unix.Statfs_t
	if err := unix.Fstatfs(fd, &fs); err != nil {
		return fmt.Errorf("statfs descriptor: %w", err)
	}
	switch fs.Type {
	case unix.TMPFS_MAGIC, unix.HUGETLBFS_MAGIC:
		return nil
	}
	return fmt.Errorf("file system type %#x is not tmpfs or hugetlbfs", fs.Type)
}

// checkSealedMemfd refuses a shared-area descriptor (the dirty log of
// SET_LOG_BASE, the inflight area of SET_INFLIGHT_FD) that is not a memfd
// of at least need bytes sealed against shrinking, as QEMU creates them:
// the front end could otherwise truncate it under the mapping.
func checkSealedMemfd(fd int, need uint64) error {
	if err := checkMemoryFile(fd, need, false); err != nil {
		return err
	}
	seals, err := unix.FcntlInt(uintptr(fd), unix.F_GET_SEALS, 0)
	if err != nil {
		return fmt.Errorf("descriptor is not a memfd: %w", err)
	}
	if seals&unix.F_SEAL_SHRINK == 0 {
		return fmt.Errorf("memfd seals %#x lack F_SEAL_SHRINK", seals)
	}
	return nil
}

// checkFreshSocket refuses a back-end request descriptor that is not a
// connected AF_UNIX stream socket of a new socket pair (both ends
// unnamed), or that is the session's own connection (own) or its peer, or
// a socket sharing an inode with either. Holding the front end's end of
// the session's connection would keep that connection open after the
// front end is gone, so the session would never see end-of-file.
func checkFreshSocket(fd, own int) error {
	domain, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN)
	if err != nil {
		return fmt.Errorf("descriptor is not a socket: %w", err)
	}
	typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	if err != nil {
		return fmt.Errorf("socket type: %w", err)
	}
	if domain != unix.AF_UNIX || typ != unix.SOCK_STREAM {
		return fmt.Errorf("socket of domain %d type %d, want an AF_UNIX stream socket", domain, typ)
	}
	if err := checkUnnamed(fd); err != nil {
		return err
	}
	ino, err := inode(fd)
	if err != nil {
		return err
	}
	ownIno, err := inode(own)
	if err != nil {
		return err
	}
	if ino == ownIno {
		return fmt.Errorf("descriptor is the session's own connection")
	}
	peer, err := unixPeerInode(ino)
	if err != nil {
		return err
	}
	ownPeer, err := unixPeerInode(ownIno)
	if err != nil {
		return err
	}
	if peer == ownIno || ino == ownPeer || peer == ownPeer {
		return fmt.Errorf("descriptor shares a socket with the session's connection")
	}
	return nil
}

// checkUnnamed refuses a socket that is bound or connected to a named
// address, or not connected at all.
func checkUnnamed(fd int) error {
	local, err := unix.Getsockname(fd)
	if err != nil {
		return fmt.Errorf("socket name: %w", err)
	}
	remote, err := unix.Getpeername(fd)
	if err != nil {
		return fmt.Errorf("socket is not connected: %w", err)
	}
	for _, sa := range []unix.Sockaddr{local, remote} {
		u, ok := sa.(*unix.SockaddrUnix)
		if !ok {
			return fmt.Errorf("socket address %T, want AF_UNIX", sa)
		}
		// An unnamed address decodes as "@" (an empty abstract name).
		if u.Name != "" && u.Name != "@" {
			return fmt.Errorf("socket has a named end %q, want a socket pair", u.Name)
		}
	}
	return nil
}

// inode returns the inode number of fd.
func inode(fd int) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return 0, fmt.Errorf("stat descriptor: %w", err)
	}
	return st.Ino, nil
}
