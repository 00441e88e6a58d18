//go:build integration

package tests

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/ccmblk/ccmblk/tests/vmtest"
)

// repoRoot returns the repository's top directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := vmtest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// makeInstall runs make install in the repository with the given
// variables.
func makeInstall(t *testing.T, vars ...string) {
	t.Helper()
	cmd := exec.Command("make", append([]string{"-s", "install"}, vars...)...)
	cmd.Dir = repoRoot(t)
	out, err := cmd.CombinedOutput()
	t.Logf("make install %q:\n%s", vars, out)
	if err != nil {
		t.Fatalf("make install: %v", err)
	}
}

// documentedInstall returns the files the README says make install lays
// out, relative to $PREFIX.
func documentedInstall(t *testing.T) []string {
	t.Helper()
	f, err := os.Open(filepath.Join(repoRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "$PREFIX/"); ok {
			out = append(out, rest)
		}
	}
	if len(out) == 0 {
		t.Fatal("README lists no $PREFIX/... files for make install")
	}
	sort.Strings(out)
	return out
}

// TestMakeInstall runs make install with PREFIX and DESTDIR: exactly the
// files the README documents appear under DESTDIR$PREFIX, binaries
// executable, and the vhost-user descriptor follows QEMU's vhost-user.json
// schema (type block, the installed binary, whose --print-capabilities
// agrees).
func TestMakeInstall(t *testing.T) {
	dest := t.TempDir()
	const prefix = "/usr"
	makeInstall(t, "PREFIX="+prefix, "DESTDIR="+dest)
	var got []string
	err := filepath.WalkDir(dest, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(filepath.Join(dest, prefix), p)
		got = append(got, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(got)
	want := documentedInstall(t)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("make install laid out\n%s\nthe README documents\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, b := range []string{"bin/vhost-user-blk-ccm", "bin/ccmblock"} {
		if st, err := os.Stat(filepath.Join(dest, prefix, b)); err != nil || st.Mode().Perm() != 0o755 {
			t.Errorf("%s: %v, want mode 0755", b, err)
		}
	}

	raw, err := os.ReadFile(filepath.Join(dest, prefix, "share/qemu/vhost-user/50-vhost-user-blk-ccm.json"))
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	// VhostUserBackend in QEMU's docs/interop/vhost-user.json.
	var desc struct {
		Description string   `json:"description"`
		Type        string   `json:"type"`
		Binary      string   `json:"binary"`
		Tags        []string `json:"tags"`
	}
	if err := dec.Decode(&desc); err != nil {
		t.Fatalf("descriptor %s: %v", raw, err)
	}
	if desc.Type != "block" || desc.Description == "" || desc.Binary != prefix+"/bin/vhost-user-blk-ccm" {
		t.Errorf("descriptor %+v: want type block, a description and binary %s/bin/vhost-user-blk-ccm", desc, prefix)
	}
	out, err := exec.Command(filepath.Join(dest, desc.Binary), "--print-capabilities").Output()
	if err != nil {
		t.Fatalf("%s --print-capabilities: %v", desc.Binary, err)
	}
	var caps struct{ Type string }
	if err := json.Unmarshal(out, &caps); err != nil || caps.Type != desc.Type {
		t.Errorf("installed binary's capabilities %q (%v) disagree with the descriptor's type %q", out, err, desc.Type)
	}
}

// TestSystemdUnits installs into a temporary PREFIX and checks the units
// with systemd-analyze verify (syntax, the ExecStart binary, the socket and
// service pairing, for one instance) and its offline security review,
// which must rate the service's exposure at most 2.0 ("OK").
func TestSystemdUnits(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatalf("systemd-analyze not found (tests/setup.sh installs systemd): %v", err)
	}
	prefix := t.TempDir()
	makeInstall(t, "PREFIX="+prefix)
	units := filepath.Join(prefix, "lib/systemd/system")
	run := func(args ...string) string {
		cmd := exec.Command(analyze, args...)
		// The trailing colon keeps the system's own units (sockets.target
		// and the like) on the search path.
		cmd.Env = append(os.Environ(), "SYSTEMD_UNIT_PATH="+units+":")
		out, err := cmd.CombinedOutput()
		t.Logf("systemd-analyze %q:\n%s", args, out)
		if err != nil {
			t.Errorf("systemd-analyze %s: %v", args[0], err)
		}
		return string(out)
	}
	service := filepath.Join(units, "vhost-user-blk-ccm@disk0.service")
	run("verify", "--man=no", service, filepath.Join(units, "vhost-user-blk-ccm@disk0.socket"))
	out := run("security", "--offline=yes", "--threshold=20", service)
	if !strings.Contains(out, "Overall exposure level") {
		t.Errorf("systemd-analyze security gave no exposure level")
	}
}
