package ccm

import (
	"bufio"
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

// katVector is one record of testdata/ccm-kat.txt (sources cited there).
type katVector struct {
	source                               string
	key, nonce, aad, plaintext, ctAndTag []byte
	tagSize                              int
}

func readKAT(t *testing.T) []katVector {
	t.Helper()
	f, err := os.Open("testdata/ccm-kat.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var vs []katVector
	var v *katVector
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, val, ok := strings.Cut(line, " ")
		if !ok {
			t.Fatalf("bad line %q", line)
		}
		if name == "source" {
			vs = append(vs, katVector{source: val})
			v = &vs[len(vs)-1]
			continue
		}
		if v == nil {
			t.Fatalf("%q before any source line", line)
		}
		switch name {
		case "key":
			v.key = mustHex(t, val)
		case "nonce":
			v.nonce = mustHex(t, val)
		case "aad":
			v.aad = mustHex(t, val)
		case "aad-pattern": // n bytes of 00 01 ... ff repeated
			n, err := strconv.Atoi(val)
			if err != nil {
				t.Fatal(err)
			}
			v.aad = make([]byte, n)
			for i := range v.aad {
				v.aad[i] = byte(i)
			}
		case "plaintext":
			v.plaintext = mustHex(t, val)
		case "ciphertext":
			v.ctAndTag = mustHex(t, val)
		case "tagsize":
			if v.tagSize, err = strconv.Atoi(val); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("unknown field %q", name)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return vs
}

func newAEAD(t testing.TB, key []byte, nonceSize, tagSize int) cipher.AEAD {
	t.Helper()
	b, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	a, err := NewCCM(b, nonceSize, tagSize)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestKnownAnswers(t *testing.T) {
	vs := readKAT(t)
	if len(vs) < 19 {
		t.Fatalf("got %d vectors, want at least 19", len(vs))
	}
	for _, v := range vs {
		t.Run(v.source, func(t *testing.T) {
			a := newAEAD(t, v.key, len(v.nonce), v.tagSize)
			if got := a.Seal(nil, v.nonce, v.plaintext, v.aad); !bytes.Equal(got, v.ctAndTag) {
				t.Fatalf("Seal = %x, want %x", got, v.ctAndTag)
			}
			got, err := a.Open(nil, v.nonce, v.ctAndTag, v.aad)
			if err != nil || !bytes.Equal(got, v.plaintext) {
				t.Fatalf("Open = %x, %v; want %x", got, err, v.plaintext)
			}
			buf := append([]byte(nil), v.plaintext...)
			if got := a.Seal(buf[:0], v.nonce, buf, v.aad); !bytes.Equal(got, v.ctAndTag) {
				t.Fatalf("in-place Seal = %x, want %x", got, v.ctAndTag)
			}
			buf = append([]byte(nil), v.ctAndTag...)
			if got, err := a.Open(buf[:0], v.nonce, buf, v.aad); err != nil || !bytes.Equal(got, v.plaintext) {
				t.Fatalf("in-place Open = %x, %v; want %x", got, err, v.plaintext)
			}
		})
	}
}

func TestNewCCMRejects(t *testing.T) {
	b, _ := aes.NewCipher(make([]byte, 16))
	for _, tc := range []struct{ nonce, tag int }{
		{6, 16}, {14, 16}, {8, 2}, {8, 3}, {8, 5}, {8, 18}, {8, 0}, {0, 0},
	} {
		if _, err := NewCCM(b, tc.nonce, tc.tag); err == nil {
			t.Errorf("NewCCM(nonce %d, tag %d) succeeded, want error", tc.nonce, tc.tag)
		}
	}
	d, _ := des.NewCipher(make([]byte, 8))
	if _, err := NewCCM(d, 8, 8); err == nil {
		t.Error("NewCCM over an 8-byte block cipher succeeded, want error")
	}
	for n := 7; n <= 13; n++ {
		for m := 4; m <= 16; m += 2 {
			a, err := NewCCM(b, n, m)
			if err != nil {
				t.Fatalf("NewCCM(nonce %d, tag %d): %v", n, m, err)
			}
			if a.NonceSize() != n || a.Overhead() != m {
				t.Errorf("NonceSize, Overhead = %d, %d; want %d, %d", a.NonceSize(), a.Overhead(), n, m)
			}
		}
	}
}

func TestNonceLengthPanics(t *testing.T) {
	a := newAEAD(t, make([]byte, 16), 12, 16)
	for _, f := range []func(){
		func() { a.Seal(nil, make([]byte, 11), nil, nil) },
		func() { _, _ = a.Open(nil, make([]byte, 13), make([]byte, 16), nil) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("wrong nonce length did not panic")
				}
			}()
			f()
		}()
	}
}

func TestMessageLengthLimit(t *testing.T) {
	// N = 13 leaves L = 2: messages up to 2^16-1 bytes.
	a := newAEAD(t, make([]byte, 16), 13, 4)
	nonce := make([]byte, 13)
	ct := a.Seal(nil, nonce, make([]byte, 1<<16-1), nil)
	if _, err := a.Open(nil, nonce, ct, nil); err != nil {
		t.Fatalf("Open of a 2^16-1 byte message: %v", err)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("Seal of a 2^16 byte message with L = 2 did not panic")
			}
		}()
		a.Seal(nil, nonce, make([]byte, 1<<16), nil)
	}()
	if _, err := a.Open(nil, nonce, make([]byte, 1<<16+4), nil); !errors.Is(err, ErrAuth) {
		t.Errorf("Open of an over-long message: %v, want ErrAuth", err)
	}
}

// TestAEADConformance checks the crypto/cipher.AEAD contract: roundtrip
// over lengths, append semantics, inputs left alone, and failure on any
// change with the output zeroed.
func TestAEADConformance(t *testing.T) {
	for _, keyLen := range []int{16, 24, 32} {
		for _, nm := range [][2]int{{7, 4}, {8, 16}, {12, 8}, {13, 16}} {
			key := randBytes(t, keyLen)
			a := newAEAD(t, key, nm[0], nm[1])
			t.Run(fmt.Sprintf("AES%d-N%d-M%d", keyLen*8, nm[0], nm[1]), func(t *testing.T) {
				for _, n := range []int{0, 1, 15, 16, 17, 512, 4096} {
					for _, adLen := range []int{0, 1, 17} {
						checkAEAD(t, a, n, adLen)
					}
				}
			})
		}
	}
}

func checkAEAD(t *testing.T, a cipher.AEAD, n, adLen int) {
	t.Helper()
	nonce, pt, ad := randBytes(t, a.NonceSize()), randBytes(t, n), randBytes(t, adLen)
	nonce0, pt0, ad0 := clone(nonce), clone(pt), clone(ad)
	prefix := []byte("prefix")
	ct := a.Seal(clone(prefix), nonce, pt, ad)
	if !bytes.Equal(nonce, nonce0) || !bytes.Equal(pt, pt0) || !bytes.Equal(ad, ad0) {
		t.Fatalf("len %d ad %d: Seal modified its input", n, adLen)
	}
	if !bytes.HasPrefix(ct, prefix) || len(ct) != len(prefix)+n+a.Overhead() {
		t.Fatalf("len %d ad %d: Seal returned %d bytes, want prefix + %d", n, adLen, len(ct), n+a.Overhead())
	}
	ct = ct[len(prefix):]
	ct0 := clone(ct)
	got, err := a.Open(clone(prefix), nonce, ct, ad)
	if err != nil || !bytes.Equal(got, append(clone(prefix), pt...)) {
		t.Fatalf("len %d ad %d: Open = %x, %v; want prefix + plaintext", n, adLen, got, err)
	}
	if !bytes.Equal(ct, ct0) {
		t.Fatalf("len %d ad %d: Open modified its input", n, adLen)
	}
	type change struct {
		name          string
		nonce, ct, ad []byte
	}
	changes := []change{
		{"tag", nonce, flip(ct, len(ct)-1), ad},
		{"nonce", flip(nonce, 0), ct, ad},
		{"ad", nonce, ct, append(clone(ad), 0)},
		{"truncated", nonce, ct[:len(ct)-1], ad},
	}
	if n > 0 {
		changes = append(changes, change{"ciphertext", nonce, flip(ct, n/2), ad})
	}
	if adLen > 0 {
		changes = append(changes, change{"ad bit", nonce, ct, flip(ad, adLen-1)})
	}
	for _, c := range changes {
		dst := bytes.Repeat([]byte{0xa5}, len(c.ct))
		got, err := a.Open(dst[:0], c.nonce, c.ct, c.ad)
		if !errors.Is(err, ErrAuth) || got != nil {
			t.Fatalf("len %d ad %d: Open with changed %s = %x, %v; want nil, ErrAuth", n, adLen, c.name, got, err)
		}
		if k := max(0, len(c.ct)-a.Overhead()); !bytes.Equal(dst[:k], make([]byte, k)) {
			t.Fatalf("len %d ad %d: changed %s: output not zeroed: %x", n, adLen, c.name, dst[:k])
		}
	}
}

func flip(b []byte, i int) []byte {
	c := clone(b)
	c[i] ^= 0x01
	return c
}

func clone(b []byte) []byte { return append([]byte{}, b...) }

func randBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// opensslCase is one message for testdata/openssl-aead.js.
type opensslCase struct {
	Key       string `json:"key"`
	Nonce     string `json:"nonce"`
	AD        string `json:"ad"`
	Plaintext string `json:"plaintext"`
	TagSize   int    `json:"tagSize"`
	Sealed    string `json:"sealed"` // by this package; the script opens it
}

// TestOpenSSLCrossCheck seals random messages for every tag and nonce size
// and key length, and checks that OpenSSL (node's crypto) seals them to the
// same bytes and opens this package's output.
func TestOpenSSLCrossCheck(t *testing.T) {
	var cases []opensslCase
	for _, keyLen := range []int{16, 24, 32} {
		for n := 7; n <= 13; n++ {
			for m := 4; m <= 16; m += 2 {
				key := randBytes(t, keyLen)
				a := newAEAD(t, key, n, m)
				for _, sz := range [][2]int{{0, 0}, {1, 0}, {33, 5}, {512, 488}} {
					nonce, pt, ad := randBytes(t, n), randBytes(t, sz[0]), randBytes(t, sz[1])
					cases = append(cases, opensslCase{
						Key: hex.EncodeToString(key), Nonce: hex.EncodeToString(nonce),
						AD: hex.EncodeToString(ad), Plaintext: hex.EncodeToString(pt), TagSize: m,
						Sealed: hex.EncodeToString(a.Seal(nil, nonce, pt, ad)),
					})
				}
			}
		}
	}
	in, err := json.Marshal(cases)
	if err != nil {
		t.Fatal(err)
	}
	out, stderr, err := runNode(t, in, "testdata/openssl-aead.js")
	if err != nil {
		t.Fatalf("node: %v\n%s", err, stderr)
	}
	var res []struct {
		Sealed string `json:"sealed"`
		Opened bool   `json:"opened"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("node output: %v\n%s", err, out)
	}
	if len(res) != len(cases) {
		t.Fatalf("node returned %d results for %d cases", len(res), len(cases))
	}
	for i, c := range cases {
		if res[i].Sealed != c.Sealed {
			t.Errorf("case %d (key %d bytes, N %d, M %d): OpenSSL sealed %s, we sealed %s",
				i, len(c.Key)/2, len(c.Nonce)/2, c.TagSize, res[i].Sealed, c.Sealed)
		}
		if !res[i].Opened {
			t.Errorf("case %d: OpenSSL did not open our output", i)
		}
	}
}
