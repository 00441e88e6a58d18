package main

import (
	"errors"
	"os"

	"github.com/ccmblk/ccmblk/cmd/internal/imagelock"
)

// lockImage takes an advisory lock on the image for the daemon's lifetime,
// so that two daemons (or a daemon and ccmblock fill or resize) never
// change one image at once: exclusive when the image is served read-write,
// shared when read-only. The lock is held until the returned file is
// closed, or the process exits.
func lockImage(path string, readOnly bool) (*os.File, error) {
	if path == "" {
		return nil, errors.New("--blk-file is required: name the image file or block device to serve")
	}
	return imagelock.Lock(path, readOnly)
}
