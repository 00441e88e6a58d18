package vmtest

import (
	"fmt"
	"io"
	"strings"
	"sync"
)

// Log is a TB for programs such as the demo and the benchmark: it writes
// each log line to an io.Writer and runs the registered cleanups on Close.
// It is safe for concurrent use.
type Log struct {
	mu       sync.Mutex
	w        io.Writer
	cleanups []func()
	failed   bool
}

// NewLog returns a Log writing to w.
func NewLog(w io.Writer) *Log { return &Log{w: w} }

// Helper does nothing; it exists to satisfy TB.
func (l *Log) Helper() {}

// Logf writes one line.
func (l *Log) Logf(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = io.WriteString(l.w, strings.TrimSuffix(line, "\n")+"\n")
}

// Cleanup registers f to run on Close.
func (l *Log) Cleanup(f func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cleanups = append(l.cleanups, f)
}

// Fail marks the run failed; VM cleanups then stop their guest at once and
// log its command line.
func (l *Log) Fail() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failed = true
}

// Failed reports whether Fail was called.
func (l *Log) Failed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.failed
}

// Close runs the cleanups, the last registered first, as testing does.
func (l *Log) Close() {
	for {
		l.mu.Lock()
		n := len(l.cleanups)
		if n == 0 {
			l.mu.Unlock()
			return
		}
		f := l.cleanups[n-1]
		l.cleanups = l.cleanups[:n-1]
		l.mu.Unlock()
		f()
	}
}
