// Package imageflags holds the command-line flags that name a CCM image's
// key and geometry, shared by ccmblock and vhost-user-blk-ccm so that both
// programs accept the same spelling and the same key-file forms.
package imageflags

import (
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/ccmblk/ccmblk/ccm"
)

// Flags are the parsed values of the image flags.
type Flags struct {
	KeyFile    string
	MacLen     int
	NonceLen   int
	SectorSize int
}

// Register defines --key-file, --mac-len, --nonce-len and --sector-size on
// fs, with upstream mirage-block-ccm 2.x's defaults.
func Register(fs *flag.FlagSet) *Flags {
	f := &Flags{}
	fs.StringVar(&f.KeyFile, "key-file", "", "file holding the AES key: hex (optional 0x) or 16/24/32 raw bytes")
	fs.IntVar(&f.MacLen, "mac-len", 16, "CCM tag length M in bytes (16: upstream 2.x, 8: upstream 1.x)")
	fs.IntVar(&f.NonceLen, "nonce-len", 8, "CCM nonce length N in bytes (7..13)")
	fs.IntVar(&f.SectorSize, "sector-size", 512, "sector size P in bytes (512 or 4096)")
	return f
}

// Params loads the key file and returns the validated image parameters.
func (f *Flags) Params() (ccm.Params, error) {
	if f.KeyFile == "" {
		return ccm.Params{}, errors.New("--key-file is required")
	}
	key, err := ReadKeyFile(f.KeyFile)
	if err != nil {
		return ccm.Params{}, err
	}
	p := ccm.Params{Key: key, MacLen: f.MacLen, NonceLen: f.NonceLen, SectorSize: f.SectorSize}
	if err := p.Validate(); err != nil {
		return ccm.Params{}, err
	}
	return p, nil
}

// ReadKeyFile reads an AES key from path. The file holds the key either as
// hex text (an optional 0x prefix, surrounding white space ignored) or as
// 16, 24 or 32 raw bytes. Errors never quote the file's contents.
func ReadKeyFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	if key, err := ParseHexKey(strings.TrimSpace(string(b))); err == nil {
		return key, nil
	}
	switch len(b) {
	case 16, 24, 32:
		return b, nil
	}
	return nil, fmt.Errorf("key file %s: want 32, 48 or 64 hex digits or 16, 24 or 32 raw bytes", path)
}

// ParseHexKey decodes a key written in hex, with an optional 0x prefix.
// Errors never quote the key.
func ParseHexKey(s string) ([]byte, error) {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	key, err := hex.DecodeString(s)
	if err != nil {
		return nil, errors.New("key is not valid hex")
	}
	switch len(key) {
	case 16, 24, 32:
		return key, nil
	}
	return nil, fmt.Errorf("key is %d bytes, want 16, 24 or 32 (AES-128/192/256)", len(key))
}
