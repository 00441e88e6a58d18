package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// config is what the flags select.
type config struct {
	seconds int
	rounds  int
	size    uint64 // guest-visible bytes of every image
	queues  int
	cases   []string
	dir     string
	keep    bool
	verbose bool
}

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintf(os.Stderr, "vmbench: %v\n", err)
		os.Exit(2)
	}
	if err := run(cfg, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "vmbench: FAILED: %v\n", err)
		os.Exit(1)
	}
}

// parseFlags reads and checks the command line.
func parseFlags(args []string) (*config, error) {
	fs := flag.NewFlagSet("vmbench", flag.ContinueOnError)
	cfg := &config{}
	var size, cases string
	fs.IntVar(&cfg.seconds, "seconds", 3, "seconds per workload")
	fs.IntVar(&cfg.rounds, "rounds", 3, "rounds over all back ends; the report shows medians")
	fs.StringVar(&size, "size", "256M", "guest-visible size of every image: bytes or with a suffix K, M, G (a multiple of 1M)")
	fs.IntVar(&cfg.queues, "queues", 1, "virtqueues of the disk, the same for every back end")
	fs.StringVar(&cases, "cases", strings.Join(caseNames(), ","), "back ends to measure, comma-separated")
	fs.StringVar(&cfg.dir, "dir", "/dev/shm", "directory the images are made in")
	fs.BoolVar(&cfg.keep, "keep", false, "keep the images, keys and log")
	fs.BoolVar(&cfg.verbose, "v", false, "stream the back ends' and guests' output to stderr")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() != 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if cfg.seconds < 1 || cfg.seconds > 60 {
		return nil, fmt.Errorf("-seconds %d: want 1..60", cfg.seconds)
	}
	if cfg.rounds < 1 || cfg.rounds > 20 {
		return nil, fmt.Errorf("-rounds %d: want 1..20", cfg.rounds)
	}
	if cfg.queues < 1 || cfg.queues > 16 {
		return nil, fmt.Errorf("-queues %d: want 1..16", cfg.queues)
	}
	var err error
	if cfg.size, err = parseSize(size); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, c := range strings.Split(cases, ",") {
		c = strings.TrimSpace(c)
		if _, ok := findCase(c); !ok {
			return nil, fmt.Errorf("-cases: unknown back end %q (have %s)", c, strings.Join(caseNames(), ", "))
		}
		if seen[c] {
			return nil, fmt.Errorf("-cases: %s given twice", c)
		}
		seen[c] = true
		cfg.cases = append(cfg.cases, c)
	}
	if cfg.dir, err = filepath.Abs(cfg.dir); err != nil {
		return nil, err
	}
	return cfg, nil
}

// parseSize parses a size in bytes with an optional K, M or G suffix
// (powers of 1024); it must be a whole number of MiB, at least 1 MiB.
func parseSize(s string) (uint64, error) {
	mult := uint64(1)
	num := strings.ToUpper(strings.TrimSpace(s))
	for suffix, m := range map[string]uint64{"K": 1 << 10, "M": 1 << 20, "G": 1 << 30} {
		if n, ok := strings.CutSuffix(num, suffix); ok {
			num, mult = n, m
			break
		}
	}
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil || n == 0 || n > (64<<30)/mult {
		return 0, fmt.Errorf("-size %q: want a size from 1M to 64G", s)
	}
	if n*mult%(1<<20) != 0 {
		return 0, fmt.Errorf("-size %q: want a whole number of MiB", s)
	}
	return n * mult, nil
}

// progress prints one progress line to w.
func progress(w io.Writer, format string, a ...any) {
	fmt.Fprintf(w, "vmbench: "+format+"\n", a...)
}
