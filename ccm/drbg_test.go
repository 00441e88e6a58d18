package ccm

import (
	"bytes"
	"testing"
)

func TestDRBGInstancesDiffer(t *testing.T) {
	a, b := make([]byte, 64), make([]byte, 64)
	newDRBG().read(a)
	newDRBG().read(b)
	if bytes.Equal(a, b) || bytes.Equal(a, make([]byte, 64)) {
		t.Fatalf("two generators gave %x and %x", a, b)
	}
}

func TestDRBGRekeys(t *testing.T) {
	d := newDRBG()
	first := d.stream
	buf := make([]byte, 4096)
	var total int
	for total < drbgRekeyBytes {
		d.read(buf[:1000])
		total += 1000
		if bytes.Equal(buf[:1000], make([]byte, 1000)) {
			t.Fatal("generator output is zero")
		}
	}
	if d.stream == first {
		t.Fatalf("no new key after %d bytes", total)
	}
	if want := drbgRekeyBytes - total%drbgRekeyBytes; d.left != want {
		t.Fatalf("left = %d, want %d", d.left, want)
	}
}

// TestDRBGFillTails checks that a write's fill touches only the nonce and
// adata of each slot, and that 8-byte nonces of many slots are distinct.
func TestDRBGFillTails(t *testing.T) {
	const stride, off, slots = 1024, 528, 4096
	buf := bytes.Repeat([]byte{0x77}, stride*slots)
	newDRBG().fillTails(buf, stride, off)
	seen := make(map[[8]byte]bool, slots)
	for i := range slots {
		s := buf[i*stride : (i+1)*stride]
		if !bytes.Equal(s[:off], bytes.Repeat([]byte{0x77}, off)) {
			t.Fatalf("slot %d: bytes before the tail changed", i)
		}
		var n [8]byte
		copy(n[:], s[off:])
		if seen[n] {
			t.Fatalf("slot %d: nonce %x repeats", i, n)
		}
		seen[n] = true
	}
}
