package imageflags

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// maxKeyFile bounds what is read of a key file: the longest valid content is
// 0x, 64 hex digits and some white space.
const maxKeyFile = 4096

// errNotHex deliberately carries no detail: the offending character would
// be part of the key.
var errNotHex = errors.New("not valid hex")

// IsKeyLen reports whether n is an AES key length in bytes.
func IsKeyLen(n int) bool { return n == 16 || n == 24 || n == 32 }

// DecodeHexKey decodes hex text with an optional 0x prefix and surrounding
// white space, as upstream's ccmblock accepts for --key. Errors never quote
// the text.
func DecodeHexKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		s = s[2:]
	}
	if s == "" || len(s)%2 != 0 {
		return nil, errNotHex
	}
	k, err := hex.DecodeString(s)
	if err != nil {
		return nil, errNotHex
	}
	return k, nil
}

// ReadKeyFile returns the key held in path: hex text (optional 0x) that
// decodes to 16, 24 or 32 bytes, or else exactly 16, 24 or 32 raw bytes. A
// key file that group or others may read is reported through warnf. Errors
// never quote the file's contents.
func ReadKeyFile(path string, warnf func(format string, args ...any)) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o077 != 0 {
		warnf("key file %s is accessible by group or others (mode %04o); chmod 600 it", path, st.Mode().Perm())
	}
	return readKey(f, "key file "+path)
}

// ReadKeyFD reads the key, in the forms ReadKeyFile takes, from the
// inherited descriptor fd to its end, and closes fd.
func ReadKeyFD(fd int) ([]byte, error) {
	what := fmt.Sprintf("--key-fd %d", fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("%s: %w: pass the key on an open descriptor", what, err)
	}
	f := os.NewFile(uintptr(fd), what)
	defer f.Close()
	return readKey(f, what)
}

// CredentialPath returns where the key file path is: a relative path is
// taken as the name of a systemd credential (LoadCredential=) when the
// service manager has set $CREDENTIALS_DIRECTORY.
func CredentialPath(path string) string {
	if dir := os.Getenv("CREDENTIALS_DIRECTORY"); dir != "" && !filepath.IsAbs(path) {
		return filepath.Join(dir, path)
	}
	return path
}

// readKey reads a key from r, named what in errors.
func readKey(r io.Reader, what string) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxKeyFile+1))
	defer clear(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if len(data) > maxKeyFile {
		return nil, fmt.Errorf("%s is larger than %d bytes: not a key", what, maxKeyFile)
	}
	// Text that is valid hex is a hex key, whatever its length: a short
	// hex key must not pass as raw bytes that happen to be 16 or 24
	// characters long.
	k, err := DecodeHexKey(string(data))
	switch {
	case err == nil && IsKeyLen(len(k)):
		return k, nil
	case err != nil && IsKeyLen(len(data)):
		return append([]byte(nil), data...), nil
	}
	clear(k)
	return nil, fmt.Errorf("%s holds neither hex text of a 16, 24 or 32-byte key nor 16, 24 or 32 raw bytes (%d bytes)", what, len(data))
}
