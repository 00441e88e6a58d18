package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/ccmblk/ccmblk/cmd/internal/imageflags"
)

// runKeygen writes a fresh random AES key as hex text to a new file that
// only its owner can read. The key itself is never printed.
func runKeygen(e *env, args []string) error {
	var o options
	flags := newFlagSet("keygen")
	o.addOut(flags)
	flags.IntVar(&o.keyLen, "key-len", 32, "")
	if err := o.parse(e, "keygen", flags, args); err != nil {
		return err
	}
	if o.out == "" {
		return usagef("missing -o/--out")
	}
	if !imageflags.IsKeyLen(o.keyLen) {
		return usagef("--key-len %d: want 16, 24 or 32 bytes", o.keyLen)
	}
	key := make([]byte, o.keyLen)
	defer clear(key)
	// crypto/rand.Read never fails on Linux (getrandom).
	_, _ = rand.Read(key)
	text := []byte(hex.EncodeToString(key) + "\n")
	defer clear(text)
	if err := writeSecret(o.out, text, o.force); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "wrote a new AES-%d key to %s\n", 8*o.keyLen, o.out)
	return nil
}

// writeSecret writes data to path with mode 0600, replacing an existing
// file only with force.
func writeSecret(path string, data []byte, force bool) (err error) {
	mode := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if force {
		mode = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(path, mode, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s exists; use --force to overwrite it", path)
	}
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	// An existing file keeps its mode under O_TRUNC; a key must not be
	// readable by others.
	if err := f.Chmod(0o600); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	return f.Sync()
}
