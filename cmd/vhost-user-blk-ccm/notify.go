package main

import (
	"fmt"
	"net"
	"os"
	"strings"
)

// sdNotify sends state, newline-separated VAR=value assignments such as
// "READY=1", to the service manager's notification socket named by
// $NOTIFY_SOCKET (sd_notify(3)): one datagram on a unix datagram socket,
// a path or, with a leading '@', an abstract name. Without $NOTIFY_SOCKET
// (not started by systemd with Type=notify) it does nothing.
func sdNotify(state string) error {
	addr := os.Getenv("NOTIFY_SOCKET")
	if addr == "" {
		return nil
	}
	if !strings.HasPrefix(addr, "/") && !strings.HasPrefix(addr, "@") {
		return fmt.Errorf("NOTIFY_SOCKET=%q: only unix socket paths and abstract names are supported", addr)
	}
	// Go maps a leading '@' to the abstract namespace.
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("NOTIFY_SOCKET %s: %w", addr, err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(state)); err != nil {
		return fmt.Errorf("NOTIFY_SOCKET %s: %w", addr, err)
	}
	return nil
}
