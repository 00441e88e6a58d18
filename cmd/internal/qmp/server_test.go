package qmp

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	_ = flag.Set("logtostderr", "true")
	os.Exit(m.Run())
}

// serve runs srv on a new socket until the test ends and returns its path.
func serve(t *testing.T, srv *Server) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "qmp.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Serve did not return")
		}
		_ = l.Close()
	})
	return path
}

// client is a raw QMP connection.
type client struct {
	t *testing.T
	c *net.UnixConn
	r *bufio.Reader
}

func dial(t *testing.T, path string) *client {
	t.Helper()
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &client{t: t, c: c, r: bufio.NewReader(c)}
}

// line reads one reply line, which must end with CRLF, and decodes it.
func (c *client) line() map[string]any {
	c.t.Helper()
	_ = c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	s, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("read: %v (got %q)", err, s)
	}
	if !strings.HasSuffix(s, "\r\n") {
		c.t.Fatalf("line %q does not end with CRLF", s)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		c.t.Fatalf("line %q: %v", s, err)
	}
	return m
}

func (c *client) send(s string) {
	c.t.Helper()
	if _, err := c.c.Write([]byte(s)); err != nil {
		c.t.Fatal(err)
	}
}

// negotiate reads the greeting and leaves negotiation mode.
func (c *client) negotiate() map[string]any {
	c.t.Helper()
	g := c.line()
	c.send(`{"execute": "qmp_capabilities"}`)
	if r := c.line(); r["return"] == nil {
		c.t.Fatalf("qmp_capabilities: %v", r)
	}
	return g
}

// wantError checks an error reply's class and description.
func wantError(t *testing.T, r map[string]any, class, desc string) {
	t.Helper()
	e, _ := r["error"].(map[string]any)
	if e == nil || e["class"] != class || e["desc"] != desc {
		t.Errorf("reply %v; want error %s %q", r, class, desc)
	}
}

func TestGreetingAndNegotiation(t *testing.T) {
	c := dial(t, serve(t, testServer()))
	g := c.line()
	qmp, _ := g["QMP"].(map[string]any)
	if qmp == nil || qmp["capabilities"] == nil {
		t.Fatalf("greeting %v", g)
	}
	if v := qmp["version"].(map[string]any); v["package"] != "test" || v["qemu"].(map[string]any)["major"] != 1.0 {
		t.Errorf("greeting version %v", v)
	}
	c.send(`{"execute": "query-version", "id": "early"}`)
	r := c.line()
	wantError(t, r, ClassCommandNotFound, "Expecting capabilities negotiation with 'qmp_capabilities'")
	if r["id"] != "early" {
		t.Errorf("id not echoed: %v", r)
	}
	c.send(`{"execute": "qmp_capabilities", "arguments": {"enable": ["oob"]}}`)
	wantError(t, c.line(), ClassGeneric, "Capability oob not available")
	c.send(`{"execute": "qmp_capabilities", "id": {"n": [1, 2]}}`)
	if r := c.line(); r["return"] == nil || r["id"].(map[string]any)["n"] == nil {
		t.Fatalf("qmp_capabilities: %v", r)
	}
	c.send(`{"execute": "qmp_capabilities"}`)
	wantError(t, c.line(), ClassCommandNotFound, "Capabilities negotiation is already complete, command ignored")
	c.send(`{"execute": "query-commands"}`)
	var names []string
	for _, e := range c.line()["return"].([]any) {
		names = append(names, e.(map[string]any)["name"].(string))
	}
	if strings.Join(names, " ") != "qmp_capabilities query-version query-commands echo" {
		t.Errorf("query-commands: %v", names)
	}
}

// TestMisuse sends every kind of bad input on one connection: each gets
// its error, and the connection goes on working.
func TestMisuse(t *testing.T) {
	c := dial(t, serve(t, testServer()))
	c.negotiate()
	for _, m := range []struct{ in, class, desc string }{
		{`{"execute": "nosuch", "id": 1}`, ClassCommandNotFound, "The command nosuch has not been found"},
		{`{"execute": 5}`, ClassGeneric, "QMP input member 'execute' must be a string"},
		{`{"id": 3}`, ClassGeneric, "QMP input lacks member 'execute'"},
		{`{"execute": "echo", "bogus": 1}`, ClassGeneric, "QMP input member 'bogus' is unexpected"},
		{`{"exec-oob": "echo"}`, ClassGeneric, "QMP input member 'exec-oob' is unexpected"},
		{`{"execute": "echo", "arguments": [1]}`, ClassGeneric, "QMP input member 'arguments' must be an object"},
		{`[1, 2]`, ClassGeneric, "QMP input must be a JSON object"},
		{`{"execute": "echo", "arguments": {"n": "5"}}`, ClassGeneric, "Invalid parameter type for 'n', expected: integer"},
		{`{"execute": "echo", "arguments": {"n": 1.5}}`, ClassGeneric, "Invalid parameter type for 'n', expected: integer"},
		{`{"execute": "echo", "arguments": {"n": 18446744073709551616}}`, ClassGeneric, "Invalid parameter type for 'n', expected: integer"},
		{`{"execute": "echo", "arguments": {"s": null}}`, ClassGeneric, "Invalid parameter type for 's', expected: string"},
		{`{"execute": "echo", "arguments": {"l": ["a", 1]}}`, ClassGeneric, "Invalid parameter type for 'l', expected: array"},
		{`{"execute": "echo", "arguments": {"x": 1}}`, ClassGeneric, "Parameter 'x' is unexpected"},
		{`{"execute": "query-version", "arguments": {"x": 1}}`, ClassGeneric, "Parameter 'x' is unexpected"},
	} {
		c.send(m.in + "\n")
		wantError(t, c.line(), m.class, m.desc)
	}
	c.send("{\"execute\": nope}\n")
	r := c.line()
	if e, _ := r["error"].(map[string]any); e == nil || e["class"] != ClassGeneric || !strings.HasPrefix(e["desc"].(string), "JSON parse error") {
		t.Errorf("bad JSON: %v", r)
	}
	c.send(`{"execute": "` + strings.Repeat("x", MaxMessage) + `"}`)
	wantError(t, c.line(), ClassGeneric, errTooLarge.Error())
	c.send(`{"execute": "echo", "arguments": {"n": -7, "s": "é", "l": []}, "id": "ok"}`)
	if r := c.line(); r["id"] != "ok" || r["return"].(map[string]any)["n"] != -7.0 {
		t.Fatalf("after the misuse: %v", r)
	}
}

// TestClients runs MaxClients clients at once, one of which never reads
// its replies: the others are served meanwhile, one more client is
// refused, and the silent one is dropped after the write timeout, which
// frees its slot.
func TestClients(t *testing.T) {
	old := writeTimeout
	writeTimeout = time.Second
	t.Cleanup(func() { writeTimeout = old })
	path := serve(t, testServer())
	silent := dial(t, path)
	// Enough requests to fill the socket buffers both ways.
	req := []byte(strings.Repeat(`{"execute": "query-commands"}`, 1000))
	go func() {
		for range 100 {
			if _, err := silent.c.Write(req); err != nil {
				return
			}
		}
	}()
	clients := make([]*client, MaxClients-1)
	for i := range clients {
		clients[i] = dial(t, path)
		clients[i].negotiate()
	}
	for round := range 3 {
		for i, c := range clients {
			c.send(`{"execute": "echo", "arguments": {"n": 1}, "id": 1}`)
			if r := c.line(); r["id"] != 1.0 {
				t.Fatalf("round %d, client %d: %v", round, i, r)
			}
		}
	}
	wantError(t, dial(t, path).line(), ClassGeneric, fmt.Sprintf("Too many QMP clients (at most %d)", MaxClients))
	// The silent client's slot frees once its write times out.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c := dial(t, path)
		if r := c.line(); r["QMP"] != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the client that never reads was not dropped")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
