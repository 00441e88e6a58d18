package main

import (
	"os"
	"strings"
	"syscall"
)

// schedtraceSetting keeps the Go runtime's monitor thread (sysmon) out of
// its deep sleep. A queue goroutine parks between the guest's kicks, so
// between batches every thread of the daemon is idle and sysmon, with
// nothing to watch, sleeps deeply; the first system call of the next batch
// then has to wake it with a futex, and it goes back to sleep in 20 µs
// steps. Per 4 KiB request that was the daemon's largest remaining CPU cost
// (a third of its samples under perf). A schedtrace interval, here about
// 24.8 days, makes sysmon keep polling at its 10 ms idle pace instead: no
// scheduler line is printed in practice, and the idle cost is 100 short
// wake-ups a second. Measured with `make bench-vm`, CPU per 4 KiB I/O fell
// by about half.
const schedtraceSetting = "schedtrace=2147483647"

// tuneRuntime re-executes the daemon with schedtraceSetting added to
// GODEBUG, unless GODEBUG already names schedtrace (which is also how a
// user opts out: GODEBUG=schedtrace=0). The process keeps its pid, its
// arguments and its inherited descriptors (--fd). If the re-exec fails the
// daemon simply runs untuned.
func tuneRuntime() {
	godebug := os.Getenv("GODEBUG")
	if strings.Contains(godebug, "schedtrace=") {
		return
	}
	exe, err := os.Executable()
	if err != nil {
		return
	}
	if godebug != "" {
		godebug += ","
	}
	env := append(withoutVar(os.Environ(), "GODEBUG"), "GODEBUG="+godebug+schedtraceSetting)
	_ = syscall.Exec(exe, os.Args, env)
}

// withoutVar returns env without the entries of variable name.
func withoutVar(env []string, name string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	return out
}
