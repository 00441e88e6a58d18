package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
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
	// it, but never anything that is not a socket.
	if st, err := os.Lstat(path); err == nil {
		if st.Mode().Type() != fs.ModeSocket {
			return nil, "", fmt.Errorf("--socket-path %s exists and is not a socket", path)
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

func listenFD(fd int) (*net.UnixListener, string, error) {
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
