package main

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// environGODEBUG returns the GODEBUG value in a process's environment.
func environGODEBUG(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range strings.Split(string(b), "\x00") {
		if v, ok := strings.CutPrefix(kv, "GODEBUG="); ok {
			return v
		}
	}
	return ""
}

// TestRuntimeTuned checks that the serving daemon runs with sysmon kept
// awake (see tuneRuntime), that settings already in GODEBUG are kept, and
// that a schedtrace the user chose wins.
func TestRuntimeTuned(t *testing.T) {
	for _, tc := range []struct{ env, want string }{
		{"", schedtraceSetting},
		{"madvdontneed=1", "madvdontneed=1," + schedtraceSetting},
		{"schedtrace=0", "schedtrace=0"},
	} {
		t.Run(tc.env, func(t *testing.T) {
			t.Setenv("GODEBUG", tc.env)
			im := newCCMImage(t, 16)
			d, sock := serve(t, im.args()...)
			checkSectors(t, "read", connect(t, sock).read(0, 16), 0, 0)
			if got := environGODEBUG(t, d.pid()); got != tc.want {
				t.Errorf("GODEBUG %q, want %q", got, tc.want)
			}
			d.stopOK()
		})
	}
}
