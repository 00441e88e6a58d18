//go:build integration

package tests

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/ccmblk/ccmblk/tests/vmtest"
)

// libvirtURI is the system libvirt daemon, whose QEMU runs as libvirt-qemu.
const libvirtURI = "qemu:///system"

// virsh runs virsh against libvirtURI and returns its output.
func virsh(args ...string) (string, error) {
	out, err := exec.Command("virsh", append([]string{"-c", libvirtURI}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("virsh %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// ensureLibvirt makes sure a libvirt daemon answers on libvirtURI. With
// none running (as on a machine without systemd as init) it starts
// virtlogd and libvirtd itself, says so, and stops them when the test ends.
func ensureLibvirt(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("virsh"); err != nil {
		t.Fatalf("virsh not found (tests/setup.sh installs libvirt-clients and libvirt-daemon-system): %v", err)
	}
	if out, err := virsh("version"); err == nil {
		t.Logf("libvirt already running:\n%s", out)
		return
	}
	dir := t.TempDir()
	for _, d := range []string{"virtlogd", "libvirtd"} {
		pidFile := filepath.Join(dir, d+".pid")
		if out, err := exec.Command(d, "--daemon", "--pid-file", pidFile).CombinedOutput(); err != nil {
			t.Fatalf("no libvirt daemon answers on %s and starting %s failed: %v: %s", libvirtURI, d, err, out)
		}
		t.Logf("no libvirt daemon was running: started %s --daemon (pid file %s); it is stopped at the end", d, pidFile)
		t.Cleanup(func() {
			b, err := os.ReadFile(pidFile)
			if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && perr == nil {
				_ = syscall.Kill(pid, syscall.SIGTERM)
				t.Logf("stopped %s (pid %d)", d, pid)
			}
		})
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := virsh("version")
		if err == nil {
			t.Logf("%s", out)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("libvirtd started but does not answer: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// libvirtDomain is the domain of TestLibvirt; the README shows its disk
// and memory parts.
var libvirtDomain = template.Must(template.New("domain").Parse(`<domain type='qemu'>
  <name>{{.Name}}</name>
  <memory unit='MiB'>256</memory>
  <vcpu placement='static' current='1'>2</vcpu>
  <memoryBacking>
    <source type='memfd'/>
    <access mode='shared'/>
  </memoryBacking>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <kernel>{{.Kernel}}</kernel>
    <initrd>{{.Initrd}}</initrd>
    <cmdline>{{.Cmdline}}</cmdline>
  </os>
  <cpu mode='maximum' check='none'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>{{.Emulator}}</emulator>
    <disk type='vhostuser' device='disk'>
      <driver name='qemu' type='raw' queues='2'/>
      <source type='unix' path='{{.Socket}}'>
        <reconnect enabled='yes' timeout='1'/>
      </source>
      <target dev='vda' bus='virtio'/>
    </disk>
    <serial type='file'>
      <source path='{{.Console}}'/>
      <target port='0'/>
    </serial>
    <memballoon model='none'/>
  </devices>
</domain>
`))

// console follows the guest's serial console file.
type console struct {
	t    *testing.T
	path string
	seen int // lines logged so far
}

// markers returns the markers on the console so far, logging new lines.
func (c *console) markers() []vmtest.Marker {
	b, _ := os.ReadFile(c.path)
	var out []vmtest.Marker
	sc := bufio.NewScanner(bytes.NewReader(b))
	n := 0
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if n++; n > c.seen {
			c.t.Logf("libvirt-guest: %s", line)
			c.seen = n
		}
		if m, ok := vmtest.ParseMarker(line); ok {
			out = append(out, m)
		}
	}
	return out
}

// wait polls until the console shows count markers of kind, failing on a
// CCMBLK-FAIL line or at the deadline.
func (c *console) wait(kind string, count int, deadline time.Time) []vmtest.Marker {
	c.t.Helper()
	for {
		var got []vmtest.Marker
		for _, m := range c.markers() {
			if m.Kind == vmtest.MarkerFail {
				c.t.Fatalf("guest failed: %s", m.Line)
			}
			if m.Kind == kind {
				got = append(got, m)
			}
		}
		if len(got) >= count {
			return got
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("console shows %d %s markers, want %d", len(got), kind, count)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestLibvirt drives libvirt 9.0 as an operator would: a TCG domain with
// shared memfd memory and a vhostuser disk (2 queues, reconnect) on the
// daemon's socket, which the daemon gives to libvirt's QEMU user's group.
// QEMU runs as libvirt-qemu; the guest writes and reads the encrypted disk
// while the daemon is restarted under it twice, after SIGTERM and after
// SIGKILL; virsh shutdown ends the domain (the guest powers off on the
// ACPI power button); the host then checks every sector of the image.
func TestLibvirt(t *testing.T) {
	env, initrd := vmEnv(t)
	ensureLibvirt(t)
	qemuUser, err := user.Lookup("libvirt-qemu")
	if err != nil {
		t.Fatalf("no user libvirt-qemu (libvirt-daemon-system makes it): %v", err)
	}

	// Kernel, initramfs and socket where libvirt-qemu may read them.
	pub, err := os.MkdirTemp("", "ccmblk-libvirt-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(pub) })
	if err := os.Chmod(pub, 0o755); err != nil {
		t.Fatal(err)
	}
	kernel := copyFile(t, env.Kernel, pub, "vmlinuz")
	initrdCopy := copyFile(t, initrd, pub, "initrd")
	for _, f := range []string{kernel, initrdCopy} {
		if err := os.Chmod(f, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sock := filepath.Join(pub, "disk.sock")
	consoleFile := filepath.Join(pub, "console.log")

	dir := t.TempDir()
	im := newFreshImage(t, dir, 4<<20)
	args := []string{daemonBinary(t), "--socket-path", sock, "--socket-group", "libvirt-qemu", "--socket-mode", "0660",
		"--blk-file", im.path, "--key-file", im.key, "--num-queues", "2", "--logtostderr"}
	d := startDaemon(t, sock, args)

	name := fmt.Sprintf("ccmblk-test-%d", os.Getpid())
	var xml bytes.Buffer
	err = libvirtDomain.Execute(&xml, map[string]string{
		"Name": name, "Kernel": kernel, "Initrd": initrdCopy, "Emulator": env.QEMU,
		"Socket": sock, "Console": consoleFile,
		"Cmdline": "console=ttyS0 panic=-1 quiet ccmblk.action=bench ccmblk.cases=randwrite4k,randread4k,randwrite4k ccmblk.seconds=3 ccmblk.qd=8 ccmblk.poweroff=button ccmblk.timeout=100",
	})
	if err != nil {
		t.Fatal(err)
	}
	xmlFile := filepath.Join(dir, "domain.xml")
	if err := os.WriteFile(xmlFile, xml.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("domain:\n%s", xml.String())
	if _, err := virsh("define", xmlFile); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = virsh("destroy", name)
		if _, err := virsh("undefine", name); err != nil {
			t.Error(err)
		}
		if b, err := os.ReadFile("/var/log/libvirt/qemu/" + name + ".log"); err == nil {
			t.Logf("libvirt's QEMU log:\n%s", b)
		}
	})
	if _, err := virsh("start", name); err != nil {
		t.Fatal(err)
	}

	// QEMU runs as libvirt's unprivileged user.
	pidText, err := os.ReadFile("/run/libvirt/qemu/" + name + ".pid")
	if err != nil {
		t.Fatal(err)
	}
	status, err := os.ReadFile("/proc/" + strings.TrimSpace(string(pidText)) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if f := strings.Fields(line); len(f) >= 3 && f[0] == "Uid:" && f[2] != qemuUser.Uid {
			t.Errorf("QEMU runs as uid %s, want libvirt-qemu (%s)", f[2], qemuUser.Uid)
		}
	}

	c := &console{t: t, path: consoleFile}
	deadline := time.Now().Add(vmTimeout)
	// Restart the daemon a second into the first case (SIGTERM: graceful)
	// and into the second (SIGKILL: nothing flushed, socket left behind).
	c.wait(vmtest.MarkerStart, 1, deadline)
	time.Sleep(time.Second)
	stopBackend(t, d)
	d = startDaemon(t, sock, args)
	c.wait(vmtest.MarkerStart, 2, deadline)
	time.Sleep(time.Second)
	if err := syscall.Kill(d.Pid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = d.Wait()
	d = startDaemon(t, sock, args)
	ok := c.wait(vmtest.MarkerOK, 1, deadline)
	t.Logf("guest result: %s", ok[0].Line)
	benches := c.wait(vmtest.MarkerBench, 3, deadline)
	for _, b := range benches {
		if ios, err := strconv.ParseUint(b.Get("ios"), 10, 64); err != nil || ios == 0 {
			t.Errorf("bench case %s completed no requests: %s", b.Get("case"), b.Line)
		}
	}
	// The guest stays up for the operator's shutdown: virsh shutdown
	// presses the ACPI power button, the guest sees it and powers off,
	// and libvirt ends the domain.
	c.wait(vmtest.MarkerReady, 1, deadline)
	if _, err := virsh("shutdown", name); err != nil {
		t.Fatal(err)
	}
	c.wait("CCMBLK-POWERBUTTON", 1, deadline)
	for {
		state, err := virsh("domstate", name)
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(state) == "shut off" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("domain still %q after virsh shutdown", strings.TrimSpace(state))
		}
		time.Sleep(200 * time.Millisecond)
	}
	stopBackend(t, d)
	im.check(t)
}
