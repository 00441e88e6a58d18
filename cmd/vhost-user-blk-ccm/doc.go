// Command vhost-user-blk-ccm serves a CCM-encrypted disk image (the format of
// mirage-block-ccm) to a QEMU guest as a virtio-blk device over the
// vhost-user protocol.
//
// It follows QEMU's conventions for vhost-user back-end programs
// (docs/interop/vhost-user.rst, "Backend program conventions"):
//
//	vhost-user-blk-ccm --socket-path=/run/disk.sock --blk-file=disk.img --key-file=disk.key
//	vhost-user-blk-ccm --fd=3 --blk-file=disk.img --key-file=disk.key --read-only
//	vhost-user-blk-ccm --print-capabilities
//
// and attaches to QEMU with
//
//	-object memory-backend-memfd,id=mem,size=1G,share=on -numa node,memdev=mem
//	-chardev socket,id=disk0,path=/run/disk.sock,reconnect=1
//	-device vhost-user-blk-pci,chardev=disk0
//
// The guest's DISCARD and WRITE_ZEROES reach the image as hole punching and
// zeroing on raw images, as encrypted zero sectors on CCM images (which
// then offer no DISCARD), and as holes over whole slots on CCM images
// served with --sparse; see the README for the trade-off of --sparse.
//
// SIGINT and SIGTERM stop it gracefully: it stops taking requests, completes
// the ones in flight, flushes the image and exits 0. The key is read from a
// file only, so it never shows in the process list.
package main
