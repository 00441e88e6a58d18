package main

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestForceProtectsExistingOutput(t *testing.T) {
	u := upstreamImages[0]
	key := writeKeyFile(t, []byte(u.key))
	dir := t.TempDir()
	out := filepath.Join(dir, "plain.img")
	old := bytes.Repeat([]byte("old!"), 30000) // larger than the result
	if err := os.WriteFile(out, old, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"dec", "--key-file", key, "-i", u.enc(t), "-o", out},
		{"enc", "--key-file", key, "-i", u.plain(t), "-o", out},
		{"create", "--key-file", key, "--size", "1K", "-o", out},
		{"keygen", "-o", out},
	} {
		r := ccmblock(t, args...)
		if r.code != exitFail || !strings.Contains(r.stderr, "exists; use --force to overwrite it") {
			t.Errorf("%s over an existing file: exit %d stderr %q", args[0], r.code, r.stderr)
		}
	}
	assertSame(t, readFile(t, out), old)

	mustRun(t, "dec", "--force", "--key-file", key, "-i", u.enc(t), "-o", out)
	assertSame(t, readFile(t, out), readFile(t, u.plain(t)))

	// --force never overwrites the input, whatever the path says.
	enc := filepath.Join(dir, "enc.img")
	mustRun(t, "enc", "--key-file", key, "-i", out, "-o", enc)
	link := filepath.Join(dir, "link.img")
	if err := os.Symlink(enc, link); err != nil {
		t.Fatal(err)
	}
	r := ccmblock(t, "dec", "--force", "--key-file", key, "-i", enc, "-o", link)
	if r.code != exitFail || !strings.Contains(r.stderr, "is the input") {
		t.Errorf("dec onto its input: exit %d stderr %q", r.code, r.stderr)
	}
	if n := len(readFile(t, enc)); n != 65536 {
		t.Errorf("input changed size to %d", n)
	}
}

func TestBadFlags(t *testing.T) {
	u := upstreamImages[0]
	in := u.enc(t)
	out := filepath.Join(t.TempDir(), "out.img")
	secret := "78b22527d5eee5bb05e0c714d7958c89"
	key := writeKeyFile(t, []byte(secret))
	base := func(extra ...string) []string {
		return append([]string{"dec", "--key-file", key, "-i", in, "-o", out}, extra...)
	}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"key too short", []string{"dec", "-k", "78b22527d5eee5bb05e0c714d7958c", "-i", in, "-o", out}, "--key is 15 bytes; AES keys are 16, 24 or 32 bytes"},
		{"key not hex", []string{"dec", "--key", "0x78b22527d5eee5bb05e0c714d7958cZZ", "-i", in, "-o", out}, "--key: not valid hex"},
		{"key odd length", []string{"dec", "--key", secret + "0", "-i", in, "-o", out}, "--key: not valid hex"},
		{"no key", []string{"dec", "-i", in, "-o", out}, "a key is required"},
		{"two keys", base("--key", secret), "not both"},
		{"mac length odd", base("--mac-len", "5"), "tag length 5"},
		{"mac length large", base("--mac-len", "18"), "tag length 18"},
		{"mac length zero", base("--mac-len", "0"), "must be positive"},
		{"nonce length small", base("--nonce-len", "6"), "nonce length 6"},
		{"nonce length large", base("--nonce-len", "14"), "nonce length 14"},
		{"sector size not a power of two", base("--sector-size", "1000"), "sector size 1000"},
		{"sector size too large", base("--sector-size", "8192"), "sector size 8192"},
		{"sector size too small for M and N", base("--sector-size", "32"), "sector size 32"},
		{"mac length not a number", base("--mac-len", "x"), "invalid value"},
		{"unknown flag", base("--nonce", "8"), "flag provided but not defined: -nonce"},
		{"stray argument", base(secret), "1 unexpected argument(s)"},
		{"missing input", []string{"dec", "--key-file", key, "-o", out}, "missing -i/--in"},
		{"missing output", []string{"enc", "--key-file", key, "-i", in}, "missing -o/--out"},
		{"missing size", []string{"create", "--key-file", key, "-o", out}, "missing --size"},
		{"size not whole sectors", []string{"create", "--key-file", key, "-o", out, "--size", "1000"}, "not a multiple of the 512-byte sector size"},
		{"size zero", []string{"create", "--key-file", key, "-o", out, "--size", "0"}, "must be positive"},
		{"size garbage", []string{"create", "--key-file", key, "-o", out, "--size", "12Q"}, "want bytes"},
		{"keygen length", []string{"keygen", "-o", out, "--key-len", "20"}, "--key-len 20"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := ccmblock(t, tc.args...)
			if r.code != exitUsage {
				t.Errorf("exit %d, want %d", r.code, exitUsage)
			}
			if !strings.Contains(r.stderr, tc.want) {
				t.Errorf("stderr %q lacks %q", r.stderr, tc.want)
			}
			if strings.Contains(r.stderr+r.stdout, secret[:20]) || strings.Contains(r.stderr+r.stdout, "ZZ") {
				t.Errorf("output shows key material: %q", r.stderr)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("output was created: %v", err)
			}
		})
	}
}

func TestKeyForms(t *testing.T) {
	u := upstreamImages[0]
	raw, err := hex.DecodeString(u.key)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args func(t *testing.T) []string
		warn bool
	}{
		{"file hex", func(t *testing.T) []string { return []string{"--key-file", writeKeyFile(t, []byte(u.key))} }, false},
		{"file 0x hex with whitespace", func(t *testing.T) []string {
			return []string{"--key-file", writeKeyFile(t, []byte("  0x"+strings.ToUpper(u.key)+"\r\n"))}
		}, false},
		{"file 0X hex", func(t *testing.T) []string { return []string{"--key-file", writeKeyFile(t, []byte("0X"+u.key))} }, false},
		{"file raw bytes", func(t *testing.T) []string { return []string{"--key-file", writeKeyFile(t, raw)} }, false},
		{"flag -k", func(*testing.T) []string { return []string{"-k", u.key} }, true},
		{"flag --key 0x", func(*testing.T) []string { return []string{"--key", "0x" + u.key} }, true},
		{"flag --key=", func(*testing.T) []string { return []string{"--key=" + u.key} }, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "plain.img")
			r := mustRun(t, append([]string{"dec", "-i", u.enc(t), "--out", out}, tc.args(t)...)...)
			assertSame(t, readFile(t, out), readFile(t, u.plain(t)))
			warned := strings.Contains(r.stderr, "--key puts the key in the process list")
			if warned != tc.warn {
				t.Errorf("warning shown %v, want %v (stderr %q)", warned, tc.warn, r.stderr)
			}
			if strings.Contains(r.stderr, u.key) {
				t.Error("stderr shows the key")
			}
		})
	}
}

func TestBadKeyFiles(t *testing.T) {
	u := upstreamImages[0]
	out := filepath.Join(t.TempDir(), "plain.img")
	for _, tc := range []struct {
		name    string
		content []byte
	}{
		{"hex of 15 bytes", []byte("78b22527d5eee5bb05e0c714d7958c")},
		{"10 raw bytes", bytes.Repeat([]byte{0xfe}, 10)},
		{"not hex", []byte("this is not a key, it is a sentence\n")},
		{"empty", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ccmblock(t, "dec", "--key-file", writeKeyFile(t, tc.content), "-i", u.enc(t), "-o", out)
			if r.code != exitFail || !strings.Contains(r.stderr, "holds neither hex text") {
				t.Errorf("exit %d stderr %q", r.code, r.stderr)
			}
			if len(tc.content) > 0 && strings.Contains(r.stderr, string(tc.content)) {
				t.Error("stderr shows the key file's content")
			}
		})
	}
	r := ccmblock(t, "dec", "--key-file", filepath.Join(t.TempDir(), "missing"), "-i", u.enc(t), "-o", out)
	if r.code != exitFail || !strings.Contains(r.stderr, "key file") {
		t.Errorf("missing key file: exit %d stderr %q", r.code, r.stderr)
	}

	open := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(open, []byte(u.key), 0o644); err != nil {
		t.Fatal(err)
	}
	r = mustRun(t, "dec", "--key-file", open, "-i", u.enc(t), "-o", out)
	if !strings.Contains(r.stderr, "accessible by group or others") {
		t.Errorf("no warning for a world-readable key file: %q", r.stderr)
	}
}

func TestKeygen(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key")
	r := mustRun(t, "keygen", "-o", keyFile)
	text := readFile(t, keyFile)
	if len(text) != 65 || text[64] != '\n' {
		t.Fatalf("key file is %q, want 64 hex digits and a newline", text)
	}
	if _, err := hex.DecodeString(string(text[:64])); err != nil {
		t.Fatalf("key file is not hex: %v", err)
	}
	if strings.Contains(r.stdout+r.stderr, string(text[:64])) {
		t.Error("keygen printed the key")
	}
	st, err := os.Stat(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %o, want 600", st.Mode().Perm())
	}

	// The key works, and --force replaces it with a new one of mode 0600.
	enc := filepath.Join(dir, "enc.img")
	mustRun(t, "create", "--key-file", keyFile, "-o", enc, "--size", "4K")
	mustRun(t, "check", "--key-file", keyFile, "-i", enc)
	if err := os.Chmod(keyFile, 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "keygen", "--force", "--key-len", "16", "-o", keyFile)
	text2 := readFile(t, keyFile)
	if len(text2) != 33 || bytes.Equal(text2[:32], text[:32]) {
		t.Errorf("regenerated key file %d bytes, or not new", len(text2))
	}
	if st, _ := os.Stat(keyFile); st.Mode().Perm() != 0o600 {
		t.Errorf("regenerated key file mode %o, want 600", st.Mode().Perm())
	}
	r = ccmblock(t, "check", "--key-file", keyFile, "-i", enc)
	if r.code != exitFail || !strings.Contains(r.stderr, wrongKeyHint) {
		t.Errorf("check with another key: exit %d stderr %q", r.code, r.stderr)
	}
}

func TestHelp(t *testing.T) {
	r := mustRun(t, "help")
	for _, name := range []string{"enc", "dec", "create", "check", "info", "keygen", "--key-file", "-k, --key", "--mac-len", "--nonce-len", "--sector-size"} {
		if !strings.Contains(r.stdout, name) {
			t.Errorf("usage lacks %q", name)
		}
	}
	for _, args := range [][]string{{"-h"}, {"--help"}} {
		if r2 := mustRun(t, args...); r2.stdout != r.stdout {
			t.Errorf("%v prints another text than help", args)
		}
	}
	for _, c := range commands {
		r := mustRun(t, c.name, "-h")
		if !strings.HasPrefix(r.stdout, "Usage: ccmblock "+c.name) {
			t.Errorf("%s -h: %q", c.name, r.stdout)
		}
		if r2 := mustRun(t, "help", c.name); r2.stdout != r.stdout {
			t.Errorf("help %s differs from %s -h", c.name, c.name)
		}
	}
	for _, args := range [][]string{nil, {"frobnicate"}, {"help", "frobnicate"}} {
		if r := ccmblock(t, args...); r.code != exitUsage {
			t.Errorf("%v: exit %d, want %d", args, r.code, exitUsage)
		}
	}
}

func TestRejectsInputsWithoutASize(t *testing.T) {
	key := writeKeyFile(t, []byte("000102030405060708090a0b0c0d0e0f"))
	dir := t.TempDir()
	out := filepath.Join(dir, "out.img")
	for _, args := range [][]string{
		{"dec", "-i", dir, "-o", out},
		{"check", "-i", dir},
		{"info", "-i", dir},
		{"enc", "-i", "/dev/zero", "-o", out},
	} {
		r := ccmblock(t, append(args, "--key-file", key)...)
		if r.code != exitFail || !strings.Contains(r.stderr, "is not a regular file or block device") {
			t.Errorf("%v: exit %d stderr %q", args, r.code, r.stderr)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("output created: %v", err)
	}
}
