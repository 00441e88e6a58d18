package vhostusertest

import (
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ccmblk/ccmblk/vhostuser"
)

// BackendMsg is one request the back end sent on the back-end request
// channel.
type BackendMsg struct {
	Req     vhostuser.BackendRequest
	Flags   uint32
	Payload []byte
}

// setupBackendReq hands the back end one end of a new socket pair with
// SET_BACKEND_REQ_FD, acknowledged with REPLY_ACK, as QEMU does when
// BACKEND_REQ is negotiated, and keeps the other end.
func (f *Frontend) setupBackendReq() error {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	err = f.Set(vhostuser.SetBackendReqFD, true, nil, fds[1])
	_ = unix.Close(fds[1])
	if err == nil {
		err = unix.SetNonblock(fds[0], true)
	}
	if err != nil {
		_ = unix.Close(fds[0])
		return err
	}
	f.backend = os.NewFile(uintptr(fds[0]), "backend-req")
	return nil
}

// ReadBackend reads the next back-end request, waiting up to d.
func (f *Frontend) ReadBackend(d time.Duration) (BackendMsg, error) {
	if f.backend == nil {
		return BackendMsg{}, fmt.Errorf("vhostusertest: no back-end request channel (BACKEND_REQ not negotiated)")
	}
	if err := f.backend.SetReadDeadline(time.Now().Add(d)); err != nil {
		return BackendMsg{}, err
	}
	var h [headerSize]byte
	if _, err := io.ReadFull(f.backend, h[:]); err != nil {
		return BackendMsg{}, fmt.Errorf("vhostusertest: back-end request: %w", err)
	}
	m := BackendMsg{Req: vhostuser.BackendRequest(ne.Uint32(h[0:])), Flags: ne.Uint32(h[4:])}
	size := ne.Uint32(h[8:])
	if size > maxReplyBytes {
		return m, fmt.Errorf("vhostusertest: back-end request %d of %d bytes", m.Req, size)
	}
	m.Payload = make([]byte, size)
	if _, err := io.ReadFull(f.backend, m.Payload); err != nil {
		return m, fmt.Errorf("vhostusertest: back-end request %d: %w", m.Req, err)
	}
	return m, nil
}

// AckBackend answers m with v (0 for success), as QEMU does, if it asked
// for a reply.
func (f *Frontend) AckBackend(m BackendMsg, v uint64) error {
	if m.Flags&vhostuser.FlagNeedReply == 0 {
		return nil
	}
	b := make([]byte, headerSize+8)
	ne.PutUint32(b[0:], uint32(m.Req))
	ne.PutUint32(b[4:], flagVersion|vhostuser.FlagReply)
	ne.PutUint32(b[8:], 8)
	ne.PutUint64(b[headerSize:], v)
	_, err := f.backend.Write(b)
	return err
}
