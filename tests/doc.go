// Package tests holds the VM integration tests (build tag integration): a
// small Linux guest under QEMU uses a disk served over vhost-user, first by
// qemu-storage-daemon (which proves the harness against QEMU's own back end)
// and then by cmd/vhost-user-blk-ccm serving the mirage-ccm reference images
// and fresh images made by cmd/ccmblock. Further tests kill QEMU or restart
// the daemon in the middle of a guest's writes, and run the README's demo.
//
// Run them with the README's test command, or directly:
//
//	tests/setup.sh && go test -tags integration ./tests/...
package tests
