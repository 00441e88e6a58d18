package qmp

import (
	"errors"
	"fmt"
)

// Input limits. QEMU's own limits are far larger (64 MiB tokens, nesting
// 1024); the daemon's commands fit in a few hundred bytes and three levels.
const (
	// MaxMessage is the largest JSON value a client may send, in bytes.
	MaxMessage = 64 << 10
	// maxDepth is the deepest nesting of objects and arrays accepted.
	maxDepth = 32
)

// Errors of the splitter, reported to the client as GenericError.
var (
	errTooLarge = fmt.Errorf("JSON message exceeds %d bytes", MaxMessage)
	errTooDeep  = fmt.Errorf("JSON nesting depth limit (%d) exceeded", maxDepth)
	errStray    = errors.New("JSON parse error, stray closing bracket")
)

// splitter cuts a byte stream into top-level JSON values the way QEMU's
// JSON streamer does: it tracks strings and the nesting of braces and
// brackets, and a value ends when the nesting returns to zero, or, for a
// bare scalar at top level, at the next white space or structural
// character. It does not validate JSON; the parser does that on each
// value. A value that grows beyond MaxMessage bytes or maxDepth levels is
// reported once and then skipped to its end without being stored.
type splitter struct {
	buf      []byte
	depth    int
	inString bool
	escaped  bool
	// skipping drops the rest of a value already reported as an error.
	skipping bool
}

// feed consumes one byte. It calls emit for each value completed by it
// (the slice is valid until the next feed) or with an error for a value
// refused; one byte can end a bare scalar and complete a value, so emit
// may be called twice.
func (s *splitter) feed(c byte, emit func([]byte, error)) {
	if s.inString {
		s.add(c, emit)
		switch {
		case s.escaped:
			s.escaped = false
		case c == '\\':
			s.escaped = true
		case c == '"':
			s.inString = false
			if s.depth == 0 {
				s.end(emit)
			}
		}
		return
	}
	switch c {
	case ' ', '\t', '\r', '\n':
		if s.depth > 0 {
			s.add(c, emit)
		} else if s.pending() {
			s.end(emit)
		}
	case '{', '[', '"':
		if s.depth == 0 && s.pending() {
			s.end(emit) // a bare scalar ends here
		}
		if c == '"' {
			s.inString = true
		} else if s.depth++; s.depth > maxDepth && !s.skipping {
			s.refuse(errTooDeep, emit)
		}
		s.add(c, emit)
	case '}', ']':
		if s.depth == 0 {
			if s.pending() {
				s.end(emit)
			}
			emit(nil, errStray)
			return
		}
		s.add(c, emit)
		if s.depth--; s.depth == 0 {
			s.end(emit)
		}
	default:
		s.add(c, emit)
	}
}

// pending reports whether a value (or a skipped one) is in progress.
func (s *splitter) pending() bool { return len(s.buf) > 0 || s.skipping }

// add appends c to the current value, refusing the value once it is too
// large.
func (s *splitter) add(c byte, emit func([]byte, error)) {
	if s.skipping {
		return
	}
	if len(s.buf) == MaxMessage {
		s.refuse(errTooLarge, emit)
		return
	}
	s.buf = append(s.buf, c)
}

// refuse reports err for the current value and skips the rest of it.
func (s *splitter) refuse(err error, emit func([]byte, error)) {
	emit(nil, err)
	s.skipping = true
	s.buf = s.buf[:0]
}

// end completes the current value.
func (s *splitter) end(emit func([]byte, error)) {
	if !s.skipping {
		emit(s.buf, nil)
	}
	s.skipping = false
	s.buf = s.buf[:0]
	if cap(s.buf) > 4096 {
		s.buf = nil // a large value's buffer is not kept
	}
}
