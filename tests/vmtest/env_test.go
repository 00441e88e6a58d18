package vmtest

import (
	"os"
	"syscall"
	"testing"
	"time"
)

func TestHasCPUFlag(t *testing.T) {
	info := []byte("processor\t: 0\nflags\t\t: fpu vme sse2 vmx hypervisor\nbugs\t\t: spectre_v1\n")
	for flag, want := range map[string]bool{"vmx": true, "fpu": true, "svm": false, "vm": false, "spectre_v1": false} {
		if got := hasCPUFlag(info, flag); got != want {
			t.Errorf("hasCPUFlag(%q) = %v, want %v", flag, got, want)
		}
	}
}

func TestShellQuote(t *testing.T) {
	got := shellQuote([]string{"qemu", "-append", "console=ttyS0 quiet", "it's", "", "a,b=c/d"})
	want := `qemu -append 'console=ttyS0 quiet' 'it'\''s' '' a,b=c/d`
	if got != want {
		t.Errorf("shellQuote = %s, want %s", got, want)
	}
}

func TestProcessCPUTime(t *testing.T) {
	// Burn CPU until the kernel has charged this process at least 50 ms
	// (five clock ticks), so the figure cannot legitimately be zero even
	// on a loaded machine where wall time says little about CPU time.
	for {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			t.Fatal(err)
		}
		if time.Duration(ru.Utime.Nano()+ru.Stime.Nano()) >= 50*time.Millisecond {
			break
		}
		for x := 0; x < 1e6; x++ {
			_ = x * x
		}
	}
	d, err := ProcessCPUTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if d <= 0 || d > time.Hour {
		t.Errorf("ProcessCPUTime(self) = %v, want a small positive duration", d)
	}
	if _, err := ProcessCPUTime(-1); err == nil {
		t.Error("ProcessCPUTime(-1) succeeded")
	}
}

func TestArgs(t *testing.T) {
	env := &Env{QEMU: "qemu-system-x86_64", Kernel: "vmlinuz", Firmware: "qboot.rom", Accel: "tcg"}
	got := shellQuote(env.Args(VMOptions{
		Initramfs: "initrd", Action: "bench", Socket: "/tmp/s",
		Params: map[string]string{"seconds": "3", "cache": "writeback"}, NumQueues: 2, CPUs: 2, MemMiB: 512,
	}))
	want := "qemu-system-x86_64 -machine q35 -accel tcg -cpu max -smp 2 -m 512" +
		" -object memory-backend-memfd,id=mem,size=512M,share=on -numa node,memdev=mem" +
		" -nodefaults -no-user-config -display none -no-reboot -serial stdio -bios qboot.rom" +
		" -kernel vmlinuz -initrd initrd" +
		" -append 'console=ttyS0 panic=-1 ccmblk.action=bench quiet ccmblk.cache=writeback ccmblk.seconds=3'" +
		" -chardev socket,id=vub0,path=/tmp/s,reconnect=1 -device vhost-user-blk-pci,chardev=vub0,num-queues=2"
	if got != want {
		t.Errorf("Args =\n%s\nwant\n%s", got, want)
	}
}
