package vmtest

import (
	"bytes"
	"strconv"
	"testing"
)

// cpioEntry is one parsed newc entry.
type cpioEntry struct {
	name         string
	mode         uint64
	major, minor uint64
	data         []byte
}

// readNewc parses a newc archive up to its trailer.
func readNewc(t *testing.T, b []byte) []cpioEntry {
	t.Helper()
	var out []cpioEntry
	align := func(n int) int { return (n + 3) &^ 3 }
	for off := 0; ; {
		if len(b) < off+110 || string(b[off:off+6]) != "070701" {
			t.Fatalf("no newc header at offset %d", off)
		}
		field := func(i int) uint64 {
			v, err := strconv.ParseUint(string(b[off+6+8*i:off+14+8*i]), 16, 32)
			if err != nil {
				t.Fatalf("header at %d field %d: %v", off, i, err)
			}
			return v
		}
		mode, size, major, minor, namesize := field(1), field(6), field(9), field(10), field(11)
		name := string(b[off+110 : off+110+int(namesize)-1])
		if b[off+110+int(namesize)-1] != 0 {
			t.Fatalf("entry %q: name not NUL-terminated", name)
		}
		dataOff := align(off + 110 + int(namesize))
		if name == "TRAILER!!!" {
			if dataOff != len(b) {
				t.Fatalf("%d bytes after the trailer", len(b)-dataOff)
			}
			return out
		}
		out = append(out, cpioEntry{name, mode, major, minor, b[dataOff : dataOff+int(size)]})
		off = align(dataOff + int(size))
	}
}

func TestCPIOWriter(t *testing.T) {
	var buf bytes.Buffer
	w := &cpioWriter{w: &buf}
	w.Dir("dev")
	w.CharDev("/dev/console", 5, 1)
	w.File("init", 0o755, []byte("#!binary"))
	w.File("empty", 0o644, nil)
	w.File("odd", 0o644, []byte("abcde"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if buf.Len()%4 != 0 {
		t.Errorf("archive length %d is not a multiple of 4", buf.Len())
	}
	want := []cpioEntry{
		{"dev", modeDir | 0o755, 0, 0, nil},
		{"dev/console", modeChar | 0o600, 5, 1, nil},
		{"init", modeFile | 0o755, 0, 0, []byte("#!binary")},
		{"empty", modeFile | 0o644, 0, 0, nil},
		{"odd", modeFile | 0o644, 0, 0, []byte("abcde")},
	}
	got := readNewc(t, buf.Bytes())
	if len(got) != len(want) {
		t.Fatalf("got %d entries, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.name != w.name || g.mode != w.mode || g.major != w.major || g.minor != w.minor || !bytes.Equal(g.data, w.data) {
			t.Errorf("entry %d = {%q %o %d:%d %q}, want {%q %o %d:%d %q}",
				i, g.name, g.mode, g.major, g.minor, g.data, w.name, w.mode, w.major, w.minor, w.data)
		}
	}
}
