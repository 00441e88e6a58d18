// Package vhostusertest is a minimal vhost-user front end for tests. It
// speaks the protocol over a real Unix socket, shares a memfd as guest RAM
// and owns a kick, a call and an err eventfd per queue. Its Init, Start and
// Stop send the messages QEMU 7.2 sends, in QEMU's order, when it realizes,
// starts and stops a vhost-user-blk-pci device (recorded from QEMU 7.2.22
// with a Linux guest), and Ring drives a split virtqueue in the shared RAM
// from the driver side. Production code never imports it.
//
// It encodes messages on its own rather than with vhostuser's codecs, so
// that tests check the two sides against each other.
package vhostusertest
