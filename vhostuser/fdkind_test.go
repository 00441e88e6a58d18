package vhostuser

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

func TestCheckSealedMemfd(t *testing.T) {
	sealed := func(seals int) int {
		fd, err := unix.MemfdCreate("sealed", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = unix.Close(fd) })
		if err := unix.Ftruncate(fd, 8192); err != nil {
			t.Fatal(err)
		}
		if seals != 0 {
			if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals); err != nil {
				t.Fatal(err)
			}
		}
		return fd
	}
	qemu := sealed(unix.F_SEAL_GROW | unix.F_SEAL_SHRINK | unix.F_SEAL_SEAL)
	if err := checkSealedMemfd(qemu, 8192); err != nil {
		t.Errorf("memfd sealed as QEMU seals it: %v", err)
	}
	if err := checkSealedMemfd(qemu, 8193); err == nil {
		t.Error("memfd shorter than needed accepted")
	}
	if err := checkSealedMemfd(sealed(unix.F_SEAL_GROW), 4096); err == nil {
		t.Error("memfd that may shrink accepted")
	}
	f, err := os.CreateTemp("/dev/shm", "sealed-*")
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if err := f.Truncate(8192); err != nil {
		t.Fatal(err)
	}
	if err := checkSealedMemfd(int(f.Fd()), 4096); err == nil {
		t.Error("unsealed tmpfs file accepted")
	}
	if err := checkSealedMemfd(eventFDs(t, 1)[0], 0); err == nil {
		t.Error("eventfd accepted")
	}
}
