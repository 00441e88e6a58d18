// Package qmpclient is a small QEMU Machine Protocol client for tests. It
// speaks to any QMP server, QEMU's own (qemu-storage-daemon, QEMU) as well
// as the daemon's control socket, so that tests can compare the two.
package qmpclient

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// Timeout bounds each read of a reply.
const Timeout = 30 * time.Second

// Client is one QMP connection.
type Client struct {
	c *net.UnixConn
	r *bufio.Reader
	// Greeting is the server's first message.
	Greeting map[string]any
}

// Dial connects to the QMP server at path and reads its greeting, without
// negotiating capabilities.
func Dial(path string) (*Client, error) {
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, err
	}
	cl := &Client{c: c, r: bufio.NewReader(c)}
	if cl.Greeting, err = cl.Recv(); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("qmpclient: greeting: %w", err)
	}
	if _, ok := cl.Greeting["QMP"]; !ok {
		_ = c.Close()
		return nil, fmt.Errorf("qmpclient: greeting %v lacks QMP", cl.Greeting)
	}
	return cl, nil
}

// Connect dials path and negotiates capabilities.
func Connect(path string) (*Client, error) {
	c, err := Dial(path)
	if err != nil {
		return nil, err
	}
	if _, err := c.Execute("qmp_capabilities", nil); err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.c.Close() }

// Send writes s as is.
func (c *Client) Send(s string) error {
	_, err := c.c.Write([]byte(s))
	return err
}

// Recv reads one message, which must be a CRLF-terminated line holding a
// JSON object. Events (messages with "event") are returned like replies.
func (c *Client) Recv() (map[string]any, error) {
	if err := c.c.SetReadDeadline(time.Now().Add(Timeout)); err != nil {
		return nil, err
	}
	line, err := c.r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	if !strings.HasSuffix(line, "\r\n") {
		return nil, fmt.Errorf("qmpclient: message %q does not end with CRLF", line)
	}
	d := json.NewDecoder(strings.NewReader(line))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, fmt.Errorf("qmpclient: message %q: %w", line, err)
	}
	return m, nil
}

// Error is a QMP error reply.
type Error struct {
	Class, Desc string
}

func (e *Error) Error() string { return e.Class + ": " + e.Desc }

// Reply returns the "return" member of a reply, or its error as *Error.
func Reply(m map[string]any) (any, error) {
	if e, ok := m["error"].(map[string]any); ok {
		class, _ := e["class"].(string)
		desc, _ := e["desc"].(string)
		return nil, &Error{Class: class, Desc: desc}
	}
	r, ok := m["return"]
	if !ok {
		return nil, fmt.Errorf("qmpclient: reply %v has neither return nor error", m)
	}
	return r, nil
}

// Execute runs a command and returns its "return" member or its *Error.
// Events that arrive before the reply are skipped.
func (c *Client) Execute(name string, args map[string]any) (any, error) {
	cmd := map[string]any{"execute": name}
	if args != nil {
		cmd["arguments"] = args
	}
	b, err := json.Marshal(cmd)
	if err != nil {
		return nil, err
	}
	if err := c.Send(string(b) + "\n"); err != nil {
		return nil, err
	}
	for {
		m, err := c.Recv()
		if err != nil {
			return nil, err
		}
		if _, ok := m["event"]; !ok {
			return Reply(m)
		}
	}
}

// ErrorClass returns the class of err if it is a QMP error, or "".
func ErrorClass(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Class
	}
	return ""
}
