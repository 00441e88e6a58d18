package vhostuser

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// backendReplyTimeout bounds the wait for the front end's acknowledgement
// of a back-end request. QEMU answers from its main loop, which may be
// busy with a device start or a migration step for a while, but not for
// seconds. Tests shorten it.
var backendReplyTimeout = 5 * time.Second

// errChannelBroken reports a back-end request channel that lost its
// framing (a timeout, a bad reply) or was closed.
var errChannelBroken = errors.New("vhostuser: back-end request channel broken")

// backendChannel is the back-end request channel of a session: the socket
// from SET_BACKEND_REQ_FD, on which the back end sends requests such as
// BACKEND_CONFIG_CHANGE_MSG and, with REPLY_ACK, reads the front end's
// acknowledgement.
//
// It is used from goroutines other than the session's control goroutine:
// QEMU handles a back-end request from its main loop and, for a
// configuration change, sends GET_CONFIG on the main socket before it
// acknowledges, so a control goroutine waiting for the acknowledgement
// would deadlock with it. One request and its acknowledgement are on the
// wire at a time; every wait is bounded by timeout.
type backendChannel struct {
	f       *os.File
	ack     bool
	timeout time.Duration

	mu sync.Mutex
	// broken is set once a request failed: the channel's framing is
	// unknown from then on, so nothing more is sent.
	// +checklocks:mu
	broken error

	// resend asks the resend goroutine for a configuration change
	// notice; it holds at most one pending request.
	resend chan struct{}
	// done ends the resend goroutine.
	done chan struct{}
	// log receives the resend goroutine's failures.
	log func(format string, args ...any)
}

// newBackendChannel takes fd, a socket checked by checkFreshSocket. ack
// says whether REPLY_ACK was negotiated, so requests ask for an
// acknowledgement.
func newBackendChannel(fd int, ack bool, timeout time.Duration, log func(string, ...any)) (*backendChannel, error) {
	// Non-blocking, so that os.File polls it and deadlines work.
	if err := unix.SetNonblock(fd, true); err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("vhostuser: back-end request channel: %w", err)
	}
	c := &backendChannel{
		f:       os.NewFile(uintptr(fd), "backend-req"),
		ack:     ack,
		timeout: timeout,
		resend:  make(chan struct{}, 1),
		done:    make(chan struct{}),
		log:     log,
	}
	go c.resendLoop()
	return c, nil
}

// close ends the resend goroutine and closes the socket, which makes a
// request waiting for its acknowledgement fail at once.
func (c *backendChannel) close() {
	close(c.done)
	_ = c.f.Close()
}

// queueConfigChange asks the resend goroutine to send a configuration
// change notice, without waiting. It is what the control goroutine calls.
func (c *backendChannel) queueConfigChange() {
	select {
	case c.resend <- struct{}{}:
	default: // one is already pending
	}
}

func (c *backendChannel) resendLoop() {
	for {
		select {
		case <-c.done:
			return
		case <-c.resend:
			if err := c.configChange(); err != nil {
				c.log("configuration change notice: %v", err)
			}
		}
	}
}

// configChange sends BACKEND_CONFIG_CHANGE_MSG and, with REPLY_ACK, waits
// for the front end's acknowledgement. The front end answers nonzero if
// it failed to read the new configuration.
func (c *backendChannel) configChange() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.broken != nil {
		return c.broken
	}
	err := c.request(BackendConfigChangeMsg)
	var nack *nackError
	if err != nil && !errors.As(err, &nack) {
		c.broken = fmt.Errorf("%w: %w", errChannelBroken, err)
		return c.broken
	}
	return err
}

// request sends req without a payload and reads its acknowledgement.
//
// +checklocks:c.mu
func (c *backendChannel) request(req BackendRequest) error {
	flags := uint32(flagVersion)
	if c.ack {
		flags |= FlagNeedReply
	}
	if err := c.f.SetDeadline(time.Now().Add(c.timeout)); err != nil {
		return err
	}
	var b [headerSize + u64Size]byte
	header{req: Request(req), flags: flags}.encode(b[:headerSize])
	if _, err := c.f.Write(b[:headerSize]); err != nil {
		return fmt.Errorf("send back-end request %d: %w", req, err)
	}
	if !c.ack {
		return nil
	}
	if _, err := io.ReadFull(c.f, b[:]); err != nil {
		return fmt.Errorf("back-end request %d: acknowledgement: %w", req, err)
	}
	h := decodeHeader(b[:headerSize])
	if h.req != Request(req) || h.flags&FlagReply == 0 || h.size != u64Size {
		return fmt.Errorf("back-end request %d: reply request %d, flags %#x, size %d", req, h.req, h.flags, h.size)
	}
	if v := ne.Uint64(b[headerSize:]); v != 0 {
		// The framing held: the channel stays usable.
		return &nackError{req: req, v: v}
	}
	return nil
}

// nackError is a front end's nonzero acknowledgement.
type nackError struct {
	req BackendRequest
	v   uint64
}

func (e *nackError) Error() string {
	return fmt.Sprintf("front end answered back-end request %d with failure %d", e.req, e.v)
}
