package main

import (
	"errors"
	"flag"
	"io"

	"github.com/ccmblk/ccmblk/ccm"
	"github.com/ccmblk/ccmblk/cmd/internal/imageflags"
)

// options holds every flag of every subcommand; each subcommand registers
// the ones it takes.
type options struct {
	keyHex     string // secret: never printed
	keyFile    string
	macLen     int
	nonceLen   int
	sectorSize int

	in     string
	out    string
	force  bool
	pad    bool
	size   string
	sparse bool // images: unwritten sectors are allowed and read as zeros
	shrink bool // resize: a smaller size is allowed

	keyLen int
}

func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("ccmblock "+name, flag.ContinueOnError)
	// Errors are reported by run with the command's name; the flag package
	// would print them (and its own defaults) a second time.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// addKeyFlags registers the key and format flags shared by enc, dec,
// create, check and info.
func (o *options) addKeyFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.keyHex, "k", "", "")
	fs.StringVar(&o.keyHex, "key", "", "")
	fs.StringVar(&o.keyFile, "key-file", "", "")
	fs.IntVar(&o.macLen, "mac-len", imageflags.DefaultMacLen, "")
	fs.IntVar(&o.nonceLen, "nonce-len", imageflags.DefaultNonceLen, "")
	fs.IntVar(&o.sectorSize, "sector-size", imageflags.DefaultSectorSize, "")
}

// addSparse registers --sparse: unwritten sectors (all-zero slots) are
// allowed and read as zeros.
func (o *options) addSparse(fs *flag.FlagSet) {
	fs.BoolVar(&o.sparse, "sparse", false, "")
}

func (o *options) addIn(fs *flag.FlagSet) {
	fs.StringVar(&o.in, "i", "", "")
	fs.StringVar(&o.in, "in", "", "")
}

func (o *options) addOut(fs *flag.FlagSet) {
	fs.StringVar(&o.out, "o", "", "")
	fs.StringVar(&o.out, "out", "", "")
	fs.BoolVar(&o.force, "force", false, "")
}

// parse parses args into o. For -h it prints the command's usage on stdout
// and returns flag.ErrHelp.
func (o *options) parse(e *env, name string, fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printCommandUsage(e.stdout, name)
			return err
		}
		return &usageError{msg: err.Error()}
	}
	if fs.NArg() > 0 {
		// The stray words are not echoed: one of them may be a key.
		return usagef("%d unexpected argument(s) after the flags; inputs and outputs are given with -i and -o", fs.NArg())
	}
	return nil
}

// needs says which flags a subcommand requires.
type needs int

const (
	needIn needs = 1 << iota
	needOut
	needKey
)

// setup parses args, checks that the required flags were given, and
// returns the ccm parameters (with a nil key if no key was given and
// needKey is not set). The caller clears the key when done.
func (o *options) setup(e *env, name string, fs *flag.FlagSet, args []string, n needs) (ccm.Params, error) {
	if err := o.parse(e, name, fs, args); err != nil {
		return ccm.Params{}, err
	}
	if n&needIn != 0 && o.in == "" {
		return ccm.Params{}, usagef("missing -i/--in")
	}
	if n&needOut != 0 && o.out == "" {
		return ccm.Params{}, usagef("missing -o/--out")
	}
	return o.params(e, fs, n&needKey == 0)
}
