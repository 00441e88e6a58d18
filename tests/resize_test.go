//go:build integration

package tests

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ccmblk/ccmblk/tests/pattern"
	"github.com/ccmblk/ccmblk/tests/qmpclient"
	"github.com/ccmblk/ccmblk/tests/vmtest"
)

// The resize tests grow a disk from resizeFrom to resizeTo bytes while a
// guest runs the resize action (tests/guest/resize.go), which writes the
// new last sector with the pattern of resizeSeed.
const (
	resizeFrom = 16 << 20
	resizeTo   = 24 << 20
	resizeSeed = 11
)

// socatQMP sends lines to the QMP socket at path through socat, as a user
// types them, and returns every line QMP answered, the greeting first.
func socatQMP(t *testing.T, path string, lines ...string) []map[string]any {
	t.Helper()
	socat, err := exec.LookPath("socat")
	if err != nil {
		t.Fatalf("socat not found (run tests/setup.sh): %v", err)
	}
	cmd := exec.Command(socat, "-t", "60", "-", "UNIX-CONNECT:"+path)
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("socat: %v\n%s", err, out)
	}
	var msgs []map[string]any
	for _, l := range strings.SplitAfter(string(out), "\r\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("QMP line %q: %v", l, err)
		}
		msgs = append(msgs, m)
	}
	if len(msgs) != len(lines)+1 {
		t.Fatalf("socat: %d lines in, %d out:\n%s", len(lines), len(msgs), out)
	}
	return msgs
}

// pythonQMP runs commands (a name, then its arguments as JSON if any) on
// the QMP socket at path with QEMU's own Python client, qemu.qmp, through
// tests/python/qmp_execute.py, and returns each command's return value. A
// command QMP answers with an error fails the test.
func pythonQMP(t *testing.T, path string, commands ...string) []any {
	t.Helper()
	env, _ := vmEnv(t)
	out, err := env.QMPPythonCommand(append([]string{filepath.Join("python", "qmp_execute.py"), path}, commands...)...).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("qemu.qmp %v: %v\n%s%s", commands, err, out, stderr)
	}
	var rets []any
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.UseNumber()
	for dec.More() {
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("qemu.qmp output %q: %v", out, err)
		}
		rets = append(rets, v)
	}
	return rets
}

// qmpConnect connects a QMP client to path and negotiates capabilities.
func qmpConnect(t *testing.T, path string) *qmpclient.Client {
	t.Helper()
	q, err := qmpclient.Connect(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = q.Close() })
	return q
}

// checkResized checks the resize action's marker: the guest saw the disk
// reach resizeTo in sysfs and with BLKGETSIZE64.
func checkResized(t *testing.T, m vmtest.Marker) {
	t.Helper()
	checkField(t, m, "new", strconv.Itoa(resizeTo))
	checkField(t, m, "ioctl", strconv.Itoa(resizeTo))
	t.Logf("guest saw the new size after %s ms", m.Get("waited_ms"))
}

// checkGrownPlain checks the plaintext of a grown disk: resizeTo bytes,
// the bytes grown zero except the last sector, which holds the guest's
// pattern.
func checkGrownPlain(t *testing.T, plain []byte, sector int) {
	t.Helper()
	if len(plain) != resizeTo {
		t.Fatalf("plaintext of %d bytes, want %d", len(plain), resizeTo)
	}
	last := resizeTo - sector
	want := make([]byte, sector)
	pattern.Fill(want, resizeSeed, uint64(last))
	if !bytes.Equal(plain[last:], want) {
		t.Error("the new last sector does not hold what the guest wrote")
	}
	if i := bytes.IndexFunc(plain[resizeFrom:last], func(r rune) bool { return r != 0 }); i >= 0 {
		t.Errorf("grown byte %d is not zero", resizeFrom+i)
	}
}

// resizeDaemon makes a fresh CCM image of resizeFrom bytes in dir and
// serves it with a control socket and the extra flags.
func resizeDaemon(t *testing.T, dir string, extra ...string) (freshImage, *vmtest.Backend, string) {
	t.Helper()
	im := newFreshImage(t, dir, resizeFrom)
	sock, qsock := socketPath(t), socketPath(t)
	d := startDaemon(t, sock, append(im.daemonArgs(t, sock), append([]string{"--qmp-socket", qsock}, extra...)...))
	return im, d, qsock
}

// startResizeGuest boots a guest running the resize action on d's disk.
func startResizeGuest(t *testing.T, d *vmtest.Backend, params map[string]string) *vmtest.VM {
	t.Helper()
	env, initrd := vmEnv(t)
	params["want"] = strconv.Itoa(resizeTo)
	vm, err := vmtest.StartVM(testContext(t), t, env, vmtest.VMOptions{
		Name: "guest-resize", Initramfs: initrd, Action: "resize", Params: params, Backend: d,
	})
	if err != nil {
		t.Fatal(err)
	}
	return vm
}

// finishGuest waits for the guest's result and QEMU's exit.
func finishGuest(t *testing.T, vm *vmtest.VM) vmtest.Marker {
	t.Helper()
	m, err := vm.Result(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := vm.Wait(); err != nil {
		t.Errorf("qemu: %v", err)
	}
	return m
}

// TestResizeOnline grows a default CCM image while the guest runs: the
// guest waits for its cue, the host sends block_resize with QEMU's own
// Python QMP client (qemu.qmp), and the reply comes once QEMU has read the
// new capacity. The guest sees the
// new size without a reboot (sysfs and BLKGETSIZE64), writes and reads its
// new last sector; ccmblock check finds every sector authentic, and the
// OpenSSL oracle decrypts what the guest wrote, with encrypted zeros in
// between. query-blockstats counts the guest's write.
func TestResizeOnline(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	im, d, qsock := resizeDaemon(t, dir)
	vm := startResizeGuest(t, d, map[string]string{})
	if _, err := vm.Expect(testContext(t), vmtest.MarkerReady); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	pythonQMP(t, qsock, "block_resize", `{"node-name": "disk0", "size": `+strconv.Itoa(resizeTo)+`}`)
	t.Logf("block_resize returned after %v", time.Since(start))
	m := finishGuest(t, vm)
	checkField(t, m, "old", strconv.Itoa(resizeFrom))
	checkResized(t, m)

	stats := pythonQMP(t, qsock, "query-blockstats")
	total := stats[0].([]any)[0].(map[string]any)["stats"].(map[string]any)
	if n, _ := total["wr_bytes"].(json.Number).Int64(); n < 512 {
		t.Errorf("query-blockstats: wr_bytes %v after the guest's write", total["wr_bytes"])
	}
	stopBackend(t, d)

	im.size = resizeTo
	im.check(t)
	plain := filepath.Join(dir, "plain.img")
	oracleDecrypt(t, im.path, plain, "--key-file", im.key)
	got, err := os.ReadFile(plain)
	if err != nil {
		t.Fatal(err)
	}
	checkGrownPlain(t, got, 512)
}

// TestResizeDriverUnbound grows the disk while QEMU is connected but the
// guest has not bound its driver (the vhost-user device is not started):
// QEMU 7.2 ignores a notice then, so block_resize (typed through socat, as
// a user would) returns with the notice queued, and the daemon sends it at
// the device start that follows. QEMU
// read the old size when it started and never reads it again on its own,
// so only that notice can show the guest the new size (which its driver
// may already see at probe, or just after).
func TestResizeDriverUnbound(t *testing.T) {
	t.Parallel()
	im, d, qsock := resizeDaemon(t, t.TempDir(), "--sparse")
	vm := startResizeGuest(t, d, map[string]string{"hold": "4"})
	if m, err := vm.Expect(testContext(t), vmtest.MarkerReady); err != nil || m.Get("stage") != "unbound" {
		t.Fatalf("guest cue: %v %v", m.Line, err)
	}
	r := socatQMP(t, qsock,
		`{"execute": "qmp_capabilities"}`,
		`{"execute": "block_resize", "arguments": {"device": "disk0", "size": `+strconv.Itoa(resizeTo)+`}, "id": "grow"}`)
	if _, err := qmpclient.Reply(r[2]); err != nil || r[2]["id"] != "grow" {
		t.Fatalf("block_resize: %v (reply %v)", err, r[2])
	}
	checkResized(t, finishGuest(t, vm))
	stopBackend(t, d)
	runCCMBlock(t, "check", "--sparse", "-i", im.path, "--key-file", im.key)
}

// TestResizeNoFrontEnd grows a raw image while no front end is connected;
// the guest that boots afterwards gets the new size and writes its last
// sector into the file.
func TestResizeNoFrontEnd(t *testing.T) {
	t.Parallel()
	img := filepath.Join(t.TempDir(), "raw.img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, resizeFrom); err != nil {
		t.Fatal(err)
	}
	sock, qsock := socketPath(t), socketPath(t)
	d := startDaemon(t, sock, []string{daemonBinary(t), "--socket-path", sock, "--blk-file", img, "--format", "raw",
		"--num-queues", "1", "--qmp-socket", qsock, "--logtostderr"})
	if _, err := qmpConnect(t, qsock).Execute("block_resize", map[string]any{"size": resizeTo}); err != nil {
		t.Fatal(err)
	}
	m := finishGuest(t, startResizeGuest(t, d, map[string]string{}))
	checkField(t, m, "old", strconv.Itoa(resizeTo))
	checkResized(t, m)
	stopBackend(t, d)
	got, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	checkGrownPlain(t, got, 512)
}
