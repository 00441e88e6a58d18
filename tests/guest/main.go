package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// params holds the ccmblk.* kernel command line parameters, without the
// prefix.
type params map[string]string

// str returns the parameter k, or def when it is absent.
func (p params) str(k, def string) string {
	if v, ok := p[k]; ok {
		return v
	}
	return def
}

// num returns the parameter k as an unsigned integer, or def when absent.
func (p params) num(k string, def uint64) (uint64, error) {
	v, ok := p[k]
	if !ok {
		return def, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parameter ccmblk.%s=%q: %v", k, v, err)
	}
	return n, nil
}

// parseCmdline extracts the ccmblk.* parameters of a kernel command line.
func parseCmdline(line string) params {
	p := params{}
	for _, f := range strings.Fields(line) {
		k, v, ok := strings.Cut(f, "=")
		if name, found := strings.CutPrefix(k, "ccmblk."); found && ok {
			p[name] = v
		}
	}
	return p
}

// actions maps ccmblk.action values to their implementation. Each returns
// the key=value fields of its CCMBLK-OK line.
var actions = map[string]func(d *disk, p params) ([]string, error){
	"readall":    readAll,
	"write":      writeCheck,
	"rocheck":    roCheck,
	"sectorscan": sectorScan,
	"demo":       demo,
	"bench":      bench,
	"zeroing":    zeroing,
	"resize":     resize,
	"gens":       gens,
	"readmem":    readMem,
}

func main() {
	action := "boot"
	if err := mountAll(); err != nil {
		finish(action, nil, err)
	}
	raw, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		finish(action, nil, err)
	}
	p := parseCmdline(string(raw))
	action = p.str("action", "none")
	timeout, err := p.num("timeout", 120)
	if err != nil {
		finish(action, nil, err)
	}
	type result struct {
		fields []string
		err    error
	}
	done := make(chan result, 1)
	go func() {
		fields, err := run(action, p, time.Duration(timeout)*time.Second)
		done <- result{fields, err}
	}()
	select {
	case r := <-done:
		if r.err == nil && p.str("poweroff", "") == "button" {
			// Report, then stay up until the host asks for a power-down.
			say("CCMBLK-OK action=%s %s", action, strings.Join(r.fields, " "))
			say("CCMBLK-READY action=%s stage=powerbutton", action)
			if err := waitPowerButton(time.Duration(timeout) * time.Second); err != nil {
				finish(action, nil, err)
			}
			say("CCMBLK-POWERBUTTON action=%s", action)
			powerOff()
		}
		finish(action, r.fields, r.err)
	case <-time.After(time.Duration(timeout) * time.Second):
		finish(action, nil, fmt.Errorf("guest timeout after %ds", timeout))
	}
}

// run loads the modules, waits for the disk and performs the action.
func run(action string, p params, timeout time.Duration) ([]string, error) {
	fn, ok := actions[action]
	if !ok {
		return nil, fmt.Errorf("unknown action %q", action)
	}
	// hold=N: the host acts while no driver is bound to the disk (the
	// vhost-user device is not started), then the modules load.
	hold, err := p.num("hold", 0)
	if err != nil {
		return nil, err
	}
	if hold > 0 {
		say("CCMBLK-READY action=%s stage=unbound", action)
		time.Sleep(time.Duration(hold) * time.Second)
	}
	if err := loadModules("/ccmblk/modules"); err != nil {
		return nil, err
	}
	d, err := waitDisk(p.str("disk", "vda"), timeout)
	if err != nil {
		return nil, err
	}
	if mode, ok := p["cache"]; ok {
		if err := d.setCache(mode); err != nil {
			return nil, err
		}
	}
	return fn(d, p)
}

// mountAll mounts the pseudo file systems the guest needs.
func mountAll() error {
	for _, m := range []struct{ src, dir, fs string }{
		{"proc", "/proc", "proc"},
		{"sysfs", "/sys", "sysfs"},
		{"devtmpfs", "/dev", "devtmpfs"},
	} {
		if err := os.MkdirAll(m.dir, 0o755); err != nil {
			return err
		}
		if err := unix.Mount(m.src, m.dir, m.fs, 0, ""); err != nil && err != unix.EBUSY {
			return fmt.Errorf("mount %s: %v", m.dir, err)
		}
	}
	return nil
}

// finish prints the result line and powers the machine off.
func finish(action string, fields []string, err error) {
	if err != nil {
		say("CCMBLK-FAIL action=%s err=%s", action, strconv.Quote(err.Error()))
	} else {
		say("CCMBLK-OK action=%s %s", action, strings.Join(fields, " "))
	}
	powerOff()
}

// powerOff syncs and powers the machine off.
func powerOff() {
	unix.Sync()
	_ = unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	// Power off failed; the kernel panics when init exits, and the host
	// runs QEMU with -no-reboot and panic=-1, so the machine still stops.
	os.Exit(1)
}

// say prints one line on the console in a single write.
func say(format string, a ...any) {
	_, _ = os.Stdout.WriteString(fmt.Sprintf(format, a...) + "\n")
}

// kv formats a key=value field of a marker line.
func kv(k string, v any) string {
	s := fmt.Sprint(v)
	if s == "" || strings.ContainsAny(s, " \t\"=") {
		s = strconv.Quote(s)
	}
	return k + "=" + s
}
