package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

const usageHead = `Usage:
  vhost-user-blk-ccm --socket-path PATH --blk-file IMAGE --key-file KEY [flags]
  vhost-user-blk-ccm --fd N --blk-file IMAGE --format raw [flags]
  vhost-user-blk-ccm --print-capabilities

Serve a disk image to a QEMU guest as a virtio-blk device over vhost-user:
an AES-CCM encrypted image (the mirage-block-ccm format, made with ccmblock)
or a raw one. QEMU attaches with -chardev socket,path=PATH and -device
vhost-user-blk-pci; guest RAM must be shared (memory-backend-memfd,share=on).
SIGINT and SIGTERM stop it gracefully: requests in flight complete, the image
is flushed, exit status 0.
`

const usageTail = `
Exit status: 0 after a graceful stop, 1 on an error (the message says which
flag or file to fix), 2 on a command-line mistake.
`

// usageWidth is where flag explanations wrap.
const usageWidth = 79

// printUsage writes --help: the program's own flags by group, then the
// logging flags (those in logging).
func printUsage(w io.Writer, logging map[string]bool) {
	fmt.Fprint(w, usageHead)
	for _, g := range flagGroups {
		fmt.Fprintf(w, "\n%s:\n", g.title)
		for _, n := range g.names {
			printFlag(w, flag.Lookup(n))
		}
	}
	fmt.Fprint(w, "\nLogging (glog; the daemon logs to stderr unless --logtostderr=false):\n")
	flag.VisitAll(func(f *flag.Flag) {
		if logging[f.Name] {
			printFlag(w, f)
		}
	})
	fmt.Fprint(w, usageTail)
}

// printFlag writes one flag: its name and value placeholder (the
// back-quoted word of its usage, as flag.UnquoteUsage finds it), then its
// explanation wrapped and indented, then its default unless the
// explanation speaks of it.
func printFlag(w io.Writer, f *flag.Flag) {
	placeholder, text := flag.UnquoteUsage(f)
	if placeholder != "" {
		placeholder = " " + strings.ToUpper(placeholder)
	}
	fmt.Fprintf(w, "  --%s%s\n", f.Name, placeholder)
	switch f.DefValue {
	case "", "false", "0":
	default:
		if !strings.Contains(text, "default") {
			text += fmt.Sprintf(" (default %s)", f.DefValue)
		}
	}
	line := "       "
	for _, word := range strings.Fields(text) {
		if len(line)+1+len(word) > usageWidth && len(line) > 7 {
			fmt.Fprintln(w, line)
			line = "       "
		}
		line += " " + word
	}
	fmt.Fprintln(w, line)
}
