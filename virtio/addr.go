package virtio

// GuestAddr is a guest physical address.
type GuestAddr uint64

// Add returns a+n and whether the sum fits in 64 bits. A range [a, a+n) is
// only valid when Add reports true.
func (a GuestAddr) Add(n uint64) (GuestAddr, bool) {
	s := a + GuestAddr(n)
	return s, s >= a
}

// alignUp4 rounds n up to a multiple of 4.
func alignUp4(n int) int {
	return (n + 3) &^ 3
}
