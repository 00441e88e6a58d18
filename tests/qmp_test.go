//go:build integration

package tests

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/ccmblk/ccmblk/tests/qmpclient"
	"github.com/ccmblk/ccmblk/tests/vmtest"
)

// qmpPeers starts the daemon and qemu-storage-daemon (see qmpPeerSockets)
// and returns a client of each (greeting read, not negotiated) and the two
// images.
func qmpPeers(t *testing.T) (ours, qsd *qmpclient.Client, ourImg, qsdImg string) {
	t.Helper()
	qsock, qsdSock, ourImg, qsdImg := qmpPeerSockets(t)
	dial := func(path string) *qmpclient.Client {
		c, err := qmpclient.Dial(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	return dial(qsock), dial(qsdSock), ourImg, qsdImg
}

// qmpPeerSockets starts the daemon and qemu-storage-daemon, each with a
// QMP socket and a 1 MiB raw image whose node is disk0, and returns the
// two sockets and the two images.
func qmpPeerSockets(t *testing.T) (ours, qsd, ourImg, qsdImg string) {
	t.Helper()
	env, err := vmtest.LoadEnv()
	if err != nil {
		t.Fatalf("%v (run tests/setup.sh)", err)
	}
	dir := t.TempDir()
	ourImg, qsdImg = filepath.Join(dir, "ours.img"), filepath.Join(dir, "qsd.img")
	for _, p := range []string{ourImg, qsdImg} {
		if err := os.WriteFile(p, make([]byte, 1<<20), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	sock, qsock, qsdSock := socketPath(t), socketPath(t), socketPath(t)
	startDaemon(t, sock, []string{daemonBinary(t), "--socket-path", sock, "--blk-file", ourImg, "--format", "raw",
		"--num-queues", "1", "--qmp-socket", qsock, "--logtostderr"})
	_, err = vmtest.StartBackend(testContext(t), t, "qsd", qsdSock, []string{env.QSD,
		"--blockdev", "driver=file,node-name=disk0,filename=" + qsdImg,
		"--chardev", "socket,id=mon,path=" + qsdSock + ",server=on,wait=off",
		"--monitor", "chardev=mon"})
	if err != nil {
		t.Fatal(err)
	}
	return qsock, qsdSock, ourImg, qsdImg
}

// TestQMPShell types the same commands into QEMU's qmp-shell (from
// qemu.qmp) on the daemon's control socket and on qemu-storage-daemon's
// monitor: the shell connects to both, and prints the same answers,
// errors included, but for the version it greets.
func TestQMPShell(t *testing.T) {
	env, _ := vmEnv(t)
	ours, qsd, _, _ := qmpPeerSockets(t)
	input := strings.Join([]string{
		"nosuch",
		"block_resize node-name=disk0",
		"block_resize node-name=disk0 size=-512",
		"block_resize node-name=disk0 size=2097152",
		"block_resize node-name=disk0 size=3145728",
	}, "\n") + "\n"
	connected := regexp.MustCompile(`Connected to QEMU [0-9.]+`)
	shell := func(sock string) string {
		cmd := env.QMPPythonCommand("-m", "qemu.qmp.qmp_shell", sock)
		cmd.Stdin = strings.NewReader(input)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("qmp-shell on %s: %v\n%s", sock, err, out)
		}
		return connected.ReplaceAllString(string(out), "Connected to QEMU")
	}
	a, b := shell(ours), shell(qsd)
	t.Logf("qmp-shell on the daemon:\n%s", a)
	if a != b {
		t.Errorf("qmp-shell answers differ; qemu-storage-daemon's:\n%s", b)
	}
	if n := strings.Count(a, `{"return": {}}`); n != 2 {
		t.Errorf("%d successful block_resize answers, want 2", n)
	}
}

// exchange sends line to c and returns the reply.
func exchange(t *testing.T, c *qmpclient.Client, line string) map[string]any {
	t.Helper()
	if err := c.Send(line + "\n"); err != nil {
		t.Fatal(err)
	}
	m, err := c.Recv()
	if err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	return m
}

// errorOf returns a reply's error class and description.
func errorOf(m map[string]any) (class, desc string) {
	e, _ := m["error"].(map[string]any)
	class, _ = e["class"].(string)
	desc, _ = e["desc"].(string)
	return class, desc
}

// TestQMPLikeQSD speaks to the daemon's control socket and to
// qemu-storage-daemon's QMP monitor with the same client and the same
// input, valid and not: the greetings have the same shape, negotiation
// works the same, every misuse gets the same error class and, where the
// daemon follows QEMU's wording, the same description, ids come back the
// same, and block_resize grows both images. Every line of both ends with
// CRLF (the client checks).
func TestQMPLikeQSD(t *testing.T) {
	ours, qsd, ourImg, qsdImg := qmpPeers(t)
	for name, c := range map[string]*qmpclient.Client{"daemon": ours, "qsd": qsd} {
		g, _ := c.Greeting["QMP"].(map[string]any)
		v, _ := g["version"].(map[string]any)
		q, _ := v["qemu"].(map[string]any)
		_, hasPackage := v["package"].(string)
		_, hasCaps := g["capabilities"].([]any)
		if q["major"] == nil || q["minor"] == nil || q["micro"] == nil || !hasPackage || !hasCaps {
			t.Errorf("%s greeting: %v", name, c.Greeting)
		}
	}
	type check int
	const (
		same      check = iota // class and description
		sameClass              // class, and the description's first words
	)
	steps := []struct {
		line string
		how  check
	}{
		{`{"execute": "query-version", "id": "early"}`, same},
		{`{"execute": "qmp_capabilities", "id": {"n": [1, 2]}}`, same},
		{`{"execute": "qmp_capabilities"}`, same},
		{`{"execute": "nosuch", "id": 1}`, same},
		{`{"execute": 5}`, same},
		{`{"id": 3}`, same},
		{`{"execute": "query-version", "bogus": 1}`, same},
		{`{"exec-oob": "query-version"}`, same},
		{`{"execute": "query-version", "arguments": [1]}`, same},
		{`[1, 2]`, same},
		{`123`, same},
		{`{"execute": nope}`, sameClass},
		{`}`, sameClass},
		{`{"execute": "query-version", "arguments": {"x": 1}}`, same},
		{`{"execute": "block_resize", "arguments": {"node-name": "disk0", "size": "5"}}`, same},
		{`{"execute": "block_resize", "arguments": {"node-name": "disk0", "size": 1.5}}`, same},
		{`{"execute": "block_resize", "arguments": {"node-name": "disk0", "size": 18446744073709551616}}`, same},
		{`{"execute": "block_resize", "arguments": {"node-name": "disk0"}}`, same},
		{`{"execute": "block_resize", "arguments": {"node-name": "disk0", "size": 2097152, "x": 1}}`, same},
		{`{"execute": "block_resize", "arguments": {"node-name": "disk0", "size": -512}}`, same},
		{`{"execute": "block_resize", "arguments": {"node-name": 5, "size": 2097152}}`, same},
		{`{"execute": "block_resize", "arguments": {"device": "nosuch", "size": 2097152}}`, sameClass},
		{`{"execute": "block_resize", "arguments": {"node-name": "disk0", "size": 2097152}, "id": "grow"}`, same},
	}
	for _, s := range steps {
		a, b := exchange(t, ours, s.line), exchange(t, qsd, s.line)
		if !reflect.DeepEqual(a["id"], b["id"]) {
			t.Errorf("%s: id %v, qsd %v", s.line, a["id"], b["id"])
		}
		if (a["return"] == nil) != (b["return"] == nil) {
			t.Errorf("%s: daemon %v, qsd %v", s.line, a, b)
			continue
		}
		ca, da := errorOf(a)
		cb, db := errorOf(b)
		first := func(s string) string { return strings.Join(strings.Fields(s)[:min(3, len(strings.Fields(s)))], " ") }
		switch {
		case ca != cb:
			t.Errorf("%s: class %q, qsd %q", s.line, ca, cb)
		case s.how == same && da != db:
			t.Errorf("%s: %q, qsd %q", s.line, da, db)
		case s.how == sameClass && first(da) != first(db):
			t.Errorf("%s: %q, qsd %q", s.line, da, db)
		}
	}
	for _, img := range []string{ourImg, qsdImg} {
		if st, err := os.Stat(img); err != nil || st.Size() != 2<<20 {
			t.Errorf("%s after block_resize: %v %v, want 2 MiB", img, st, err)
		}
	}
	for name, c := range map[string]*qmpclient.Client{"daemon": ours, "qsd": qsd} {
		r, err := c.Execute("query-commands", nil)
		if err != nil {
			t.Fatal(err)
		}
		have := map[string]bool{}
		for _, e := range r.([]any) {
			have[e.(map[string]any)["name"].(string)] = true
		}
		for _, want := range []string{"qmp_capabilities", "query-version", "query-commands", "block_resize", "query-blockstats"} {
			if !have[want] {
				t.Errorf("%s: query-commands lacks %s", name, want)
			}
		}
		v, err := c.Execute("query-version", nil)
		if err != nil {
			t.Fatal(err)
		}
		if q, _ := v.(map[string]any)["qemu"].(map[string]any); q["major"] == nil {
			t.Errorf("%s: query-version %v", name, v)
		}
	}
}
