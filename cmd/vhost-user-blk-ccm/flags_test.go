package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPrintCapabilities checks --print-capabilities against QEMU's schema
// (docs/interop/vhost-user.json): one JSON object of type "block" whose
// features are VHostUserBackendBlockFeature values, on stdout, exit 0.
func TestPrintCapabilities(t *testing.T) {
	code, stdout, _ := runDaemon(t, "--print-capabilities")
	if code != 0 {
		t.Fatalf("exit status %d, want 0", code)
	}
	dec := json.NewDecoder(strings.NewReader(stdout))
	dec.DisallowUnknownFields()
	var caps struct {
		Type     string    `json:"type"`
		Features *[]string `json:"features"`
	}
	if err := dec.Decode(&caps); err != nil {
		t.Fatalf("stdout %q is not the capabilities object: %v", stdout, err)
	}
	if dec.More() {
		t.Errorf("stdout %q holds more than one JSON value", stdout)
	}
	if caps.Type != "block" {
		t.Errorf("type %q, want block", caps.Type)
	}
	if caps.Features == nil {
		t.Fatalf("no features array in %q", stdout)
	}
	// The program takes both flags QEMU's schema names for block back ends.
	got := map[string]bool{}
	for _, f := range *caps.Features {
		if f != "read-only" && f != "blk-file" || got[f] {
			t.Errorf("feature %q is not a VHostUserBackendBlockFeature or repeats", f)
		}
		got[f] = true
	}
	if !got["read-only"] || !got["blk-file"] {
		t.Errorf("features %q, want read-only and blk-file", *caps.Features)
	}
}

// TestRefusesToStart checks that every bad configuration exits non-zero
// with a message naming the problem, and leaves no socket behind.
func TestRefusesToStart(t *testing.T) {
	im := newCCMImage(t, 8)
	dir := t.TempDir()
	wrongKey := writeKeyFile(t, dir, "wrong.key", newKey(t, 32))
	shortHex := writeKeyFile(t, dir, "short.key", newKey(t, 20))
	rawShort := filepath.Join(dir, "raw10.key")
	if err := os.WriteFile(rawShort, newKey(t, 10), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.img")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	notSocket := filepath.Join(dir, "file")
	if err := os.WriteFile(notSocket, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	// with returns im's flags with flag set to value (or dropped when
	// value is "").
	with := func(flag, value string) []string {
		var out []string
		a := im.args()
		for i := 0; i < len(a); i += 2 {
			if a[i] == flag {
				if value != "" {
					out = append(out, flag, value)
				}
				continue
			}
			out = append(out, a[i], a[i+1])
		}
		return out
	}
	auth := "sector 0 does not authenticate"
	cases := []struct {
		name string
		args []string // after --socket-path (unless noSocket)
		want string
		// noSocket leaves --socket-path out of args.
		noSocket bool
	}{
		{"missing image", with("--blk-file", filepath.Join(dir, "absent.img")), "absent.img: no such file", false},
		{"no --blk-file", with("--blk-file", ""), "--blk-file is required", false},
		{"empty image", with("--blk-file", empty), "holds no whole logical sector", false},
		{"no --key-file", with("--key-file", ""), "--key-file is required", false},
		{"absent key file", with("--key-file", filepath.Join(dir, "absent.key")), "absent.key: no such file", false},
		{"hex key of 20 bytes", with("--key-file", shortHex), "16, 24 or 32", false},
		{"raw key of 10 bytes", with("--key-file", rawShort), "16, 24 or 32", false},
		{"wrong key", with("--key-file", wrongKey), auth, false},
		{"wrong --mac-len", with("--mac-len", "8"), auth, false},
		{"wrong --nonce-len", with("--nonce-len", "12"), auth, false},
		{"invalid --mac-len", with("--mac-len", "5"), "tag length 5", false},
		{"wrong --sector-size", with("--sector-size", "4096"), auth, false},
		{"bad --format", append(im.args(), "--format", "qcow2"), `--format "qcow2"`, false},
		{"--num-queues 0", append(im.args(), "--num-queues", "0"), "--num-queues 0", false},
		{"--num-queues 65", append(im.args(), "--num-queues", "65"), "--num-queues 65", false},
		{"--num-queues -1", append(im.args(), "--num-queues", "-1"), "--num-queues -1", false},
		{"--num-queues x", append(im.args(), "--num-queues", "x"), `invalid value "x" for flag -num-queues`, false},
		{"--queue-size 100", append(im.args(), "--queue-size", "100"), "--queue-size 100", false},
		{"--x-io-delay without a unit", append(im.args(), "--x-io-delay", "0-20"), `--x-io-delay "0-20"`, false},
		{"--x-io-delay MIN above MAX", append(im.args(), "--x-io-delay", "9-2ms"), "MIN <= MAX", false},
		{"stray argument", append(im.args(), "disk.img"), "unexpected arguments", false},
		{"both --socket-path and --fd", append(im.args(), "--fd", "0"), "not both", false},
		{"neither --socket-path nor --fd", im.args(), "--socket-path or --fd is required", true},
		{"--fd not a socket", append(im.args(), "--fd", "0"), "--fd 0", true},
		{"--socket-path a file", append(im.args(), "--socket-path", notSocket), "exists and is not a socket", true},
		{"both --qmp-socket and --qmp-fd", append(im.args(), "--qmp-socket", filepath.Join(dir, "q.sock"), "--qmp-fd", "0"), "not both", false},
		{"--qmp-fd not a socket", append(im.args(), "--qmp-fd", "0"), "--qmp-fd 0", false},
		{"--qmp-socket a file", append(im.args(), "--qmp-socket", notSocket), "--qmp-socket " + notSocket + " exists and is not a socket", false},
		{"raw: missing image", []string{"--format", "raw", "--blk-file", filepath.Join(dir, "absent.img")}, "absent.img: no such file", false},
		{"raw: directory", []string{"--format", "raw", "--read-only", "--blk-file", dir}, "is not a regular file or block device", false},
		{"raw: character device", []string{"--format", "raw", "--blk-file", os.DevNull}, "is not a regular file or block device", false},
		{"raw: empty image", []string{"--format", "raw", "--blk-file", empty}, "holds no whole sector", false},
		{"raw: --sector-size 1000", []string{"--format", "raw", "--blk-file", im.path, "--sector-size", "1000"}, "--sector-size 1000", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sock := socketPath(t)
			args := c.args
			if !c.noSocket {
				args = append([]string{"--socket-path", sock}, args...)
			}
			code, _, stderr := runDaemon(t, args...)
			if code == 0 {
				t.Errorf("exit status 0, want non-zero")
			}
			if !strings.Contains(stderr, c.want) {
				t.Errorf("stderr does not say %q:\n%s", c.want, stderr)
			}
			if _, err := os.Lstat(sock); err == nil {
				t.Errorf("refused daemon left %s behind", sock)
			}
		})
	}
	if b, err := os.ReadFile(notSocket); err != nil || !bytes.Equal(b, []byte("keep me")) {
		t.Errorf("the file at --socket-path changed: %q, %v", b, err)
	}
}
