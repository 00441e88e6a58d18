package vhostuser

import (
	"errors"
	"fmt"
)

// ErrUnsupported reports a request or a mode this package does not
// implement (for example a kick without a file descriptor).
var ErrUnsupported = errors.New("vhostuser: unsupported")

// errStopped is what a Kick returns once its ring has been told to stop.
var errStopped = errors.New("vhostuser: ring stopped")

// ProtocolError reports a message the front end should not have sent: a bad
// header, size, payload, file descriptor count or queue index, or a request
// that cannot be carried out in the session's state.
type ProtocolError struct {
	Req    Request // the offending request
	Reason string  // what was wrong
	Err    error   // the underlying error, if any
}

// Error describes the request and what was wrong with it.
func (e *ProtocolError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("vhostuser: %v: %s: %v", e.Req, e.Reason, e.Err)
	}
	return fmt.Sprintf("vhostuser: %v: %s", e.Req, e.Reason)
}

// Unwrap returns the underlying error, if any.
func (e *ProtocolError) Unwrap() error { return e.Err }

func protoErr(req Request, format string, args ...any) *ProtocolError {
	return &ProtocolError{Req: req, Reason: fmt.Sprintf(format, args...)}
}
