package main

import (
	"fmt"
	"math/bits"
	"strconv"
	"strings"

	"github.com/ccmblk/ccmblk/ccm"
)

// sizeShifts maps a size suffix to its power of two (powers of 1024, as in
// qemu-img and truncate).
var sizeShifts = map[string]uint{"K": 10, "M": 20, "G": 30, "T": 40}

// parseSize parses a byte count: plain digits, or digits followed by K, M,
// G or T, optionally followed by "iB" or "B" (any case): 64K, 512M, 1GiB.
func parseSize(s string) (uint64, error) {
	bad := fmt.Errorf("size %q: want bytes, or a number with K, M, G or T", s)
	t := strings.ToUpper(strings.TrimSpace(s))
	digits := strings.TrimRight(t, "KMGTIB")
	shift := uint(0)
	if rest := t[len(digits):]; rest != "" && rest != "B" {
		base := strings.TrimSuffix(rest, "IB")
		if base == rest {
			base = strings.TrimSuffix(rest, "B")
		}
		var ok bool
		if shift, ok = sizeShifts[base]; !ok {
			return 0, bad
		}
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	if err != nil {
		return 0, bad
	}
	// n << shift must fit in 64 bits.
	if hi, _ := bits.Mul64(n, 1<<shift); hi != 0 {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return n << shift, nil
}

// humanBytes formats n with a binary unit, e.g. "512 B", "32 KiB", "1.5 GiB".
func humanBytes(n uint64) string {
	const units = "KMGTPE"
	if n < 1024 {
		return strconv.FormatUint(n, 10) + " B"
	}
	v, i := float64(n)/1024, 0
	for v >= 1024 && i < len(units)-1 {
		v, i = v/1024, i+1
	}
	return fmt.Sprintf("%.4g %ciB", v, units[i])
}

// checkSize parses --size for create and resize: positive, whole sectors, and small
// enough that the image (twice the size) has a file offset.
func checkSize(s string, p ccm.Params) (uint64, error) {
	if s == "" {
		return 0, usagef("missing --size")
	}
	size, err := parseSize(s)
	if err != nil {
		return 0, &usageError{msg: err.Error()}
	}
	ps := uint64(p.SectorSize)
	switch {
	case size == 0:
		return 0, usagef("--size must be positive")
	case size%ps != 0:
		return 0, usagef("--size %d bytes is not a multiple of the %d-byte sector size", size, ps)
	case size > 1<<61:
		return 0, usagef("--size %d bytes is too large", size)
	}
	return size, nil
}
