package main

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// listenFDsStart is the first descriptor systemd passes to a socket
// activated service (SD_LISTEN_FDS_START, sd_listen_fds(3)).
const listenFDsStart = 3

// activationFD returns the listening socket systemd passed (LISTEN_FDS and
// LISTEN_PID, sd_listen_fds(3)), or -1 when none was passed to this
// process. The variables are removed from the environment, as with
// sd_listen_fds(1), so that no child takes them for its own.
func activationFD() (int, error) {
	fds, pid := os.Getenv("LISTEN_FDS"), os.Getenv("LISTEN_PID")
	for _, v := range []string{"LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"} {
		_ = os.Unsetenv(v)
	}
	if fds == "" || pid != strconv.Itoa(os.Getpid()) {
		return -1, nil
	}
	n, err := strconv.Atoi(fds)
	switch {
	case err != nil || n < 0:
		return -1, fmt.Errorf("LISTEN_FDS=%q is not a number of descriptors", fds)
	case n == 0:
		return -1, nil
	case n > 1:
		return -1, fmt.Errorf("socket activation passed %d sockets; the daemon serves one: give its .socket unit a single ListenStream=", n)
	}
	// Like sd_listen_fds, keep the socket from leaking into children.
	unix.CloseOnExec(listenFDsStart)
	return listenFDsStart, nil
}
