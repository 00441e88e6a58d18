package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// socket is the listening socket the front end connects to.
type socket struct {
	*net.UnixListener
	name string // for log lines

	// path and ino identify the socket file the daemon created (empty
	// for an inherited socket): Close removes it unless another daemon
	// has put its own socket there since.
	path string
	ino  uint64
}

// Close closes the listener and removes the socket file the daemon made.
func (s *socket) Close() error {
	if s.path != "" {
		if st, err := os.Lstat(s.path); err == nil && st.Sys().(*syscall.Stat_t).Ino == s.ino {
			_ = os.Remove(s.path)
		}
	}
	return s.UnixListener.Close()
}

// socketFlags say where the daemon listens.
type socketFlags struct {
	path  string   // --socket-path
	fd    int      // --fd, -1 for none
	group string   // --socket-group
	mode  fileMode // --socket-mode
}

// fileMode is a permission mode given in octal on the command line.
type fileMode os.FileMode

func (m *fileMode) String() string { return fmt.Sprintf("%04o", uint32(*m)) }

// Set parses an octal mode of permission bits only.
func (m *fileMode) Set(s string) error {
	v, err := strconv.ParseUint(s, 8, 32)
	if err != nil || v&^0o777 != 0 {
		return errors.New("want an octal mode of permission bits, e.g. 0660")
	}
	*m = fileMode(v)
	return nil
}

// listen returns the socket to accept the front end on: the one systemd
// passed (socket activation), an inherited listening descriptor (--fd), or
// a new socket at --socket-path.
func listen(f socketFlags) (*socket, error) {
	activated, err := activationFD()
	if err != nil {
		return nil, err
	}
	given := 0
	for _, set := range []bool{f.path != "", f.fd >= 0, activated >= 0} {
		if set {
			given++
		}
	}
	switch {
	case given > 1 && activated >= 0:
		return nil, errors.New("socket activation passed a listening socket: drop --socket-path and --fd")
	case given > 1:
		return nil, errors.New("give --socket-path or --fd, not both")
	case given == 0:
		return nil, errors.New("--socket-path or --fd is required (or start the daemon through a systemd .socket unit)")
	case f.path == "" && (f.group != "" || f.mode != defaultSocketMode):
		return nil, errors.New("--socket-group and --socket-mode apply to --socket-path only; for an inherited socket set them where it is made (SocketGroup= and SocketMode= of a .socket unit)")
	case activated >= 0:
		return listenFD("socket activation descriptor", activated)
	case f.fd >= 0:
		return listenFD("--fd", f.fd)
	}
	return listenPath("--socket-path", f.path, f.group, os.FileMode(f.mode))
}

// qmpListener returns the control socket from --qmp-socket or --qmp-fd,
// or nil if neither is given.
func qmpListener(path string, fd int) (*socket, error) {
	switch {
	case path != "" && fd >= 0:
		return nil, errors.New("give --qmp-socket or --qmp-fd, not both")
	case path != "":
		return listenPath("--qmp-socket", path, "", defaultSocketMode)
	case fd >= 0:
		return listenFD("--qmp-fd", fd)
	}
	return nil, nil
}

// defaultSocketMode lets the daemon's user and group connect.
const defaultSocketMode = 0o660

// listenPath creates a listening socket at path, given with the flag name, with the given group (""
// keeps the daemon's) and mode, atomically: the socket is bound, made to
// listen and given its owner and mode under a temporary name in the same
// directory, then renamed over path. A front end never finds a socket it
// may not connect to or that does not listen yet, so a restarted daemon's
// socket is usable the moment it appears.
func listenPath(name, path, group string, mode os.FileMode) (*socket, error) {
	gid := -1
	if group != "" {
		var err error
		if gid, err = lookupGroup(group); err != nil {
			return nil, err
		}
	}
	// A socket left behind by an earlier run is replaced; never anything
	// that is not a socket, nor the socket of a back end that still
	// listens on it.
	if st, err := os.Lstat(path); err == nil {
		if st.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("%s %s exists and is not a socket: remove it or choose another path", name, path)
		}
		if err := checkStale(name, path); err != nil {
			return nil, err
		}
	}
	tmp := filepath.Join(filepath.Dir(path), fmt.Sprintf(".vhost-user-blk-ccm.%d", os.Getpid()))
	if len(tmp) > maxSocketPath || len(path) > maxSocketPath {
		return nil, fmt.Errorf("%s %s: its directory is too long for a unix socket (at most %d bytes with the file name): choose a shorter path", name, path, maxSocketPath-len(filepath.Base(tmp)))
	}
	_ = os.Remove(tmp) // left by a crashed daemon of the same pid
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", name, path, err)
	}
	fail := func(err error) (*socket, error) {
		_ = l.Close() // removes tmp
		return nil, fmt.Errorf("%s %s: %w", name, path, err)
	}
	if gid >= 0 {
		if err := os.Lchown(tmp, -1, gid); err != nil {
			return fail(fmt.Errorf("give the socket to group %s: %w (the daemon must run as root or be a member of the group)", group, err))
		}
	}
	if err := os.Chmod(tmp, mode); err != nil {
		return fail(err)
	}
	st, err := os.Lstat(tmp)
	if err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fail(err)
	}
	// The listener no longer owns tmp; Close removes path.
	l.SetUnlinkOnClose(false)
	return &socket{UnixListener: l, name: path, path: path, ino: st.Sys().(*syscall.Stat_t).Ino}, nil
}

// maxSocketPath is the longest unix socket path Linux binds (sun_path less
// the terminating NUL).
const maxSocketPath = 107

// lookupGroup returns the id of a group given by name or number.
func lookupGroup(group string) (int, error) {
	g, err := user.LookupGroup(group)
	if err != nil {
		if g, err = user.LookupGroupId(group); err != nil {
			return -1, fmt.Errorf("--socket-group %s: no such group: give a group name or id from /etc/group", group)
		}
	}
	return strconv.Atoi(g.Gid)
}

// checkStale returns nil if nothing listens on the socket at path: connect
// is refused.
func checkStale(name, path string) error {
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err == nil {
		_ = c.Close()
		return fmt.Errorf("%s %s is in use: another process listens on it; stop it or choose another path", name, path)
	}
	if !errors.Is(err, unix.ECONNREFUSED) {
		return fmt.Errorf("%s %s: %w", name, path, err)
	}
	return nil
}

// listenFD returns the inherited listening socket fd, given with the flag
// name.
func listenFD(name string, fd int) (*socket, error) {
	what := fmt.Sprintf("%s %d", name, fd)
	// net.FileListener takes any socket, but accept fails for ever on one
	// that does not listen, and the front end connects with a stream socket.
	if err := checkStreamListener(fd); err != nil {
		return nil, fmt.Errorf("%s: %w: pass a listening unix stream socket", what, err)
	}
	f := os.NewFile(uintptr(fd), fmt.Sprintf("fd%d", fd))
	if f == nil {
		return nil, fmt.Errorf("%s is not a valid descriptor", what)
	}
	defer f.Close() // net.FileListener dups it
	l, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	ul, ok := l.(*net.UnixListener)
	if !ok {
		l.Close()
		return nil, fmt.Errorf("%s is not a listening unix socket", what)
	}
	return &socket{UnixListener: ul, name: fmt.Sprintf("fd%d", fd)}, nil
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
