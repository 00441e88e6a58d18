package ccm

import (
	"bytes"
	"crypto/aes"
	"crypto/rand"
	"encoding/hex"
	"testing"
)

// Key expansion examples of FIPS-197 Appendix A (A.1, A.2, A.3): the cipher
// key and the last four words of the expanded key.
var keyExpansionVectors = []struct {
	key, last string
}{
	{"2b7e151628aed2a6abf7158809cf4f3c", "d014f9a8c9ee2589e13f0cc8b6630ca6"},
	{"8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b", "e98ba06f448c773c8ecc720401002202"},
	{"603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4", "fe4890d1e6188d0b046df344706c631e"},
}

func TestExpandKeyFIPS197(t *testing.T) {
	for _, v := range keyExpansionVectors {
		key, _ := hex.DecodeString(v.key)
		var enc [16 * (14 + 1)]byte
		expandKey(key, &enc)
		rounds := 6 + len(key)/4
		if got := hex.EncodeToString(enc[16*rounds : 16*rounds+16]); got != v.last {
			t.Errorf("key %s: last round key %s, want %s", v.key, got, v.last)
		}
		if !bytes.Equal(enc[:len(key)], key) {
			t.Errorf("key %s: schedule does not start with the key", v.key)
		}
		for i := 16 * (rounds + 1); i < len(enc); i++ {
			if enc[i] != 0 {
				t.Fatalf("key %s: byte %d past the schedule is %#x", v.key, i, enc[i])
			}
		}
	}
}

// TestExpandKeyCipher encrypts with the expanded key by the textbook
// cipher (FIPS-197 section 5.1) and compares with crypto/aes.
func TestExpandKeyCipher(t *testing.T) {
	for _, n := range []int{16, 24, 32} {
		for range 20 {
			key := make([]byte, n)
			var in, want [16]byte
			rand.Read(key)
			rand.Read(in[:])
			b, err := aes.NewCipher(key)
			if err != nil {
				t.Fatal(err)
			}
			b.Encrypt(want[:], in[:])
			var enc [16 * (14 + 1)]byte
			expandKey(key, &enc)
			if got := textbookEncrypt(&enc, 6+n/4, in); got != want {
				t.Fatalf("AES-%d key %x: got %x, want %x", 8*n, key, got, want)
			}
		}
	}
}

// textbookEncrypt is FIPS-197 Cipher() on a state kept as 16 bytes in
// input order (byte 4c+r is row r, column c).
func textbookEncrypt(enc *[16 * (14 + 1)]byte, rounds int, in [16]byte) [16]byte {
	s := in
	addRoundKey := func(r int) {
		for i := range s {
			s[i] ^= enc[16*r+i]
		}
	}
	addRoundKey(0)
	for r := 1; r <= rounds; r++ {
		var t [16]byte
		for c := 0; c < 4; c++ { // SubBytes and ShiftRows
			for row := 0; row < 4; row++ {
				t[4*c+row] = sbox(s[4*((c+row)%4)+row])
			}
		}
		if r < rounds { // MixColumns
			for c := 0; c < 4; c++ {
				a0, a1, a2, a3 := t[4*c], t[4*c+1], t[4*c+2], t[4*c+3]
				t[4*c] = gfMul(a0, 2) ^ gfMul(a1, 3) ^ a2 ^ a3
				t[4*c+1] = a0 ^ gfMul(a1, 2) ^ gfMul(a2, 3) ^ a3
				t[4*c+2] = a0 ^ a1 ^ gfMul(a2, 2) ^ gfMul(a3, 3)
				t[4*c+3] = gfMul(a0, 3) ^ a1 ^ a2 ^ gfMul(a3, 2)
			}
		}
		s = t
		addRoundKey(r)
	}
	return s
}

func TestSbox(t *testing.T) {
	// FIPS-197 Figure 7: S-box(0x00) = 0x63, S-box(0x53) = 0xed,
	// S-box(0xff) = 0x16.
	for _, v := range [][2]byte{{0x00, 0x63}, {0x53, 0xed}, {0xff, 0x16}} {
		if got := sbox(v[0]); got != v[1] {
			t.Errorf("sbox(%#x) = %#x, want %#x", v[0], got, v[1])
		}
	}
}
