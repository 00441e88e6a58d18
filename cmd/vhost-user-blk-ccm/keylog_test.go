package main

import (
	"os"
	"strings"
	"testing"

	"github.com/ccmblk/ccmblk/virtio"
)

// TestKeyNeverLogged runs a session with the most verbose logging (-v=3)
// and a key file others may read (which draws a warning naming it): the
// key must not appear in the output, which checkNoKey also checks for
// every other run of the program in these tests.
func TestKeyNeverLogged(t *testing.T) {
	im := newCCMImage(t, 64)
	if err := os.Chmod(im.keyFile, 0o644); err != nil {
		t.Fatal(err)
	}
	d, sock := serve(t, append(im.args(), "--v=3")...)
	for range 2 {
		c := connect(t, sock)
		c.write(4, sectorsData(1, 4, 4))
		checkSectors(t, "read back", c.read(4, 4), 1, 4)
		if st, _ := c.do(virtio.BlkTFlush, 0, nil, 0); st != virtio.BlkSOK {
			t.Errorf("flush status %d", st)
		}
		if st, _ := c.do(virtio.BlkTGetID, 0, nil, 20); st != virtio.BlkSOK {
			t.Errorf("GET_ID status %d", st)
		}
		if st, _ := c.do(virtio.BlkTIn, 63, nil, 2*sectorSize); st != virtio.BlkSIOErr {
			t.Errorf("read past the end: status %d, want IOERR", st)
		}
		if st, _ := c.do(99, 0, nil, sectorSize); st != virtio.BlkSUnsupp {
			t.Errorf("unknown request type: status %d, want UNSUPP", st)
		}
		c.must(c.fe.Close())
	}
	d.stopOK()
	stderr := d.stderr.String()
	for _, want := range []string{"accessible by group or others", "sector 4"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("the log lacks %q: the test did not log what it means to", want)
		}
	}
	checkNoKey(t, "stdout", d.stdout.String())
	checkNoKey(t, "stderr", stderr)
}
