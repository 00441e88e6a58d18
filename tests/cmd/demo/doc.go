// Command demo shows ccmblk end to end on one machine: it makes a fresh key
// and an encrypted image with ccmblock, serves the image with
// vhost-user-blk-ccm, boots a small VM under QEMU whose disk it is, and
// prints what the guest did (disk size, read-only flag, a message written
// and read back, a checksum). Then it shows from the host that the message
// is stored encrypted and authenticated, and prints the QEMU options that
// attach the daemon to any guest.
//
// Run it with `make demo`, which first runs tests/setup.sh (QEMU and the
// guest kernel). Flags:
//
//	-size 64M   guest-visible disk size
//	-keep       keep the work directory (key, images, binaries)
package main
