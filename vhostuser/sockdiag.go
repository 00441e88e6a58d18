package vhostuser

import (
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// sock_diag for AF_UNIX (linux/unix_diag.h), which x/sys/unix does not
// define.
const (
	udiagShowPeer   = 0x4 // UDIAG_SHOW_PEER
	unixDiagPeer    = 2   // UNIX_DIAG_PEER attribute
	unixDiagReqSize = 24  // struct unix_diag_req
	unixDiagMsgSize = 16  // struct unix_diag_msg
	sockDiagTimeout = time.Second
)

// errNoPeer reports a Unix socket without a peer.
var errNoPeer = errors.New("socket has no peer")

// unixPeerInode returns the inode of the peer of the Unix socket with
// inode ino, asking the kernel's sock_diag interface.
func unixPeerInode(ino uint64) (uint64, error) {
	if ino > 0xffffffff {
		return 0, fmt.Errorf("socket inode %d does not fit sock_diag", ino)
	}
	s, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return 0, fmt.Errorf("sock_diag: %w", err)
	}
	defer func() { _ = unix.Close(s) }()
	tv := unix.NsecToTimeval(sockDiagTimeout.Nanoseconds())
	if err := unix.SetsockoptTimeval(s, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return 0, fmt.Errorf("sock_diag: %w", err)
	}
	req := make([]byte, unix.SizeofNlMsghdr+unixDiagReqSize)
	ne.PutUint32(req[0:], uint32(len(req)))
	ne.PutUint16(req[4:], unix.SOCK_DIAG_BY_FAMILY)
	ne.PutUint16(req[6:], unix.NLM_F_REQUEST)
	ne.PutUint32(req[8:], 1) // sequence number
	r := req[unix.SizeofNlMsghdr:]
	r[0] = unix.AF_UNIX
	ne.PutUint32(r[4:], 0xffffffff) // every state
	ne.PutUint32(r[8:], uint32(ino))
	ne.PutUint32(r[12:], udiagShowPeer)
	ne.PutUint32(r[16:], 0xffffffff) // no cookie
	ne.PutUint32(r[20:], 0xffffffff)
	if err := unix.Sendto(s, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return 0, fmt.Errorf("sock_diag: %w", err)
	}
	buf := make([]byte, 4096)
	n, _, err := unix.Recvfrom(s, buf, 0)
	if err != nil {
		return 0, fmt.Errorf("sock_diag: %w", err)
	}
	return parseUnixDiagPeer(buf[:n], ino)
}

// parseUnixDiagPeer decodes the answer to a UDIAG_SHOW_PEER request.
func parseUnixDiagPeer(b []byte, ino uint64) (uint64, error) {
	if len(b) < unix.SizeofNlMsghdr {
		return 0, fmt.Errorf("sock_diag: short answer of %d bytes", len(b))
	}
	size := int(ne.Uint32(b))
	if size < unix.SizeofNlMsghdr || size > len(b) {
		return 0, fmt.Errorf("sock_diag: message size %d of %d bytes", size, len(b))
	}
	body := b[unix.SizeofNlMsghdr:size]
	switch ne.Uint16(b[4:]) {
	case unix.NLMSG_ERROR:
		if len(body) < 4 {
			return 0, fmt.Errorf("sock_diag: short error")
		}
		return 0, fmt.Errorf("sock_diag: %w", unix.Errno(-int32(ne.Uint32(body))))
	case unix.SOCK_DIAG_BY_FAMILY:
	default:
		return 0, fmt.Errorf("sock_diag: message type %d", ne.Uint16(b[4:]))
	}
	if len(body) < unixDiagMsgSize || uint64(ne.Uint32(body[4:])) != ino {
		return 0, fmt.Errorf("sock_diag: answer is not about inode %d", ino)
	}
	for attrs := body[unixDiagMsgSize:]; len(attrs) >= 4; {
		alen, typ := int(ne.Uint16(attrs)), ne.Uint16(attrs[2:])
		if alen < 4 || alen > len(attrs) {
			return 0, fmt.Errorf("sock_diag: attribute length %d", alen)
		}
		if typ == unixDiagPeer && alen >= 8 {
			return uint64(ne.Uint32(attrs[4:])), nil
		}
		attrs = attrs[min((alen+3)&^3, len(attrs)):]
	}
	return 0, errNoPeer
}
