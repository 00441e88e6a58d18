package vmtest

import (
	"bytes"
	"testing"
)

func TestLog(t *testing.T) {
	var buf bytes.Buffer
	l := NewLog(&buf)
	var order []int
	l.Cleanup(func() { order = append(order, 1) })
	l.Cleanup(func() {
		order = append(order, 2)
		l.Cleanup(func() { order = append(order, 3) }) // registered while closing
	})
	l.Logf("vm: %s", "line one")
	l.Logf("two\n")
	if l.Failed() {
		t.Error("new Log reports failed")
	}
	l.Fail()
	if !l.Failed() {
		t.Error("Failed() = false after Fail")
	}
	l.Close()
	if got, want := buf.String(), "vm: line one\ntwo\n"; got != want {
		t.Errorf("log = %q, want %q", got, want)
	}
	if len(order) != 3 || order[0] != 2 || order[1] != 3 || order[2] != 1 {
		t.Errorf("cleanup order = %v, want [2 3 1]", order)
	}
}
