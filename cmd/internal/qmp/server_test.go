package qmp

import (
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

	"github.com/ccmblk/ccmblk/tests/qmpclient"
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

// dial connects a client and reads the greeting; the connection closes
// with the test.
func dial(t *testing.T, path string) *qmpclient.Client {
	t.Helper()
	c, err := qmpclient.Dial(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// roundTrip sends s and returns the next message.
func roundTrip(t *testing.T, c *qmpclient.Client, s string) map[string]any {
	t.Helper()
	if err := c.Send(s); err != nil {
		t.Fatal(err)
	}
	m, err := c.Recv()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// negotiated dials and leaves negotiation mode.
func negotiated(t *testing.T, path string) *qmpclient.Client {
	t.Helper()
	c := dial(t, path)
	if _, err := c.Execute("qmp_capabilities", nil); err != nil {
		t.Fatal(err)
	}
	return c
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
	qmp, _ := c.Greeting["QMP"].(map[string]any)
	if qmp == nil || qmp["capabilities"] == nil {
		t.Fatalf("greeting %v", c.Greeting)
	}
	if v := qmp["version"].(map[string]any); v["package"] != "test" || v["qemu"].(map[string]any)["major"] != json.Number("1") {
		t.Errorf("greeting version %v", v)
	}
	r := roundTrip(t, c, `{"execute": "query-version", "id": "early"}`)
	wantError(t, r, ClassCommandNotFound, "Expecting capabilities negotiation with 'qmp_capabilities'")
	if r["id"] != "early" {
		t.Errorf("id not echoed: %v", r)
	}
	wantError(t, roundTrip(t, c, `{"execute": "qmp_capabilities", "arguments": {"enable": ["oob"]}}`), ClassGeneric, "Capability oob not available")
	if r := roundTrip(t, c, `{"execute": "qmp_capabilities", "id": {"n": [1, 2]}}`); r["return"] == nil || r["id"].(map[string]any)["n"] == nil {
		t.Fatalf("qmp_capabilities: %v", r)
	}
	wantError(t, roundTrip(t, c, `{"execute": "qmp_capabilities"}`), ClassCommandNotFound, "Capabilities negotiation is already complete, command ignored")
	var names []string
	for _, e := range roundTrip(t, c, `{"execute": "query-commands"}`)["return"].([]any) {
		names = append(names, e.(map[string]any)["name"].(string))
	}
	if strings.Join(names, " ") != "qmp_capabilities query-version query-commands echo" {
		t.Errorf("query-commands: %v", names)
	}
}

// TestMisuse sends every kind of bad input on one connection: each gets
// its error, and the connection goes on working.
func TestMisuse(t *testing.T) {
	c := negotiated(t, serve(t, testServer()))
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
		wantError(t, roundTrip(t, c, m.in+"\n"), m.class, m.desc)
	}
	r := roundTrip(t, c, "{\"execute\": nope}\n")
	if e, _ := r["error"].(map[string]any); e == nil || e["class"] != ClassGeneric || !strings.HasPrefix(e["desc"].(string), "JSON parse error") {
		t.Errorf("bad JSON: %v", r)
	}
	wantError(t, roundTrip(t, c, `{"execute": "`+strings.Repeat("x", MaxMessage)+`"}`), ClassGeneric, errTooLarge.Error())
	if r := roundTrip(t, c, `{"execute": "echo", "arguments": {"n": -7, "s": "é", "l": []}, "id": "ok"}`); r["id"] != "ok" || r["return"].(map[string]any)["n"] != json.Number("-7") {
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
	req := strings.Repeat(`{"execute": "query-commands"}`, 1000)
	go func() {
		for range 100 {
			if err := silent.Send(req); err != nil {
				return
			}
		}
	}()
	clients := make([]*qmpclient.Client, MaxClients-1)
	for i := range clients {
		clients[i] = negotiated(t, path)
	}
	for round := range 3 {
		for i, c := range clients {
			if r := roundTrip(t, c, `{"execute": "echo", "arguments": {"n": 1}, "id": 1}`); r["id"] != json.Number("1") {
				t.Fatalf("round %d, client %d: %v", round, i, r)
			}
		}
	}
	if _, err := qmpclient.Dial(path); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("Too many QMP clients (at most %d)", MaxClients)) {
		t.Errorf("one client too many: %v", err)
	}
	// The silent client's slot frees once its write times out.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := qmpclient.Dial(path)
		if err == nil {
			_ = c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the client that never reads was not dropped")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
