package main

import (
	"flag"
	"strings"
	"testing"
)

// TestHelp checks --help: exit 0, the text on stdout, the program's own
// flags in titled groups each with an explanation, and the logging flags
// (exactly glog's) last.
func TestHelp(t *testing.T) {
	for _, arg := range []string{"--help", "-h"} {
		code, stdout, stderr := runDaemon(t, arg)
		if code != 0 || stderr != "" {
			t.Fatalf("%s: exit status %d, stderr %q; want 0 and nothing", arg, code, stderr)
		}
		sections := helpSections(t, stdout)
		if len(sections) < 3 {
			t.Fatalf("%s: %d flag sections, want own groups and logging:\n%s", arg, len(sections), stdout)
		}
		last := sections[len(sections)-1]
		if !strings.HasPrefix(last.title, "Logging") {
			t.Errorf("last section %q, want the logging flags", last.title)
		}
		// The test binary links glog too: its flags here are glog's.
		glogFlags := map[string]bool{}
		flag.VisitAll(func(f *flag.Flag) {
			if !strings.HasPrefix(f.Name, "test.") {
				glogFlags[f.Name] = true
			}
		})
		seen := map[string]bool{}
		for i, s := range sections {
			if len(s.flags) == 0 {
				t.Errorf("section %q lists no flags", s.title)
			}
			for name, text := range s.flags {
				if seen[name] {
					t.Errorf("--%s shown twice", name)
				}
				seen[name] = true
				if len(strings.Fields(text)) < 3 {
					t.Errorf("--%s is not explained: %q", name, text)
				}
				if isLogging := i == len(sections)-1; glogFlags[name] != isLogging {
					t.Errorf("--%s in section %q: logging flag %v", name, s.title, glogFlags[name])
				}
			}
		}
		for name := range glogFlags {
			if !seen[name] {
				t.Errorf("logging flag --%s not shown", name)
			}
		}
		for _, name := range []string{"socket-path", "fd", "blk-file", "key-file", "format", "read-only", "print-capabilities"} {
			if !seen[name] {
				t.Errorf("--%s not shown", name)
			}
		}
	}
}

// TestUsageMistake checks that a command-line mistake exits 2 and points
// at --help.
func TestUsageMistake(t *testing.T) {
	code, stdout, stderr := runDaemon(t, "--no-such-flag")
	if code != 2 || stdout != "" {
		t.Errorf("exit status %d, stdout %q; want 2 and nothing", code, stdout)
	}
	if !strings.Contains(stderr, "-no-such-flag") || !strings.Contains(stderr, "--help") {
		t.Errorf("stderr does not name the flag and point at --help:\n%s", stderr)
	}
}

// TestCheckGrouped checks that a flag defined outside a group is named,
// and one inside is not.
func TestCheckGrouped(t *testing.T) {
	saved := flagGroups
	t.Cleanup(func() { flagGroups = saved })
	before := definedFlags()
	group("Test group", func() { flag.Bool("x-grouped", false, "in a group") })
	flag.Bool("x-stray", false, "in no group")
	err := checkGrouped(before)
	if err == nil || !strings.Contains(err.Error(), "--x-stray") || strings.Contains(err.Error(), "--x-grouped") {
		t.Errorf("checkGrouped = %v, want it to name --x-stray only", err)
	}
}

// helpSection is one titled list of flags in --help, name to explanation.
type helpSection struct {
	title string
	flags map[string]string
}

// helpSections parses the flag sections of --help: a title line ending in
// ':' (or the logging title, which explains itself) right before the first
// flag line "  --name [VALUE]", explanation lines indented further.
func helpSections(t *testing.T, help string) []helpSection {
	t.Helper()
	var out []helpSection
	var prev, cur string
	for _, line := range strings.Split(help, "\n") {
		switch {
		case strings.HasPrefix(line, "  --"):
			if cur == "" {
				// The first flag of a section: the line before is its title.
				if !strings.HasSuffix(prev, ":") && !strings.HasPrefix(prev, "Logging") {
					t.Fatalf("flag line %q not under a section title", line)
				}
				out = append(out, helpSection{title: strings.TrimSuffix(prev, ":"), flags: map[string]string{}})
			}
			cur = strings.Fields(line)[0][2:]
			out[len(out)-1].flags[cur] = ""
		case strings.HasPrefix(line, "        ") && cur != "":
			out[len(out)-1].flags[cur] += " " + strings.TrimSpace(line)
		default:
			cur = ""
		}
		prev = line
	}
	return out
}
