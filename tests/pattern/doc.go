// Package pattern defines the deterministic data the VM test guest writes to
// its disk and where it writes it, so that the host side of a test can predict
// the image contents byte for byte.
//
// The guest program (tests/guest) and the host tests both use this package;
// it depends on nothing but the standard library.
package pattern
