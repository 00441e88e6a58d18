package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

// Exit statuses.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

// env is what a subcommand sees of its process: the output streams.
type env struct {
	stdout io.Writer
	stderr io.Writer
}

// warnf prints a warning line on stderr.
func (e *env) warnf(format string, args ...any) {
	fmt.Fprintf(e.stderr, "ccmblock: warning: "+format+"\n", args...)
}

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(e *env, args []string) error
}

// commands lists the subcommands in the order the usage text shows them.
var commands = []command{
	{"enc", "encrypt a plaintext image into a new encrypted image", runEnc},
	{"dec", "decrypt an encrypted image into a new plaintext image", runDec},
	{"create", "create an encrypted image of zero sectors", runCreate},
	{"fill", "write encrypted zeros into every unwritten sector of a sparse image", runFill},
	{"resize", "grow (or with --shrink shrink) an encrypted image offline", runResize},
	{"check", "verify every sector of an encrypted image", runCheck},
	{"info", "print the geometry of an encrypted image", runInfo},
	{"keygen", "write a fresh random key to a file", runKeygen},
}

// usageError is a command-line mistake; it exits with status 2.
type usageError struct{ msg string }

func (u *usageError) Error() string { return u.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the command line args (without the program name) and returns
// the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	e := &env{stdout: stdout, stderr: stderr}
	if len(args) == 0 {
		printUsage(stderr)
		return exitUsage
	}
	name := args[0]
	switch name {
	case "help", "-h", "-help", "--help":
		return runHelp(e, args[1:])
	}
	c, ok := lookup(name)
	if !ok {
		fmt.Fprintf(stderr, "ccmblock: unknown command %q (see 'ccmblock help')\n", name)
		return exitUsage
	}
	err := c.run(e, args[1:])
	var ue *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "ccmblock %s: %v (see 'ccmblock help %s')\n", name, err, name)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "ccmblock %s: %v\n", name, err)
		return exitFail
	}
}

func lookup(name string) (command, bool) {
	for _, c := range commands {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

func runHelp(e *env, args []string) int {
	if len(args) == 0 {
		printUsage(e.stdout)
		return exitOK
	}
	if _, ok := lookup(args[0]); !ok {
		fmt.Fprintf(e.stderr, "ccmblock: unknown command %q\n", args[0])
		return exitUsage
	}
	printCommandUsage(e.stdout, args[0])
	return exitOK
}
