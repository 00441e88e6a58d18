package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// buildBinary builds the command into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ccmblock")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// exitCode runs cmd and returns its exit status and combined output.
func exitCode(t *testing.T, cmd *exec.Cmd) (int, string) {
	t.Helper()
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out)
	case errors.As(err, &ee):
		return ee.ExitCode(), string(out)
	default:
		t.Fatalf("%v: %v", cmd.Args, err)
		return -1, ""
	}
}

func TestBinary(t *testing.T) {
	bin := buildBinary(t)
	u := upstreamImages[0]
	dir := t.TempDir()

	out := filepath.Join(dir, "plain.img")
	code, text := exitCode(t, exec.Command(bin, "dec", "-k", "0x"+u.key, "-i", u.enc(t), "-o", out))
	if code != 0 || !strings.Contains(text, "warning: --key puts the key in the process list") {
		t.Errorf("dec -k: exit %d, output %q", code, text)
	}
	assertSame(t, readFile(t, out), readFile(t, u.plain(t)))

	key := writeKeyFile(t, []byte(u.key))
	tampered := filepath.Join(testdataDir(t), "a128-m16-n8-s512.tampered-s17.enc.img")
	code, text = exitCode(t, exec.Command(bin, "dec", "--key-file", key, "-i", tampered, "-o", filepath.Join(dir, "t.img")))
	if code != 1 || !strings.Contains(text, "bad sectors: 17\n") {
		t.Errorf("dec of the tampered image: exit %d, output %q", code, text)
	}
	code, _ = exitCode(t, exec.Command(bin, "dec", "--mac-len", "3", "--key-file", key, "-i", tampered, "-o", filepath.Join(dir, "u.img")))
	if code != 2 {
		t.Errorf("bad flag: exit %d, want 2", code)
	}
	// Progress goes to a terminal only: with stderr a pipe, a plain run
	// prints nothing.
	cmd := exec.Command(bin, "check", "--key-file", key, "-i", u.enc(t))
	cmd.Stdout = nil
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil || stderr.Len() != 0 {
		t.Errorf("check: %v, stderr %q", err, stderr.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "u.img")); !os.IsNotExist(err) {
		t.Errorf("output created despite a bad flag: %v", err)
	}
}
