package main

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// lockImage takes an advisory lock on the image for the daemon's lifetime,
// so that two daemons never serve one image for writing: exclusive when
// the image is served read-write, shared when read-only (readers may share
// it, a writer may not join them). The lock is held until the returned file
// is closed, or the process exits.
func lockImage(path string, readOnly bool) (*os.File, error) {
	if path == "" {
		return nil, errors.New("--blk-file is required")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	how := unix.LOCK_EX
	if readOnly {
		how = unix.LOCK_SH
	}
	if err := unix.Flock(int(f.Fd()), how|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s is in use by another process (locked)", path)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return f, nil
}
