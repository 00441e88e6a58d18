package vmtest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Env locates what booting a VM needs.
type Env struct {
	QEMU     string // qemu-system-x86_64
	QSD      string // qemu-storage-daemon
	Kernel   string // the guest kernel (bzImage)
	Modules  string // directory tree holding the guest's .ko files
	Firmware string // -bios image; empty means QEMU's default
	Accel    string // "kvm" or "tcg"
	// QMPPython is the PYTHONPATH entry that holds QEMU's Python QMP
	// client, qemu.qmp (unpacked by tests/setup.sh).
	QMPPython string

	// KernelVerbose keeps the kernel's informational messages on the
	// console (CCMBLK_VM_VERBOSE=1); by default the guest boots "quiet".
	KernelVerbose bool
}

// DefaultVMDir is where tests/setup.sh unpacks the guest kernel unless
// CCMBLK_VM_DIR says otherwise.
const DefaultVMDir = "/var/tmp/ccmblk-vm"

// firmwareCandidates are the fast-booting qboot firmware images shipped with
// QEMU; the harness falls back to QEMU's default BIOS without them.
var firmwareCandidates = []string{"/usr/share/qemu/qboot.rom", "/usr/share/qemu-system-data/qboot.rom"}

// LoadEnv finds QEMU, the kernel and its modules, and picks the accelerator.
// A missing piece is an error that names the setup script.
func LoadEnv() (*Env, error) {
	e := &Env{}
	var err error
	if e.QEMU, err = findBinary("CCMBLK_QEMU", "qemu-system-x86_64"); err != nil {
		return nil, err
	}
	if e.QSD, err = findBinary("CCMBLK_QSD", "qemu-storage-daemon"); err != nil {
		return nil, err
	}
	dir := os.Getenv("CCMBLK_VM_DIR")
	if dir == "" {
		dir = DefaultVMDir
	}
	e.Kernel = filepath.Join(dir, "current", "vmlinuz")
	e.Modules = filepath.Join(dir, "current", "modules")
	e.QMPPython = filepath.Join(dir, "qemu-python")
	for _, p := range []string{e.Kernel, e.Modules, filepath.Join(e.QMPPython, "qemu", "qmp", "qmp_client.py")} {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("vmtest: %v (run tests/setup.sh first)", err)
		}
	}
	for _, fw := range firmwareCandidates {
		if _, err := os.Stat(fw); err == nil {
			e.Firmware = fw
			break
		}
	}
	e.KernelVerbose = os.Getenv("CCMBLK_VM_VERBOSE") == "1"
	switch a := os.Getenv("CCMBLK_ACCEL"); a {
	case "":
		e.Accel = probeAccel()
	case "kvm", "tcg":
		e.Accel = a
	default:
		return nil, fmt.Errorf("vmtest: CCMBLK_ACCEL=%q, want kvm or tcg", a)
	}
	return e, nil
}

// QMPPythonCommand returns python3 running args with QEMU's Python QMP
// client, qemu.qmp, on its PYTHONPATH.
func (e *Env) QMPPythonCommand(args ...string) *exec.Cmd {
	cmd := exec.Command("python3", args...)
	cmd.Env = append(os.Environ(), "PYTHONPATH="+e.QMPPython)
	return cmd
}

// findBinary returns $envVar if set, else name looked up in PATH.
func findBinary(envVar, name string) (string, error) {
	if p := os.Getenv(envVar); p != "" {
		return p, nil
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("vmtest: %s not found (run tests/setup.sh or set %s): %v", name, envVar, err)
	}
	return p, nil
}

// probeAccel picks KVM only when the CPU offers hardware virtualisation
// (VMX or SVM) and /dev/kvm opens: a /dev/kvm backed by another mechanism
// cannot run a stock kernel, and the guest would hang instead of failing.
func probeAccel() string {
	info, err := os.ReadFile("/proc/cpuinfo")
	if err != nil || !hasCPUFlag(info, "vmx") && !hasCPUFlag(info, "svm") {
		return "tcg"
	}
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return "tcg"
	}
	_ = f.Close()
	return "kvm"
}

// hasCPUFlag reports whether a flags line of /proc/cpuinfo lists flag.
func hasCPUFlag(cpuinfo []byte, flag string) bool {
	for _, line := range bytes.Split(cpuinfo, []byte("\n")) {
		name, rest, ok := bytes.Cut(line, []byte(":"))
		if !ok || string(bytes.TrimSpace(name)) != "flags" {
			continue
		}
		for _, f := range bytes.Fields(rest) {
			if string(f) == flag {
				return true
			}
		}
	}
	return false
}

// RepoRoot returns the directory of the module's go.mod, found from the
// current directory.
func RepoRoot() (string, error) {
	out, err := exec.Command(goTool(), "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("vmtest: go env GOMOD: %v", err)
	}
	mod := string(bytes.TrimSpace(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("vmtest: not inside the ccmblk module")
	}
	return filepath.Dir(mod), nil
}

// goTool returns the go command to build with.
func goTool() string {
	if root := os.Getenv("GOROOT"); root != "" {
		if p := filepath.Join(root, "bin", "go"); fileExists(p) {
			return p
		}
	}
	return "go"
}

// fileExists reports whether path names an existing file.
func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// TestdataDir returns the directory of the mirage-ccm reference images:
// $CCMBLK_TESTDATA, or the repository's tests/testdata/mirage-ccm.
func TestdataDir() (string, error) {
	if d := os.Getenv("CCMBLK_TESTDATA"); d != "" {
		return d, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	d := filepath.Join(root, "tests", "testdata", "mirage-ccm")
	if !fileExists(d) {
		return "", fmt.Errorf("vmtest: reference images not found at %s (set CCMBLK_TESTDATA)", d)
	}
	return d, nil
}
