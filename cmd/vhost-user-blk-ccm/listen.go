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
		return listenPath(path)
	case fd >= 0:
		return listenFD(fd)
	}
	return nil, "", errors.New("--socket-path or --fd is required")
}

func listenPath(path string) (*net.UnixListener, string, error) {
	// A socket left behind by an earlier run would make bind fail; remove
	// it, but never anything that is not a socket, nor the socket of a
	// back end that still listens on it.
	if st, err := os.Lstat(path); err == nil {
		if st.Mode().Type() != fs.ModeSocket {
			return nil, "", fmt.Errorf("--socket-path %s exists and is not a socket", path)
		}
		if err := checkStale(path); err != nil {
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
func checkStale(path string) error {
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err == nil {
		_ = c.Close()
		return fmt.Errorf("--socket-path %s is in use: another back end listens on it", path)
	}
	if !errors.Is(err, unix.ECONNREFUSED) {
		return fmt.Errorf("--socket-path %s: %w", path, err)
	}
	return nil
}

func listenFD(fd int) (*net.UnixListener, string, error) {
	// net.FileListener takes any socket, but accept fails for ever on one
	// that does not listen, and the front end connects with a stream socket.
	if err := checkStreamListener(fd); err != nil {
		return nil, "", fmt.Errorf("--fd %d: %w", fd, err)
	}
	f := os.NewFile(uintptr(fd), fmt.Sprintf("fd%d", fd))
	if f == nil {
		return nil, "", fmt.Errorf("--fd %d is not a valid descriptor", fd)
	}
	defer f.Close() // net.FileListener dups it
	l, err := net.FileListener(f)
	if err != nil {
		return nil, "", fmt.Errorf("--fd %d: %w", fd, err)
	}
	ul, ok := l.(*net.UnixListener)
	if !ok {
		l.Close()
		return nil, "", fmt.Errorf("--fd %d is not a listening unix socket", fd)
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
