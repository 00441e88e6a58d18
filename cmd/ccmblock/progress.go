package main

import (
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

const (
	// progressEvery is the shortest time between two progress updates.
	progressEvery = 250 * time.Millisecond
	// progressAfter is how long a run goes before progress is shown, so
	// that short runs stay quiet.
	progressAfter = time.Second
)

// progress shows percent done, throughput and time left on one terminal
// line. Workers call add; one goroutine calls tick and finish.
type progress struct {
	w     io.Writer // nil: quiet
	label string
	total uint64 // bytes of plaintext
	done  atomic.Uint64
	start time.Time
	last  time.Time
	shown bool
}

// newProgress returns a progress display on e.stderr if it is a terminal,
// and a quiet one otherwise.
func newProgress(e *env, label string, total uint64) *progress {
	p := &progress{label: label, total: total, start: time.Now()}
	if isTerminal(e.stderr) {
		p.w = e.stderr
	}
	return p
}

// isTerminal reports whether w is a file descriptor open on a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// add records n more bytes done. Safe for concurrent use.
func (p *progress) add(n uint64) { p.done.Add(n) }

// tick redraws the line if the run is long enough and the last update is
// old enough.
func (p *progress) tick(now time.Time) {
	if p.w == nil || now.Sub(p.start) < progressAfter || now.Sub(p.last) < progressEvery {
		return
	}
	p.last = now
	p.shown = true
	done := p.done.Load()
	fmt.Fprintf(p.w, "\r%s\x1b[K", p.line(done, now.Sub(p.start), false))
}

// finish ends the line with a final update, if any line was shown.
func (p *progress) finish(now time.Time) {
	if p.w == nil || !p.shown {
		return
	}
	fmt.Fprintf(p.w, "\r%s\x1b[K\n", p.line(p.done.Load(), now.Sub(p.start), true))
}

// line formats one status line: label, percent, MB/s (10^6 bytes of
// plaintext per second) and the time left, or the time taken when final.
func (p *progress) line(done uint64, elapsed time.Duration, final bool) string {
	pct := 100.0
	if p.total > 0 {
		pct = 100 * float64(done) / float64(p.total)
	}
	secs := elapsed.Seconds()
	rate := 0.0
	if secs > 0 {
		rate = float64(done) / secs
	}
	s := fmt.Sprintf("%s: %5.1f%%  %7.1f MB/s", p.label, pct, rate/1e6)
	switch {
	case final:
		s += "  in " + clock(elapsed)
	case rate > 0 && done <= p.total:
		s += "  ETA " + clock(time.Duration(float64(p.total-done)/rate*float64(time.Second)))
	default:
		s += "  ETA --:--"
	}
	return s
}

// clock formats d as m:ss or h:mm:ss.
func clock(d time.Duration) string {
	t := int64(d.Round(time.Second) / time.Second)
	if t >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", t/3600, t/60%60, t%60)
	}
	return fmt.Sprintf("%d:%02d", t/60, t%60)
}
