// Package imageflags holds what the programs share about naming a CCM
// image's key and geometry on the command line: the key-file forms and the
// format flags with upstream mirage-block-ccm 2.x's defaults, so that
// ccmblock and vhost-user-blk-ccm accept the same spelling.
package imageflags

import (
	"errors"
	"flag"

	"github.com/ccmblk/ccmblk/ccm"
)

// Format defaults: those of upstream mirage-block-ccm 2.x.
const (
	DefaultMacLen     = 16
	DefaultNonceLen   = 8
	DefaultSectorSize = 512
)

// Flags are the parsed values of the image flags.
type Flags struct {
	KeyFile    string // --key-file: path of the key
	KeyFD      int    // --key-fd: inherited descriptor to read the key from, -1 for none
	MacLen     int    // --mac-len: CCM tag length in bytes
	NonceLen   int    // --nonce-len: CCM nonce length in bytes
	SectorSize int    // --sector-size: image sector size in bytes

	fdKey []byte // the key TakeKeyFD read, until Params hands it over
}

// Register defines --key-file, --key-fd, --mac-len, --nonce-len and
// --sector-size on fs.
func Register(fs *flag.FlagSet) *Flags {
	f := &Flags{}
	fs.StringVar(&f.KeyFile, "key-file", "", "read the AES key from `FILE`: hex text (optional 0x) or the raw 16, 24 or 32 bytes; mode 0600 (--format ccm needs this or --key-fd). A relative FILE is looked up in $CREDENTIALS_DIRECTORY when that is set (systemd LoadCredential=)")
	fs.IntVar(&f.KeyFD, "key-fd", -1, "read the key from the inherited descriptor `N` (a pipe or file, read to its end, then closed) instead of --key-file (default: none)")
	fs.IntVar(&f.MacLen, "mac-len", DefaultMacLen, "CCM tag length `M` in bytes, even, 4..16 (16: images of upstream 2.x, 8: of upstream 1.x)")
	fs.IntVar(&f.NonceLen, "nonce-len", DefaultNonceLen, "CCM nonce length `N` in bytes, 7..13")
	fs.IntVar(&f.SectorSize, "sector-size", DefaultSectorSize, "sector size `P` in bytes: a power of two up to 4096 (512 and 4096 are the common ones)")
	return f
}

// TakeKeyFD reads the key from --key-fd, if given, and closes that
// descriptor. A program calls it before it opens descriptors of its own,
// one of which could otherwise get the number --key-fd names once the
// inherited one is gone.
func (f *Flags) TakeKeyFD() error {
	if f.KeyFD < 0 || f.fdKey != nil {
		return nil
	}
	if f.KeyFile != "" {
		return errors.New("give --key-file or --key-fd, not both")
	}
	k, err := ReadKeyFD(f.KeyFD)
	f.fdKey = k
	return err
}

// Params loads the key (from --key-file, or the one TakeKeyFD read) and
// returns the validated image parameters.
func (f *Flags) Params(warnf func(format string, args ...any)) (ccm.Params, error) {
	var key []byte
	var err error
	switch {
	case f.KeyFile != "" && f.KeyFD >= 0:
		return ccm.Params{}, errors.New("give --key-file or --key-fd, not both")
	case f.KeyFD >= 0:
		err = f.TakeKeyFD()
		key, f.fdKey = f.fdKey, nil
	case f.KeyFile != "":
		key, err = ReadKeyFile(CredentialPath(f.KeyFile), warnf)
	default:
		return ccm.Params{}, errors.New("--key-file is required (or --key-fd): name the file holding the image's key")
	}
	if err != nil {
		return ccm.Params{}, err
	}
	p := ccm.Params{Key: key, MacLen: f.MacLen, NonceLen: f.NonceLen, SectorSize: f.SectorSize}
	if err := p.Validate(); err != nil {
		clear(key)
		return ccm.Params{}, err
	}
	return p, nil
}
