package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// counters are what the benchmark samples of the back-end process: where
// its CPU time goes and how often it enters the kernel or sleeps.
type counters struct {
	user, sys    time.Duration // utime and stime, all threads
	syscr, syscw uint64        // read- and write-type system calls, all threads
	ctxsw        uint64        // context switches of the threads alive now
}

// sub returns c - o, field by field.
func (c counters) sub(o counters) counters {
	return counters{c.user - o.user, c.sys - o.sys, c.syscr - o.syscr, c.syscw - o.syscw, c.ctxsw - o.ctxsw}
}

// cpu returns user plus system time.
func (c counters) cpu() time.Duration { return c.user + c.sys }

// clockTicks is USER_HZ, the unit of the times in /proc/PID/stat (100 on
// every Linux architecture Go supports).
const clockTicks = 100

// readCounters samples process pid.
func readCounters(pid int) (counters, error) {
	var c counters
	dir := fmt.Sprintf("/proc/%d", pid)
	raw, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return c, err
	}
	// The command name (field 2) may contain spaces: count fields from the
	// closing parenthesis; utime and stime are fields 14 and 15.
	i := bytes.LastIndexByte(raw, ')')
	f := strings.Fields(string(raw[i+1:]))
	if i < 0 || len(f) < 13 {
		return c, fmt.Errorf("vmbench: malformed %s/stat", dir)
	}
	var ticks [2]uint64
	for k, s := range f[11:13] {
		if ticks[k], err = strconv.ParseUint(s, 10, 64); err != nil {
			return c, fmt.Errorf("vmbench: %s/stat: %v", dir, err)
		}
	}
	c.user = time.Duration(ticks[0]) * time.Second / clockTicks
	c.sys = time.Duration(ticks[1]) * time.Second / clockTicks
	if c.syscr, err = procField(filepath.Join(dir, "io"), "syscr"); err != nil {
		return c, err
	}
	if c.syscw, err = procField(filepath.Join(dir, "io"), "syscw"); err != nil {
		return c, err
	}
	tasks, err := filepath.Glob(filepath.Join(dir, "task", "*", "status"))
	if err != nil {
		return c, err
	}
	for _, t := range tasks {
		// A thread may exit between the listing and the read.
		v, errV := procField(t, "voluntary_ctxt_switches")
		n, errN := procField(t, "nonvoluntary_ctxt_switches")
		if errV == nil && errN == nil {
			c.ctxsw += v + n
		}
	}
	return c, nil
}

// procField returns the numeric field "key:" of a /proc key-value file.
func procField(path, key string) (uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && k == key {
			return strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("vmbench: no %s in %s", key, path)
}

// openedDirect reports whether process pid has path open with O_DIRECT
// (the flags line of /proc/PID/fdinfo, in octal). It fails when pid does
// not have path open.
func openedDirect(pid int, path string) (bool, error) {
	dir := fmt.Sprintf("/proc/%d", pid)
	fds, err := os.ReadDir(filepath.Join(dir, "fd"))
	if err != nil {
		return false, err
	}
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join(dir, "fd", fd.Name()))
		if err != nil || target != path {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(dir, "fdinfo", fd.Name()))
		if err != nil {
			return false, err
		}
		for _, line := range strings.Split(string(raw), "\n") {
			if v, ok := strings.CutPrefix(line, "flags:"); ok {
				flags, err := strconv.ParseUint(strings.TrimSpace(v), 8, 64)
				if err != nil {
					return false, fmt.Errorf("vmbench: %s/fdinfo/%s: %v", dir, fd.Name(), err)
				}
				return flags&unix.O_DIRECT != 0, nil
			}
		}
	}
	return false, fmt.Errorf("vmbench: process %d does not have %s open", pid, path)
}
