package main

import (
	"strings"
	"testing"
)

// TestImageLocked starts a second daemon on the image a running one serves
// read-write, on another socket: it must refuse, so that two processes never
// write one image. Read-only daemons may share an image.
func TestImageLocked(t *testing.T) {
	im := newCCMImage(t, 16)
	d, sock := serve(t, im.args()...)
	for _, extra := range [][]string{nil, {"--read-only"}} {
		args := append([]string{"--socket-path", socketPath(t)}, im.args()...)
		code, _, stderr := runDaemon(t, append(args, extra...)...)
		if code == 0 || !strings.Contains(stderr, "in use") {
			t.Errorf("second daemon %v on a served image: exit status %d, stderr:\n%s\nwant non-zero and a message saying the image is in use", extra, code, stderr)
		}
	}
	c := connect(t, sock)
	checkSectors(t, "read from the first daemon", c.read(0, 16), 0, 0)
	d.stopOK()

	ro1, sock1 := serve(t, append(im.args(), "--read-only")...)
	ro2, sock2 := serve(t, append(im.args(), "--read-only")...)
	for _, sock := range []string{sock1, sock2} {
		checkSectors(t, "read-only read", connect(t, sock).read(0, 16), 0, 0)
	}
	for _, d := range []*daemon{ro1, ro2} {
		d.stopOK()
	}
}
