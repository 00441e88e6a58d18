package vmtest

import (
	"slices"
	"testing"
)

func TestArgsSMP(t *testing.T) {
	// A one-vCPU TCG machine must be able to grow, or QEMU 7.2 drops the
	// guest's memory barriers; KVM and larger machines keep their -smp.
	for _, tc := range []struct {
		accel string
		cpus  int
		want  string
	}{
		{"tcg", 0, "1,maxcpus=2"},
		{"tcg", 1, "1,maxcpus=2"},
		{"tcg", 2, "2"},
		{"kvm", 1, "1"},
	} {
		env := &Env{QEMU: "qemu-system-x86_64", Kernel: "vmlinuz", Accel: tc.accel}
		args := env.Args(VMOptions{Initramfs: "initrd", Action: "bench", CPUs: tc.cpus})
		i := slices.Index(args, "-smp")
		if i < 0 || i+1 >= len(args) || args[i+1] != tc.want {
			t.Errorf("%s with %d vCPUs: args %q, want -smp %s", tc.accel, tc.cpus, args, tc.want)
		}
	}
}
