package ccm

import (
	"bytes"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// upstreamDir returns the directory of the reference images made by
// mirage-block-ccm: $CCMBLK_TESTDATA, or the copy in tests/testdata.
func upstreamDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("CCMBLK_TESTDATA")
	if dir == "" {
		dir = filepath.Join("..", "tests", "testdata", "mirage-ccm")
	}
	if _, err := os.Stat(filepath.Join(dir, "README.md")); err != nil {
		t.Fatalf("reference images not found (set CCMBLK_TESTDATA): %v", err)
	}
	return dir
}

// nodeScript is the OpenSSL-based image tool shared by the project's tests.
const nodeScript = "../tests/openssl/ccm-image.js"

// nodeBin returns the node binary; a test that needs OpenSSL fails without
// it rather than skipping.
func nodeBin(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("node"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/bin/node"); err == nil {
		return "/usr/bin/node"
	}
	t.Fatal("node (for OpenSSL's AES-CCM) not found in PATH or /usr/bin")
	return ""
}

// runNode runs node with args and returns its stdout, its stderr and the
// run error.
func runNode(t testing.TB, stdin []byte, args ...string) (stdout, stderr []byte, err error) {
	t.Helper()
	cmd := exec.Command(nodeBin(t), args...)
	var o, e bytes.Buffer
	cmd.Stdin = bytes.NewReader(stdin)
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.Bytes(), e.Bytes(), err
}

// writeKeyFile stores key as hex in a file under dir, the way the image
// tools read keys.
func writeKeyFile(t testing.TB, dir string, key []byte) string {
	t.Helper()
	p := filepath.Join(dir, "key.hex")
	if err := os.WriteFile(p, []byte(hex.EncodeToString(key)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
