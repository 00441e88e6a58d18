package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// backendCase is one back end of the comparison.
type backendCase struct {
	name  string // the -cases value
	label string // its row label in the table
	// prepare makes the case's image (and key) in dir and returns the back
	// end's command line serving it on sock.
	prepare func(r *runner, dir, sock string) (backendSpec, error)
}

// backendSpec is how one case's back end is run.
type backendSpec struct {
	argv  []string
	image string // the image file it serves
}

// backendCases are the back ends in the order they run and are printed.
var backendCases = []backendCase{
	{"qsd-raw", "QSD raw", (*runner).qsdRaw},
	{"qsd-luks", "QSD LUKS", (*runner).qsdLUKS},
	{"raw", "ccmblk raw", (*runner).daemonRaw},
	{"ccm", "ccmblk CCM", (*runner).daemonCCM},
}

// caseNames returns the names of backendCases.
func caseNames() []string {
	names := make([]string, len(backendCases))
	for i, c := range backendCases {
		names[i] = c.name
	}
	return names
}

// findCase returns the back end called name.
func findCase(name string) (backendCase, bool) {
	for _, c := range backendCases {
		if c.name == name {
			return c, true
		}
	}
	return backendCase{}, false
}

// CCM parameters of the ccm case: AES-256, 16-byte tags, 8-byte nonces,
// 512-byte sectors (the raw case uses the same sector size).
const (
	ccmMacLen     = 16
	ccmNonceLen   = 8
	ccmSectorSize = 512
)

// luksCreateTries bounds the attempts at creating the LUKS image.
const luksCreateTries = 10

// qsdRaw serves a preallocated raw file with qemu-storage-daemon.
func (r *runner) qsdRaw(dir, sock string) (backendSpec, error) {
	img := filepath.Join(dir, "qsd-raw.img")
	if err := makeRaw(img, r.cfg.size); err != nil {
		return backendSpec{}, err
	}
	argv := r.env.QSDArgs(sock, nil, []string{r.qsdFileNode("disk", img)}, "disk", true, r.cfg.queues)
	return backendSpec{argv, img}, nil
}

// qsdLUKS makes a LUKS image (aes-xts-plain64 with a 512-bit key, the
// passphrase in a file) and serves it with qemu-storage-daemon.
func (r *runner) qsdLUKS(dir, sock string) (backendSpec, error) {
	img := filepath.Join(dir, "qsd-luks.img")
	pass := filepath.Join(dir, "luks.pass")
	if err := writeSecret(pass); err != nil {
		return backendSpec{}, err
	}
	secret := "secret,id=sec0,format=raw,file=" + pass
	create := []string{r.qemuImg, "create", "-q", "-f", "luks", "--object", secret,
		"-o", "key-secret=sec0,cipher-alg=aes-256,cipher-mode=xts,ivgen-alg=plain64,hash-alg=sha256,iter-time=10",
		img, strconv.FormatUint(r.cfg.size, 10)}
	// qemu-img times a first PBKDF2 round with the thread's CPU clock and
	// gives up when that reads 0 ms, which a short round often does; the
	// short iteration time keeps QSD's key unlocking out of the way.
	var err error
	for range luksCreateTries {
		_ = os.Remove(img)
		if err = r.command(create...); err == nil || !strings.Contains(err.Error(), "accurate CPU usage") {
			break
		}
	}
	if err != nil {
		return backendSpec{}, err
	}
	if err := preallocate(img); err != nil {
		return backendSpec{}, err
	}
	argv := r.env.QSDArgs(sock, []string{secret}, []string{
		r.qsdFileNode("file0", img),
		"driver=luks,node-name=disk,file=file0,key-secret=sec0",
	}, "disk", true, r.cfg.queues)
	return backendSpec{argv, img}, nil
}

// daemonRaw serves a preallocated raw file with vhost-user-blk-ccm.
func (r *runner) daemonRaw(dir, sock string) (backendSpec, error) {
	img := filepath.Join(dir, "raw.img")
	if err := makeRaw(img, r.cfg.size); err != nil {
		return backendSpec{}, err
	}
	return backendSpec{r.daemonArgs(sock, img, "--format", "raw", "--sector-size", strconv.Itoa(ccmSectorSize)), img}, nil
}

// daemonCCM makes a CCM image with a fresh AES-256 key and serves it with
// vhost-user-blk-ccm.
func (r *runner) daemonCCM(dir, sock string) (backendSpec, error) {
	img := filepath.Join(dir, "ccm.img")
	key := filepath.Join(dir, "ccm.key")
	format := []string{"--key-file", key, "--mac-len", strconv.Itoa(ccmMacLen),
		"--nonce-len", strconv.Itoa(ccmNonceLen), "--sector-size", strconv.Itoa(ccmSectorSize)}
	if err := r.command(r.tool, "keygen", "-o", key, "--key-len", "32"); err != nil {
		return backendSpec{}, err
	}
	create := append([]string{r.tool, "create", "-o", img, "--size", strconv.FormatUint(r.cfg.size, 10)}, format...)
	if err := r.command(create...); err != nil {
		return backendSpec{}, err
	}
	return backendSpec{r.daemonArgs(sock, img, append([]string{"--format", "ccm"}, format...)...), img}, nil
}

// daemonArgs returns the daemon's command line serving img on sock.
func (r *runner) daemonArgs(sock, img string, extra ...string) []string {
	args := []string{r.daemon, "--socket-path", sock, "--blk-file", img,
		"--num-queues", strconv.Itoa(r.cfg.queues), "--logtostderr"}
	return append(args, extra...)
}

// qsdFileNode returns the --blockdev value of a file node over img with the
// run's cache settings.
func (r *runner) qsdFileNode(node, img string) string {
	return fmt.Sprintf("driver=file,node-name=%s,filename=%s,%s", node, img, r.qsdCache)
}

// makeRaw creates a raw image of size bytes with every page allocated, so
// that no back end reads holes or allocates pages while it is measured.
func makeRaw(path string, size uint64) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if err := unix.Fallocate(int(f.Fd()), 0, 0, int64(size)); err != nil {
		_ = f.Close()
		return fmt.Errorf("vmbench: fallocate %s: %v", path, err)
	}
	return f.Close()
}

// preallocate allocates every page of an existing image.
func preallocate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err == nil {
		err = unix.Fallocate(int(f.Fd()), 0, 0, st.Size())
	}
	if err != nil {
		_ = f.Close()
		return fmt.Errorf("vmbench: preallocate %s: %v", path, err)
	}
	return f.Close()
}

// writeSecret writes a fresh random passphrase to a new 0600 file.
func writeSecret(path string) error {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(hex.EncodeToString(b)), 0o600)
}
