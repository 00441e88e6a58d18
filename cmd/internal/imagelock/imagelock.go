// Package imagelock takes the advisory lock that keeps two programs from
// changing one image at a time: the daemon holds it while it serves an
// image, ccmblock while it fills or resizes one.
package imagelock

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Lock takes a flock on the image at path without waiting: exclusive for
// a writer, shared for a reader (readers may share it, a writer may not
// join them). The lock is held until the returned file is closed, or the
// process exits.
func Lock(path string, shared bool) (*os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	how := unix.LOCK_EX
	if shared {
		how = unix.LOCK_SH
	}
	if err := unix.Flock(int(f.Fd()), how|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s is in use by another process (locked): stop the daemon or ccmblock command that holds it (only --read-only daemons share an image)", path)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return f, nil
}
