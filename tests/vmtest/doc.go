// Package vmtest boots small Linux VMs under QEMU for the integration tests,
// the demo and the benchmark: a Debian cloud kernel (unpacked by
// tests/setup.sh), an initramfs whose /init is the tests/guest program, and
// one vhost-user-blk disk served by a backend process on a unix socket.
//
// Everything a run needs is located through the environment:
//
//	CCMBLK_VM_DIR   kernel cache made by tests/setup.sh (default /var/tmp/ccmblk-vm)
//	CCMBLK_QEMU     qemu-system-x86_64 binary (default from PATH)
//	CCMBLK_ACCEL    kvm or tcg (default: kvm when the host CPU offers VMX or
//	                SVM and /dev/kvm opens, else tcg)
//	CCMBLK_VM_VERBOSE=1  boot without "quiet" (full kernel log on the console)
//	CCMBLK_TESTDATA the mirage-ccm reference images
//	                (default tests/testdata/mirage-ccm)
//
// Guest results are marker lines on the serial console (see tests/guest), so a
// test learns of a guest failure as soon as the guest prints it. Every VM has
// a context deadline, streams its console into the test log and logs its QEMU
// command line for reproduction. The package is Linux-only.
package vmtest
