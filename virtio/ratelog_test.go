package virtio

import (
	"testing"
	"time"
)

func TestRateLog(t *testing.T) {
	l := newRateLog("dev=test q=0")
	l.warningf("first %d", 1)
	if l.suppressed != 0 || l.last.IsZero() {
		t.Fatalf("first warning: suppressed %d, last %v", l.suppressed, l.last)
	}
	for i := range 5 {
		l.warningf("flood %d", i)
	}
	if l.suppressed != 5 {
		t.Fatalf("suppressed: got %d, want 5", l.suppressed)
	}
	l.last = l.last.Add(-2 * time.Second) // a second has passed
	l.warningf("after pause")
	if l.suppressed != 0 {
		t.Fatalf("suppressed after logging: got %d, want 0", l.suppressed)
	}
}
