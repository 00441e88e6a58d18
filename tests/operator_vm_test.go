//go:build integration

package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestSocketActivatedVM runs the daemon under systemd-socket-activate,
// which makes the socket and starts the daemon with it (LISTEN_FDS) when
// QEMU connects; the guest writes and reads the disk through it.
func TestSocketActivatedVM(t *testing.T) {
	t.Parallel()
	env, initrd := vmEnv(t)
	activate, err := exec.LookPath("systemd-socket-activate")
	if err != nil {
		t.Fatalf("systemd-socket-activate not found (tests/setup.sh installs systemd): %v", err)
	}
	dir := t.TempDir()
	im := newFreshImage(t, dir, 4<<20)
	sock := socketPath(t)
	args := []string{activate, "--listen=" + sock, daemonBinary(t), "--blk-file", im.path,
		"--key-file", im.key, "--num-queues", "1", "--logtostderr"}
	d := startDaemon(t, sock, args)
	m := runGuest(t, env, initrd, d, "write", map[string]string{"seed": "3"})
	checkField(t, m, "size", strconv.FormatUint(im.size, 10))
	checkField(t, m, "ro", "0")
	stopBackend(t, d)
	im.check(t)
}

// loopDevice attaches file to a free loop device and returns its path; a
// cleanup detaches it.
func loopDevice(t *testing.T, file string) string {
	t.Helper()
	out, err := exec.Command("losetup", "--find", "--show", file).CombinedOutput()
	if err != nil {
		t.Fatalf("losetup --find --show %s (needs root and /dev/loop-control): %v: %s", file, err, out)
	}
	dev := strings.TrimSpace(string(out))
	t.Logf("attached %s to %s", file, dev)
	t.Cleanup(func() {
		if out, err := exec.Command("losetup", "--detach", dev).CombinedOutput(); err != nil {
			t.Errorf("losetup --detach %s: %v: %s", dev, err, out)
		}
	})
	return dev
}

// TestBlockDeviceCCM serves a CCM image from a loop device, as from a
// block device the host maps (krbd, iSCSI, NVMe-oF): the guest sees the
// capacity, writes with a flush, a read-only daemon then shows exactly the
// data written and no write passes, and the image on the device checks on
// the host.
func TestBlockDeviceCCM(t *testing.T) {
	t.Parallel()
	env, initrd := vmEnv(t)
	dir := t.TempDir()
	im := newFreshImage(t, dir, 4<<20)
	dev := loopDevice(t, im.path)
	onDev := freshImage{path: dev, key: im.key, size: im.size}

	sock := socketPath(t)
	d := startDaemon(t, sock, onDev.daemonArgs(t, sock))
	w := runGuest(t, env, initrd, d, "write", map[string]string{"seed": "5"})
	checkField(t, w, "size", strconv.FormatUint(im.size, 10))
	checkField(t, w, "ro", "0")
	stopBackend(t, d)

	d = startDaemon(t, sock, append(onDev.daemonArgs(t, sock), "--read-only"))
	r := runGuest(t, env, initrd, d, "rocheck", nil)
	checkField(t, r, "ro", "1")
	checkField(t, r, "sha256", w.Get("sha256"))
	stopBackend(t, d)
	onDev.check(t)
}

// TestBlockDeviceRaw serves a raw image from a loop device: capacity,
// writes with a flush that reach the device, and read-only as with a file.
func TestBlockDeviceRaw(t *testing.T) {
	t.Parallel()
	env, initrd := vmEnv(t)
	const size = 4 << 20
	file := filepath.Join(t.TempDir(), "raw.img")
	if err := os.WriteFile(file, make([]byte, size), 0o600); err != nil {
		t.Fatal(err)
	}
	dev := loopDevice(t, file)
	sock := socketPath(t)
	args := []string{daemonBinary(t), "--socket-path", sock, "--blk-file", dev, "--format", "raw", "--num-queues", "1", "--logtostderr"}
	d := startDaemon(t, sock, args)
	w := runGuest(t, env, initrd, d, "write", map[string]string{"seed": "9"})
	checkField(t, w, "size", strconv.Itoa(size))
	stopBackend(t, d)
	// What the guest flushed is on the device.
	if got := fileSHA256(t, dev); got != w.Get("sha256") {
		t.Errorf("device holds sha256 %s, the guest wrote %s", got, w.Get("sha256"))
	}
	d = startDaemon(t, sock, append(args, "--read-only"))
	r := runGuest(t, env, initrd, d, "rocheck", nil)
	checkField(t, r, "ro", "1")
	checkField(t, r, "sha256", w.Get("sha256"))
	stopBackend(t, d)
}

// TestResizeBlockDevice grows a CCM and a raw image that live on a loop
// device through block_resize: refused while the device is too small,
// accepted once the device grew (losetup --set-capacity, as after
// growing an RBD image or a LUN). The guest that boots afterwards sees the
// new size and writes its last sector; on the host the grown range reads
// as zeros, the CCM image checks clean (the growth is encrypted zero
// sectors) and the OpenSSL oracle decrypts it.
func TestResizeBlockDevice(t *testing.T) {
	t.Parallel()
	for _, format := range []string{"ccm", "raw"} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			var file, dev string
			var args []string
			var im freshImage
			perByte := int64(1) // bytes on the device per guest-visible byte
			sock, qsock := socketPath(t), socketPath(t)
			switch format {
			case "ccm":
				im = newFreshImage(t, dir, resizeFrom)
				file, dev = im.path, loopDevice(t, im.path)
				args = freshImage{path: dev, key: im.key, size: im.size}.daemonArgs(t, sock)
				perByte = 2
			case "raw":
				file = filepath.Join(dir, "raw.img")
				if err := os.WriteFile(file, make([]byte, resizeFrom), 0o600); err != nil {
					t.Fatal(err)
				}
				dev = loopDevice(t, file)
				args = []string{daemonBinary(t), "--socket-path", sock, "--blk-file", dev, "--format", "raw", "--num-queues", "1", "--logtostderr"}
			}
			d := startDaemon(t, sock, append(args, "--qmp-socket", qsock))
			q := qmpConnect(t, qsock)
			grow := map[string]any{"size": resizeTo}
			if _, err := q.Execute("block_resize", grow); err == nil || !strings.Contains(err.Error(), "device holds") {
				t.Fatalf("block_resize beyond the device: %v, want an error saying what the device holds", err)
			}
			if err := os.Truncate(file, perByte*resizeTo); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command("losetup", "--set-capacity", dev).CombinedOutput(); err != nil {
				t.Fatalf("losetup --set-capacity %s: %v: %s", dev, err, out)
			}
			if _, err := q.Execute("block_resize", grow); err != nil {
				t.Fatalf("block_resize once the device grew: %v", err)
			}
			m := finishGuest(t, startResizeGuest(t, d, map[string]string{}))
			checkField(t, m, "old", strconv.Itoa(resizeTo))
			checkResized(t, m)
			stopBackend(t, d)
			if format == "raw" {
				got, err := os.ReadFile(dev)
				if err != nil {
					t.Fatal(err)
				}
				checkGrownPlain(t, got, 512)
				return
			}
			freshImage{path: dev, key: im.key}.check(t)
			checkGrownPlain(t, im.oraclePlaintext(t), 512)
		})
	}
}
