// Package virtiotest is a driver-side fake for testing virtio devices
// without a guest: it lays out a split virtqueue in plain []byte guest
// memory, builds descriptor chains (direct and indirect) and virtio-blk
// requests, publishes them on the available ring and reads the used ring,
// with the same atomic ring-index protocol a real driver uses. It also
// provides a Kick, a Notifier and an in-memory Disk.
//
// It is for tests only; production code must not import it.
package virtiotest
