//go:build integration

package tests

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// trackedFiles returns the repository's files under version control.
func trackedFiles(t *testing.T) []string {
	t.Helper()
	cmd := exec.Command("git", "ls-files", "-z")
	cmd.Dir = repoRoot(t)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git ls-files (git must be installed; tests/setup.sh does): %v", err)
	}
	return strings.Split(strings.TrimRight(string(out), "\x00"), "\x00")
}

// TestNoReadsOutsideRepository checks that no tracked file (test, script,
// Makefile) names the workspace directory the reference images once came
// from: everything the tests read lies inside the repository.
func TestNoReadsOutsideRepository(t *testing.T) {
	root := repoRoot(t)
	outside := []string{"../" + "shared", "/work/" + "shared"}
	for _, f := range trackedFiles(t) {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range outside {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s names %s, outside the repository", f, s)
			}
		}
	}
}

// TestStandaloneCopy copies the tracked files, and nothing else, to a fresh
// directory outside the repository and runs the unit tests there: they
// must pass without anything beside or above the copy.
func TestStandaloneCopy(t *testing.T) {
	root := repoRoot(t)
	dst := filepath.Join(t.TempDir(), "fresh", "ccmblk")
	for _, f := range trackedFiles(t) {
		copyTracked(t, filepath.Join(root, f), filepath.Join(dst, f))
	}
	cmd := exec.Command("go", "test", "-count=1", "./...")
	cmd.Dir = dst
	cmd.Env = append(os.Environ(), "CCMBLK_TESTDATA=")
	out, err := cmd.CombinedOutput()
	t.Logf("go test ./... in %s:\n%s", dst, out)
	if err != nil {
		t.Fatalf("unit tests in a copy of the tracked files: %v", err)
	}
}

// copyTracked copies src to dst, creating dst's directories, keeping the
// permission bits.
func copyTracked(t *testing.T, src, dst string) {
	t.Helper()
	st, err := os.Stat(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(copyFile(t, src, filepath.Dir(dst), filepath.Base(dst)), st.Mode().Perm()); err != nil {
		t.Fatal(err)
	}
}
