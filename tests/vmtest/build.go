package vmtest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// GuestModules are the modules the guest loads (with their dependencies):
// the virtio PCI transport, the virtio-blk driver, and the ACPI power
// button with evdev, through which a guest with ccmblk.poweroff=button
// sees the host's power-down request (virsh shutdown).
var GuestModules = []string{"virtio_pci", "virtio_blk", "button", "evdev"}

// GoBuild builds the main package pkg (relative to the repository root, e.g.
// "./cmd/vhost-user-blk-ccm") into out as a static binary.
func GoBuild(pkg, out string) error {
	root, err := RepoRoot()
	if err != nil {
		return err
	}
	cmd := exec.Command(goTool(), "build", "-trimpath", "-o", out, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("vmtest: go build %s: %v\n%s", pkg, err, stderr.Bytes())
	}
	return nil
}

// BuildInitramfs builds the guest program and writes dir/initramfs.cpio: the
// guest as /init, /dev/console, mount points, and the modules of
// GuestModules with their dependencies as /ccmblk/modules/NN-name.ko in load
// order. It returns the archive's path.
func BuildInitramfs(env *Env, dir string) (string, error) {
	initPath := filepath.Join(dir, "init")
	if err := GoBuild("./tests/guest", initPath); err != nil {
		return "", err
	}
	initBin, err := os.ReadFile(initPath)
	if err != nil {
		return "", err
	}
	idx, err := indexModules(env.Modules)
	if err != nil {
		return "", err
	}
	order, err := loadOrder(GuestModules, func(name string) ([]string, error) {
		path, ok := idx[name]
		if !ok {
			return nil, fmt.Errorf("vmtest: module %s not in %s (run tests/setup.sh)", name, env.Modules)
		}
		return moduleDepends(path)
	})
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "initramfs.cpio")
	f, err := os.Create(out)
	if err != nil {
		return "", err
	}
	w := &cpioWriter{w: f}
	for _, d := range []string{"dev", "proc", "sys", "ccmblk", "ccmblk/modules"} {
		w.Dir(d)
	}
	w.CharDev("dev/console", 5, 1)
	for i, name := range order {
		data, err := os.ReadFile(idx[name])
		if err != nil {
			_ = f.Close()
			return "", err
		}
		w.File(fmt.Sprintf("ccmblk/modules/%02d-%s.ko", i, name), 0o644, data)
	}
	w.File("init", 0o755, initBin)
	if err := w.Close(); err != nil {
		_ = f.Close()
		return "", fmt.Errorf("vmtest: write %s: %v", out, err)
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return out, nil
}
