package virtio

import (
	"fmt"
	"sync"
	"time"

	"github.com/golang/glog"
)

// LogLimiter rate-limits log lines that a guest or a front end can
// trigger: a token bucket of Burst lines, refilled with one line every
// Every. Lines beyond it are dropped and counted; the count is appended to
// the next line written. Verbose lines (glog.V) are not its concern: they
// are off unless asked for. It is safe for concurrent use.
type LogLimiter struct {
	prefix string
	burst  int
	every  time.Duration

	mu sync.Mutex
	// +checklocks:mu
	tokens int
	// +checklocks:mu
	last time.Time // when tokens was last refilled
	// +checklocks:mu
	dropped int
}

// Default limits: enough for a front end's start-up and a few resets at
// once, then one line a second.
const (
	DefaultLogBurst = 32
	DefaultLogEvery = time.Second
)

// NewLogLimiter returns a limiter writing lines prefixed with prefix and
// a space (for example "dev=/run/disk.sock").
func NewLogLimiter(prefix string, burst int, every time.Duration) *LogLimiter {
	return &LogLimiter{prefix: prefix, burst: burst, every: every, tokens: burst}
}

// take reports whether a line may be written now, and how many were
// dropped before it.
func (l *LogLimiter) take() (ok bool, dropped int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if l.last.IsZero() {
		l.last = now
	}
	if n := now.Sub(l.last) / l.every; n > 0 {
		l.tokens = int(min(int64(l.burst), int64(l.tokens)+int64(n)))
		l.last = l.last.Add(n * l.every)
	}
	if l.tokens == 0 {
		l.dropped++
		return false, 0
	}
	l.tokens--
	dropped, l.dropped = l.dropped, 0
	return true, dropped
}

// line formats a line, or returns false when it is to be dropped.
func (l *LogLimiter) line(format string, args []any) (string, bool) {
	ok, dropped := l.take()
	if !ok {
		return "", false
	}
	msg := l.prefix + " " + fmt.Sprintf(format, args...)
	if dropped > 0 {
		msg += fmt.Sprintf(" (%d log lines suppressed before this one)", dropped)
	}
	return msg, true
}

// Infof logs an informational line unless the limit is reached.
func (l *LogLimiter) Infof(format string, args ...any) {
	if msg, ok := l.line(format, args); ok {
		glog.InfoDepth(1, msg)
	}
}

// Warningf logs a warning unless the limit is reached.
func (l *LogLimiter) Warningf(format string, args ...any) {
	if msg, ok := l.line(format, args); ok {
		glog.WarningDepth(1, msg)
	}
}

// Errorf logs an error unless the limit is reached.
func (l *LogLimiter) Errorf(format string, args ...any) {
	if msg, ok := l.line(format, args); ok {
		glog.ErrorDepth(1, msg)
	}
}
