package imageflags

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeKey(t *testing.T, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func noWarn(string, ...any) {}

func TestReadKeyFile(t *testing.T) {
	raw := bytes.Repeat([]byte{0xa5, 0x00, 0xff, 0x10}, 4)
	for _, tc := range []struct {
		name string
		data []byte
		want []byte
	}{
		{"hex", []byte("a500ff10a500ff10a500ff10a500ff10"), raw},
		{"0x hex with newline", []byte("0xA500FF10A500FF10A500FF10A500FF10\n"), raw},
		{"raw bytes", raw, raw},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadKeyFile(writeKey(t, tc.data), noWarn)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.want) {
				t.Errorf("got %x, want %x", got, tc.want)
			}
		})
	}
}

// A 16 or 24-character hex text is a short hex key, not a raw key made of
// its ASCII characters.
func TestRegression_ShortHexIsNotRaw(t *testing.T) {
	for _, text := range []string{"0123456789abcdef", "0123456789abcdef01234567"} {
		got, err := ReadKeyFile(writeKey(t, []byte(text)), noWarn)
		if err == nil {
			t.Errorf("%d hex digits accepted as a %d-byte key", len(text), len(got))
			continue
		}
		if strings.Contains(err.Error(), text) {
			t.Errorf("error quotes the key: %v", err)
		}
	}
}

func TestReadKeyFileRejects(t *testing.T) {
	for _, tc := range []struct{ name, data string }{
		{"odd hex", "abc"},
		{"wrong length text", "not a key"},
		{"too long", strings.Repeat("0", maxKeyFile+1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ReadKeyFile(writeKey(t, []byte(tc.data)), noWarn); err == nil {
				t.Error("accepted")
			}
		})
	}
}

func TestReadKeyFileWarnsOnOpenMode(t *testing.T) {
	p := writeKey(t, []byte("a500ff10a500ff10a500ff10a500ff10"))
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	warned := false
	if _, err := ReadKeyFile(p, func(string, ...any) { warned = true }); err != nil {
		t.Fatal(err)
	}
	if !warned {
		t.Error("no warning for a key file readable by others")
	}
}
