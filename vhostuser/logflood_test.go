package vhostuser_test

import (
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ccmblk/ccmblk/vhostuser"
	"github.com/ccmblk/ccmblk/vhostuser/vhostusertest"
)

// captureStderr runs f with the process's standard error (where glog
// writes in these tests) going to a file, and returns what was written.
func captureStderr(t *testing.T, f func()) string {
	t.Helper()
	tmp, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	defer tmp.Close()
	saved, err := unix.Dup(2)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Dup2(int(tmp.Fd()), 2); err != nil {
		t.Fatal(err)
	}
	func() {
		defer func() {
			_ = unix.Dup2(saved, 2)
			_ = unix.Close(saved)
		}()
		f()
	}()
	b, err := os.ReadFile(tmp.Name())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// maxFloodLog bounds what a flood may write: the limiter's burst and a few
// lines a second for the flood's duration, about 100 bytes each.
const maxFloodLog = 32 << 10

// TestLogFloods: accepted messages repeated by the ten thousand, and
// reconnections, write a bounded amount of log.
func TestLogFloods(t *testing.T) {
	d := startDaemon(t, vhostuser.ServerOptions{})
	floods := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"SET_FEATURES", func(t *testing.T) {
			fe, _ := d.dial(t, vhostusertest.Options{})
			if _, err := fe.Init(); err != nil {
				t.Fatal(err)
			}
			for i := range 20000 {
				if err := fe.Set(vhostuser.SetFeatures, false, u64(fakeFeatures>>(i%2)&fakeFeatures)); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := fe.GetU64(vhostuser.GetFeatures); err != nil {
				t.Fatal(err)
			}
			_ = fe.Close()
		}},
		{"SET_VRING_ENABLE", func(t *testing.T) {
			fe, _ := d.dial(t, vhostusertest.Options{})
			if _, err := fe.Init(); err != nil {
				t.Fatal(err)
			}
			if err := fe.Start(fakeFeatures, rings(t, fe, 1)...); err != nil {
				t.Fatal(err)
			}
			for i := range 64000 {
				if err := fe.Set(vhostuser.SetVringEnable, false, vhostusertest.VringState(0, uint32(i%2))); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := fe.GetU64(vhostuser.GetFeatures); err != nil {
				t.Fatal(err)
			}
			_ = fe.Close()
		}},
		{"reconnect", func(t *testing.T) {
			for range 2000 {
				fe, _ := d.dial(t, vhostusertest.Options{})
				if _, err := fe.GetU64(vhostuser.GetFeatures); err != nil {
					t.Fatal(err)
				}
				_ = fe.Close()
			}
		}},
	}
	for _, f := range floods {
		t.Run(f.name, func(t *testing.T) {
			out := captureStderr(t, func() { f.run(t) })
			t.Logf("%d bytes, %d lines of log", len(out), strings.Count(out, "\n"))
			if len(out) > maxFloodLog {
				t.Errorf("flood wrote %d bytes of log, %d lines; at most %d bytes expected", len(out), strings.Count(out, "\n"), maxFloodLog)
			}
			d.serves(t)
		})
	}
}
