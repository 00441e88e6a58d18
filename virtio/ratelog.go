package virtio

import (
	"fmt"
	"time"

	"github.com/golang/glog"
)

// rateLog writes at most one warning per second and counts the ones it
// drops, so a misbehaving guest cannot flood the log. It is not safe for
// concurrent use: a queue uses it under its completion lock.
type rateLog struct {
	prefix     string
	every      time.Duration
	last       time.Time
	suppressed int
}

func newRateLog(prefix string) *rateLog {
	return &rateLog{prefix: prefix, every: time.Second}
}

// warningf logs a warning unless one was logged less than l.every ago.
func (l *rateLog) warningf(format string, args ...any) {
	now := time.Now()
	if !l.last.IsZero() && now.Sub(l.last) < l.every {
		l.suppressed++
		return
	}
	l.last = now
	msg := fmt.Sprintf(format, args...)
	if l.suppressed > 0 {
		glog.WarningDepth(1, fmt.Sprintf("%s: %s (%d similar warnings suppressed)", l.prefix, msg, l.suppressed))
		l.suppressed = 0
		return
	}
	glog.WarningDepth(1, l.prefix+": "+msg)
}
