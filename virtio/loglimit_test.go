package virtio

import (
	"testing"
	"time"
)

func TestLogLimiter(t *testing.T) {
	l := NewLogLimiter("dev=test", 3, time.Hour)
	for i := range 3 {
		if ok, dropped := l.take(); !ok || dropped != 0 {
			t.Fatalf("line %d of the burst: ok %t, dropped %d", i, ok, dropped)
		}
	}
	for i := range 5 {
		if ok, _ := l.take(); ok {
			t.Fatalf("line %d past the burst written", i)
		}
	}
	l.mu.Lock()
	l.last = l.last.Add(-2 * time.Hour) // two periods have passed
	l.mu.Unlock()
	if ok, dropped := l.take(); !ok || dropped != 5 {
		t.Fatalf("after a pause: ok %t, dropped %d, want true, 5", ok, dropped)
	}
	if ok, dropped := l.take(); !ok || dropped != 0 {
		t.Fatalf("second refilled line: ok %t, dropped %d", ok, dropped)
	}
	if ok, _ := l.take(); ok {
		t.Fatal("third line after two periods written")
	}
}
