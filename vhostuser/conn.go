package vhostuser

import (
	"errors"
	"fmt"
	"io"
	"net"

	"golang.org/x/sys/unix"
)

// message is one request as read from the socket. The caller owns fds and
// must hand each one off or close it (see closeFDs).
type message struct {
	hdr     header
	payload []byte
	fds     []int
}

// conn frames messages on a vhost-user Unix stream socket. Only the
// session's control goroutine uses it.
type conn struct {
	uc  *net.UnixConn
	oob []byte
}

func newConn(uc *net.UnixConn) *conn {
	// Room for maxFDs descriptors; a message with more arrives with
	// MSG_CTRUNC and the kernel closes those that did not fit.
	return &conn{uc: uc, oob: make([]byte, unix.CmsgSpace(maxFDs*4))}
}

// read reads the next message. It returns io.EOF when the front end closed
// the socket between messages. On any error, the descriptors already
// received are closed.
func (c *conn) read() (*message, error) {
	var hb [headerSize]byte
	var fds []int
	if err := c.readFull(hb[:], &fds, true); err != nil {
		closeFDs(fds)
		return nil, err
	}
	m := &message{hdr: decodeHeader(hb[:])}
	if err := m.hdr.check(); err != nil {
		closeFDs(fds)
		return nil, err
	}
	if m.hdr.size > 0 {
		m.payload = make([]byte, m.hdr.size)
		if err := c.readFull(m.payload, &fds, false); err != nil {
			closeFDs(fds)
			return nil, fmt.Errorf("vhostuser: %v payload: %w", m.hdr.req, err)
		}
	}
	m.fds = fds
	return m, nil
}

// readFull fills b, collecting descriptors into fds. atStart says whether a
// clean end of stream before the first byte is io.EOF rather than
// io.ErrUnexpectedEOF.
func (c *conn) readFull(b []byte, fds *[]int, atStart bool) error {
	for n := 0; n < len(b); {
		k, oobn, flags, _, err := c.uc.ReadMsgUnix(b[n:], c.oob)
		if oobn > 0 {
			got, perr := parseRights(c.oob[:oobn])
			*fds = append(*fds, got...)
			if perr != nil {
				return perr
			}
		}
		if flags&unix.MSG_CTRUNC != 0 {
			return fmt.Errorf("vhostuser: more than %d file descriptors in one message", maxFDs)
		}
		if len(*fds) > maxFDs {
			return fmt.Errorf("vhostuser: %d file descriptors in one message, at most %d", len(*fds), maxFDs)
		}
		n += k
		if errors.Is(err, io.EOF) || (err == nil && k == 0) {
			if n == 0 && atStart {
				return io.EOF
			}
			return io.ErrUnexpectedEOF
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// parseRights returns the descriptors of every SCM_RIGHTS message in oob.
func parseRights(oob []byte) ([]int, error) {
	cms, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("vhostuser: control message: %w", err)
	}
	var fds []int
	for _, cm := range cms {
		if cm.Header.Level != unix.SOL_SOCKET || cm.Header.Type != unix.SCM_RIGHTS {
			continue
		}
		got, err := unix.ParseUnixRights(&cm)
		if err != nil {
			return fds, fmt.Errorf("vhostuser: SCM_RIGHTS: %w", err)
		}
		fds = append(fds, got...)
	}
	return fds, nil
}

// reply sends a reply to req carrying body and fds.
func (c *conn) reply(req Request, body []byte, fds ...int) error {
	b := make([]byte, headerSize+len(body))
	header{req: req, flags: flagVersion | FlagReply, size: uint32(len(body))}.encode(b)
	copy(b[headerSize:], body)
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	if _, _, err := c.uc.WriteMsgUnix(b, oob, nil); err != nil {
		return fmt.Errorf("vhostuser: reply to %v: %w", req, err)
	}
	return nil
}

// closeFDs closes every descriptor in fds that is not -1.
func closeFDs(fds []int) {
	for _, fd := range fds {
		if fd >= 0 {
			_ = unix.Close(fd)
		}
	}
}

// isDisconnect reports whether err means the front end went away.
func isDisconnect(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, unix.ECONNRESET) || errors.Is(err, unix.EPIPE)
}
