package main

import (
	"errors"
	"flag"

	"github.com/ccmblk/ccmblk/ccm"
	"github.com/ccmblk/ccmblk/cmd/internal/imageflags"
)

// loadKey returns the key given by --key-file or --key, or nil if neither
// was given.
func (o *options) loadKey(e *env, fs *flag.FlagSet) ([]byte, error) {
	keyGiven := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "k" || f.Name == "key" {
			keyGiven = true
		}
	})
	switch {
	case keyGiven && o.keyFile != "":
		return nil, usagef("give the key with --key-file or --key, not both")
	case o.keyFile != "":
		return imageflags.ReadKeyFile(o.keyFile, e.warnf)
	case !keyGiven:
		return nil, nil
	}
	e.warnf("--key puts the key in the process list; prefer --key-file")
	k, err := imageflags.DecodeHexKey(o.keyHex)
	if err != nil {
		return nil, usagef("--key: %v", err)
	}
	if !imageflags.IsKeyLen(len(k)) {
		clear(k)
		return nil, usagef("--key is %d bytes; AES keys are 16, 24 or 32 bytes (32, 48 or 64 hex digits)", len(k))
	}
	return k, nil
}

// params returns the ccm parameters from the flags. The key is required
// unless keyOptional; without a key the format flags are still validated
// and Params.Key is nil.
func (o *options) params(e *env, fs *flag.FlagSet, keyOptional bool) (ccm.Params, error) {
	key, err := o.loadKey(e, fs)
	if err != nil {
		return ccm.Params{}, err
	}
	if key == nil && !keyOptional {
		return ccm.Params{}, usagef("a key is required: --key-file PATH (or -k/--key HEX)")
	}
	p := ccm.Params{Key: key, MacLen: o.macLen, NonceLen: o.nonceLen, SectorSize: o.sectorSize}
	// The flags are validated even when they hold the defaults, and 0 is
	// refused because ccm would silently read it as "default".
	check := p
	if key == nil {
		// Without a key only M, N and P can be checked; a zero key of valid
		// length stands in for it and is never used.
		check.Key = make([]byte, 16)
	}
	if o.macLen <= 0 || o.nonceLen <= 0 || o.sectorSize <= 0 {
		err = errors.New("values must be positive")
	} else {
		err = check.Validate()
	}
	if err != nil {
		clear(key)
		return ccm.Params{}, usagef("bad format flags (--mac-len %d --nonce-len %d --sector-size %d): %v", o.macLen, o.nonceLen, o.sectorSize, err)
	}
	return p, nil
}
