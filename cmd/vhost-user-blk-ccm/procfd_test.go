package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// checkOpenReadOnly checks through /proc that process pid holds path open,
// and only read-only.
func checkOpenReadOnly(t *testing.T, pid int, path string) {
	t.Helper()
	want, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, e := range ents {
		target, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil || target != want {
			continue
		}
		found++
		info, err := os.ReadFile(fmt.Sprintf("/proc/%d/fdinfo/%s", pid, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		flags, ok := fdinfoFlags(string(info))
		if !ok {
			t.Fatalf("no flags in fdinfo of descriptor %s:\n%s", e.Name(), info)
		}
		if flags&unix.O_ACCMODE != unix.O_RDONLY {
			t.Errorf("descriptor %s of %s has flags %#o: not read-only", e.Name(), path, flags)
		}
	}
	if found == 0 {
		t.Errorf("process %d does not hold %s open", pid, path)
	}
}

// fdinfoFlags returns the octal flags field of a /proc/PID/fdinfo file.
func fdinfoFlags(info string) (int, bool) {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(line, "flags:"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 8, 64)
			return int(n), err == nil
		}
	}
	return 0, false
}
