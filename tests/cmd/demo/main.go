package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/ccmblk/ccmblk/tests/pattern"
	"github.com/ccmblk/ccmblk/tests/vmtest"
)

func main() {
	size := flag.String("size", "64M", "guest-visible disk size (ccmblock --size syntax)")
	keep := flag.Bool("keep", false, "keep the work directory")
	flag.Parse()
	dir, err := os.MkdirTemp("", "ccmblk-demo-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
	log := vmtest.NewLog(os.Stdout)
	err = run(log, dir, *size)
	if err != nil {
		log.Fail()
	}
	log.Close()
	if *keep {
		fmt.Printf("demo: work directory kept: %s\n", dir)
	} else {
		_ = os.RemoveAll(dir)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo: FAILED:", err)
		os.Exit(1)
	}
	fmt.Println("demo: done")
}

// run performs the demo in dir, logging to log.
func run(log *vmtest.Log, dir, size string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	env, err := vmtest.LoadEnv()
	if err != nil {
		return err
	}
	say := func(format string, a ...any) { log.Logf("demo: "+format, a...) }

	say("building ccmblock, vhost-user-blk-ccm and the guest's initramfs")
	tool := filepath.Join(dir, "ccmblock")
	daemon := filepath.Join(dir, "vhost-user-blk-ccm")
	for pkg, out := range map[string]string{"./cmd/ccmblock": tool, "./cmd/vhost-user-blk-ccm": daemon} {
		if err := vmtest.GoBuild(pkg, out); err != nil {
			return err
		}
	}
	initrd, err := vmtest.BuildInitramfs(env, dir)
	if err != nil {
		return err
	}

	key := filepath.Join(dir, "demo.key")
	img := filepath.Join(dir, "demo.enc.img")
	say("making a fresh AES-256 key and an encrypted %s disk image (AES-CCM, 16-byte tags, 8-byte nonces)", size)
	if err := command(log, tool, "keygen", "-o", key); err != nil {
		return err
	}
	if err := command(log, tool, "create", "-o", img, "--size", size, "--key-file", key); err != nil {
		return err
	}

	sock := filepath.Join(dir, "vub.sock")
	say("serving the image on %s", sock)
	b, err := vmtest.StartBackend(ctx, log, "daemon", sock,
		[]string{daemon, "--socket-path", sock, "--blk-file", img, "--key-file", key, "--num-queues", "1", "--logtostderr"})
	if err != nil {
		return err
	}

	say("booting a VM (%s) whose only disk is the daemon's; its /init reports what it sees", env.Accel)
	vm, err := vmtest.StartVM(ctx, log, env, vmtest.VMOptions{Name: "vm", Initramfs: initrd, Action: "demo", Backend: b})
	if err != nil {
		return err
	}
	m, err := vm.Result(ctx)
	if err != nil {
		return err
	}
	if err := vm.Wait(); err != nil {
		return err
	}
	say("the guest saw a %s-byte disk, read-only=%s, sha256 %s; the VM ran %.1fs",
		m.Get("size"), m.Get("ro"), m.Get("sha256"), vm.Elapsed().Seconds())
	if err := b.Stop(); err != nil {
		return fmt.Errorf("daemon: %v", err)
	}

	return showOnHost(log, say, tool, dir, img, key)
}

// showOnHost checks the image from the host side and prints how to attach
// the daemon to another guest.
func showOnHost(log *vmtest.Log, say func(string, ...any), tool, dir, img, key string) error {
	enc, err := os.ReadFile(img)
	if err != nil {
		return err
	}
	if bytes.Contains(enc, []byte(pattern.DemoMessage)) {
		return fmt.Errorf("the guest's message appears in clear in the encrypted image")
	}
	say("the encrypted image (%d bytes) does not contain the guest's message in clear", len(enc))
	if err := command(log, tool, "check", "-i", img, "--key-file", key); err != nil {
		return err
	}
	plain := filepath.Join(dir, "demo.plain.img")
	if err := command(log, tool, "dec", "-i", img, "-o", plain, "--key-file", key); err != nil {
		return err
	}
	f, err := os.Open(plain)
	if err != nil {
		return err
	}
	defer f.Close()
	head := make([]byte, 512)
	if _, err := f.ReadAt(head, 0); err != nil {
		return err
	}
	line, _, _ := strings.Cut(string(head), "\n")
	if !strings.HasPrefix(line, strings.TrimSuffix(pattern.DemoMessage, "\n")) {
		return fmt.Errorf("decrypted sector 0 starts with %q, want the guest's message", line)
	}
	say("decrypted on the host, sector 0 reads: %q", line)
	say("to give any QEMU guest such a disk, run the daemon and add these QEMU options")
	say("(guest RAM must be a shared memfd so that the daemon can map it):")
	log.Logf("  vhost-user-blk-ccm --socket-path /tmp/vub.sock --blk-file IMAGE --key-file KEY &")
	log.Logf("  qemu-system-x86_64 ... -m 1G -object memory-backend-memfd,id=mem,size=1G,share=on -numa node,memdev=mem \\")
	log.Logf("    -chardev socket,id=vub0,path=/tmp/vub.sock,reconnect=1 -device vhost-user-blk-pci,chardev=vub0,num-queues=1")
	return nil
}

// command runs a program and logs its output.
func command(log *vmtest.Log, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	out, err := cmd.CombinedOutput()
	log.Logf("$ %s %s", filepath.Base(name), strings.Join(args, " "))
	for _, l := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		if l != "" {
			log.Logf("  %s", l)
		}
	}
	if err != nil {
		return fmt.Errorf("%s %s: %v", filepath.Base(name), args[0], err)
	}
	return nil
}
