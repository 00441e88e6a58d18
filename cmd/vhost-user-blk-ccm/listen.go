package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// listener returns the unix socket to accept the front end on, from
// --socket-path or from an inherited listening descriptor (--fd), and a name
// for it in log lines.
func listener(path string, fd int) (*net.UnixListener, string, error) {
	switch {
	case path != "" && fd >= 0:
		return nil, "", errors.New("give --socket-path or --fd, not both")
	case path != "":
		return listenPath("--socket-path", path)
	case fd >= 0:
		return listenFD("--fd", fd)
	}
	return nil, "", errors.New("--socket-path or --fd is required")
}

// qmpListener returns the control socket from --qmp-socket or --qmp-fd,
// or nil if neither is given.
func qmpListener(path string, fd int) (*net.UnixListener, error) {
	var l *net.UnixListener
	var err error
	switch {
	case path != "" && fd >= 0:
		err = errors.New("give --qmp-socket or --qmp-fd, not both")
	case path != "":
		l, _, err = listenPath("--qmp-socket", path)
	case fd >= 0:
		l, _, err = listenFD("--qmp-fd", fd)
	}
	return l, err
}

// listenPath listens on a new socket at path, given with the flag name.
func listenPath(name, path string) (*net.UnixListener, string, error) {
	// A socket left behind by an earlier run would make bind fail; remove
	// it, but never anything that is not a socket, nor the socket of a
	// back end that still listens on it.
	if st, err := os.Lstat(path); err == nil {
		if st.Mode().Type() != fs.ModeSocket {
			return nil, "", fmt.Errorf("%s %s exists and is not a socket", name, path)
		}
		if err := checkStale(name, path); err != nil {
			return nil, "", err
		}
		if err := os.Remove(path); err != nil {
			return nil, "", err
		}
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, "", err
	}
	return l, path, nil
}

// checkStale returns nil if nothing listens on the socket at path: connect
// is refused.
func checkStale(name, path string) error {
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err == nil {
		_ = c.Close()
		return fmt.Errorf("%s %s is in use: another process listens on it", name, path)
	}
	if !errors.Is(err, unix.ECONNREFUSED) {
		return fmt.Errorf("%s %s: %w", name, path, err)
	}
	return nil
}

// listenFD listens on the inherited descriptor fd, given with the flag
// name.
func listenFD(name string, fd int) (*net.UnixListener, string, error) {
	// net.FileListener takes any socket, but accept fails for ever on one
	// that does not listen, and the front end connects with a stream socket.
	if err := checkStreamListener(fd); err != nil {
		return nil, "", fmt.Errorf("%s %d: %w", name, fd, err)
	}
	f := os.NewFile(uintptr(fd), fmt.Sprintf("fd%d", fd))
	if f == nil {
		return nil, "", fmt.Errorf("%s %d is not a valid descriptor", name, fd)
	}
	defer f.Close() // net.FileListener dups it
	l, err := net.FileListener(f)
	if err != nil {
		return nil, "", fmt.Errorf("%s %d: %w", name, fd, err)
	}
	ul, ok := l.(*net.UnixListener)
	if !ok {
		l.Close()
		return nil, "", fmt.Errorf("%s %d is not a listening unix socket", name, fd)
	}
	return ul, fmt.Sprintf("fd%d", fd), nil
}

// checkStreamListener returns nil if fd is a listening stream socket.
func checkStreamListener(fd int) error {
	typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	if err != nil {
		return err
	}
	if typ != unix.SOCK_STREAM {
		return errors.New("not a stream socket")
	}
	listening, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN)
	if err != nil {
		return err
	}
	if listening == 0 {
		return errors.New("not a listening socket")
	}
	return nil
}
