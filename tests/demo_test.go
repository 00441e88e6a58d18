//go:build integration

package tests

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/ccmblk/ccmblk/tests/vmtest"
)

// TestDemoCommand runs the README's demo (tests/cmd/demo) on a small disk:
// it must finish successfully and show the guest's message decrypted on the
// host.
func TestDemoCommand(t *testing.T) {
	t.Parallel()
	vmEnv(t) // fails early with the setup hint when the VM pieces are missing
	bin := filepath.Join(t.TempDir(), "demo")
	if err := vmtest.GoBuild("./tests/cmd/demo", bin); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(testContext(t), bin, "-size", "1M")
	out, err := cmd.CombinedOutput()
	t.Logf("demo output:\n%s", out)
	if err != nil {
		t.Fatalf("demo: %v", err)
	}
	for _, want := range []string{"CCMBLK-OK action=demo size=1048576", "decrypted on the host, sector 0 reads", "demo: done"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("demo output lacks %q", want)
		}
	}
}
