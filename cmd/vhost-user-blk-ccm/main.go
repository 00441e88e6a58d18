package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/golang/glog"

	"github.com/ccmblk/ccmblk/ccm"
	"github.com/ccmblk/ccmblk/cmd/internal/imageflags"
	"github.com/ccmblk/ccmblk/vhostuser"
	"github.com/ccmblk/ccmblk/virtio"
)

// options are the daemon's command-line settings.
type options struct {
	sock              socketFlags
	qmpSocket         string
	qmpFD             int
	printCapabilities bool
	blkFile           string
	readOnly          bool
	sparse            bool
	format            string
	numQueues         int
	queueSize         int
	serial            string
	maxGuestMemoryMiB uint64
	maxRegionMiB      uint64
	anyMemoryFile     bool
	ioDelay           string
	noInflight        bool
	incoming          bool
	incomingLockWait  time.Duration
	ringStopTimeout   time.Duration
	image             *imageflags.Flags
}

// parseFlags parses the command line into options. Each flag is defined
// inside a group, the section of --help it shows in; -h and --help print
// that help on stdout and exit 0, a command-line mistake exits 2.
func parseFlags() *options {
	o := &options{}
	// The flags defined so far are glog's: --help shows them last.
	logging := definedFlags()
	group("Socket (where the front end connects)", func() {
		flag.StringVar(&o.sock.path, "socket-path", "", "listen for the vhost-user front end on a unix socket created at `PATH`; a stale socket left there by an earlier run is replaced")
		flag.StringVar(&o.sock.group, "socket-group", "", "give the socket at --socket-path to `GROUP` (name or id), e.g. the group QEMU runs as (libvirt: libvirt-qemu)")
		o.sock.mode = defaultSocketMode
		flag.Var(&o.sock.mode, "socket-mode", "permissions of the socket at --socket-path, in octal; connecting needs write permission. Owner, group and mode are set before the socket appears at PATH")
		flag.IntVar(&o.sock.fd, "fd", -1, "listen on the inherited, already listening unix socket with descriptor `N` instead (default: none). A socket passed by systemd socket activation (LISTEN_FDS) is taken without flags")
	})
	group("Disk", func() {
		flag.StringVar(&o.blkFile, "blk-file", "", "the disk image to serve: a `FILE` or a block device; it is locked against a second writer")
		flag.StringVar(&o.format, "format", "ccm", "image `FORMAT`: ccm (AES-CCM encrypted, needs --key-file) or raw (plain, same data path)")
		flag.BoolVar(&o.readOnly, "read-only", false, "open the image read-only and show the guest a read-only disk")
		flag.BoolVar(&o.sparse, "sparse", false, "ccm: all-zero slots are unwritten sectors that read as zeros; DISCARD and WRITE_ZEROES with unmap punch holes (see README for the trade-off)")
		flag.IntVar(&o.numQueues, "num-queues", 16, "most request queues the guest may use, `N` in 1..64; QEMU refuses a guest with more vCPUs than this unless its num-queues is set")
		flag.IntVar(&o.queueSize, "queue-size", 1024, "largest virtqueue size accepted, `N` a power of two up to 32768")
		flag.StringVar(&o.serial, "serial", "ccmblk", "serial number the guest reads (GET_ID), a `STRING` of up to 20 bytes")
	})
	group("Live migration", func() {
		flag.BoolVar(&o.incoming, "incoming", false, "start as the destination of a live migration: open the image and check the key, but take the image lock and serve I/O only when the guest's rings start, once the source daemon has released it")
		flag.DurationVar(&o.incomingLockWait, "incoming-lock-wait", 10*time.Second, "with --incoming: how long the first ring start waits for the source daemon to release the image lock, a `DURATION`, before that ring fails")
	})
	group("Guest memory", func() {
		flag.Uint64Var(&o.maxGuestMemoryMiB, "max-guest-memory-mib", 0, "most guest RAM mapped at once, all regions together, in `MiB` (0: the host's RAM)")
		flag.Uint64Var(&o.maxRegionMiB, "max-region-mib", 0, "largest guest RAM region mapped, in `MiB` (0: --max-guest-memory-mib)")
		flag.BoolVar(&o.anyMemoryFile, "any-memory-file", false, "also map guest RAM backed by regular files outside tmpfs and hugetlbfs (their page faults may block the daemon)")
		flag.DurationVar(&o.ringStopTimeout, "ring-stop-timeout", vhostuser.DefaultRingStopTimeout, "longest wait for a queue's requests in flight when it stops, a `DURATION`; a queue stuck longer is abandoned and its session ended")
	})
	group("Key and image geometry", func() {
		o.image = imageflags.Register(flag.CommandLine)
	})
	group("Control socket (QMP: block_resize, query-blockstats)", func() {
		flag.StringVar(&o.qmpSocket, "qmp-socket", "", "serve the QMP control socket on a unix socket created at `PATH` (default: none)")
		flag.IntVar(&o.qmpFD, "qmp-fd", -1, "serve it on the inherited, already listening unix socket with descriptor `N` instead (default: none)")
	})
	group("Information", func() {
		flag.BoolVar(&o.printCapabilities, "print-capabilities", false, "print the back-end capabilities as JSON (QEMU's vhost-user.json schema) and exit")
	})
	group("Testing aids (not for production)", func() {
		flag.StringVar(&o.ioDelay, "x-io-delay", "", "every disk call sleeps a random time in `MIN-MAX` first, e.g. 0-20ms (off by default)")
		flag.BoolVar(&o.noInflight, "x-no-inflight", false, "do not offer in-flight tracking, so a restart after a crash loses or repeats requests (shows what the tracking prevents)")
	})
	if err := checkGrouped(logging); err != nil {
		panic(err)
	}
	// A daemon started by QEMU, libvirt or a test harness logs to stderr
	// unless told otherwise.
	_ = flag.Set("logtostderr", "true")
	flag.CommandLine.Init(os.Args[0], flag.ContinueOnError)
	// Parse errors are reported below, once, with a hint.
	flag.CommandLine.SetOutput(io.Discard)
	flag.Usage = func() {}
	switch err := flag.CommandLine.Parse(os.Args[1:]); {
	case errors.Is(err, flag.ErrHelp):
		printUsage(os.Stdout, logging)
		os.Exit(0)
	case err != nil:
		fmt.Fprintf(os.Stderr, "vhost-user-blk-ccm: %v\nRun 'vhost-user-blk-ccm --help' for the flags.\n", err)
		os.Exit(2)
	}
	return o
}

func main() {
	tuneRuntime()
	o := parseFlags()
	defer glog.Flush()
	if o.printCapabilities {
		printCapabilities(os.Stdout)
		return
	}
	if err := run(o); err != nil {
		// glog copies errors to stderr whatever the log destination.
		glog.Errorf("%v", err)
		glog.Flush()
		os.Exit(1)
	}
}

func run(o *options) error {
	// The key descriptor is read before the daemon opens any of its own.
	if err := o.image.TakeKeyFD(); err != nil {
		return err
	}
	if flag.NArg() != 0 {
		return fmt.Errorf("unexpected arguments %q: every setting is a flag (the image is --blk-file); see --help", flag.Args())
	}
	if o.numQueues < 1 || o.numQueues > 64 {
		return fmt.Errorf("--num-queues %d: want 1..64", o.numQueues)
	}
	if o.maxGuestMemoryMiB > 1<<40 || o.maxRegionMiB > 1<<40 {
		return errors.New("--max-guest-memory-mib or --max-region-mib above 2^40 MiB: give a size in MiB below that")
	}
	if o.queueSize < 1 || o.queueSize > 32768 || o.queueSize&(o.queueSize-1) != 0 {
		return fmt.Errorf("--queue-size %d: want a power of two up to 32768", o.queueSize)
	}
	delay, err := parseIODelay(o.ioDelay)
	if err != nil {
		return err
	}
	// Take over SIGINT and SIGTERM before the socket exists: whoever sees
	// it may stop the daemon at once, and that stop must be graceful too.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// A second signal, once the first has started the graceful stop, kills
	// the daemon the default way, in case a flush hangs.
	context.AfterFunc(ctx, stop)
	// The control socket listens first: once the vhost-user socket
	// exists, both accept connections.
	qs, err := qmpListener(o.qmpSocket, o.qmpFD)
	if err != nil {
		return err
	}
	var ql *net.UnixListener
	if qs != nil {
		defer qs.Close()
		ql = qs.UnixListener
	}
	sock, err := listen(o.sock)
	if err != nil {
		return err
	}
	defer sock.Close()
	name := sock.name
	var lock *os.File
	if o.incoming {
		if o.blkFile == "" {
			return errors.New("--blk-file is required: name the image file or block device to serve")
		}
		glog.Infof("dev=%s --incoming: %s is locked and served once the guest's rings start", name, o.blkFile)
	} else if lock, err = lockImage(o.blkFile, o.readOnly); err != nil {
		return err
	}
	disk, err := openDisk(o)
	if err != nil {
		return err
	}
	recheck := takeoverRecheck(o, disk)
	if delay.max > 0 {
		glog.Warningf("dev=%s --x-io-delay %v: every disk call is slowed down (a testing aid)", name, delay)
		disk = withIODelay(disk, delay)
	}
	bo := virtio.BlockOptions{
		NumQueues: o.numQueues,
		QueueSize: uint16(o.queueSize),
		Serial:    o.serial,
		Name:      name,
	}
	setZeroing(o, &bo)
	bo.AuthError = ccm.ErrAuth
	dev, err := virtio.NewBlockDevice(disk, bo)
	if err != nil {
		_ = disk.Close()
		return err
	}
	own := newOwner(dev, o, name, lock, recheck)
	defer own.Close()
	glog.Infof("dev=%s serving %s (%s, %d sectors of %d bytes, read-only %v, sparse %v, discard %v, write-zeroes %v)",
		name, o.blkFile, o.format, disk.Sectors(), disk.SectorSize(), disk.ReadOnly(), o.sparse, bo.Discard, bo.WriteZeroes)

	srv := vhostuser.NewServer(own, vhostuser.ServerOptions{
		Name:            name,
		MaxGuestMemory:  o.maxGuestMemoryMiB << 20,
		MaxRegionSize:   o.maxRegionMiB << 20,
		AnyMemoryFile:   o.anyMemoryFile,
		RingStopTimeout: o.ringStopTimeout,
		// Only tests withhold in-flight tracking, to show the loss.
		DisableInflight: o.noInflight,
	})
	own.grown = srv.MarkConfigChanged
	qmpDone, err := serveQMP(ctx, ql, o, name, own, srv)
	if err != nil {
		_ = disk.Close()
		return err
	}
	// The image is open and sector 0 authenticates: ready for the front
	// end (a Type=notify service starts its dependents now).
	if err := sdNotify("READY=1\nSTATUS=serving " + o.blkFile); err != nil {
		glog.Warningf("dev=%s %v", name, err)
	}
	serveErr := srv.Serve(ctx, sock.UnixListener)
	_ = sdNotify("STOPPING=1")
	// A resize in progress finishes before the disk is closed.
	<-qmpDone
	// Serve has stopped every queue and completed what was in flight: make
	// the writes it acknowledged durable before exiting. The device's flush
	// remembers an earlier failed one, which must not pass as success now.
	flushErr := dev.Flush()
	closeErr := disk.Close()
	switch {
	case serveErr != nil && ctx.Err() == nil:
		return serveErr
	case flushErr != nil:
		return fmt.Errorf("flush %s: %w", o.blkFile, flushErr)
	case closeErr != nil:
		return fmt.Errorf("close %s: %w", o.blkFile, closeErr)
	}
	glog.Infof("dev=%s stopped", name)
	return nil
}
