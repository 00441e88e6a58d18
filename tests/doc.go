// Package tests holds the VM integration tests (build tag integration): a
// small Linux guest under QEMU uses a disk served over vhost-user, first by
// qemu-storage-daemon (which proves the harness against QEMU's own back end)
// and then by cmd/vhost-user-blk-ccm serving the mirage-ccm reference images.
//
// Run them with the README's test command, or directly:
//
//	tests/setup.sh && go test -tags integration ./tests/...
package tests
