package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/ccmblk/ccmblk/vhostuser/vhostusertest"
	"github.com/ccmblk/ccmblk/virtio"
)

// rssAnon returns the anonymous resident memory of process pid in bytes
// (guest RAM, a shared file mapping, is not counted).
func rssAnon(t *testing.T, pid int) uint64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "RssAnon:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no RssAnon in /proc/<pid>/status")
	return 0
}

// TestGuestCannotAmplifyMemory: a guest filling 16 queues of 1024 entries
// with requests of 1024 descriptors each (what seg_max allows) does not make
// the daemon keep per-head descriptor lists: its anonymous memory grows by
// little, and it serves a fresh front end afterwards.
func TestGuestCannotAmplifyMemory(t *testing.T) {
	const (
		queues   = 16
		size     = 1024
		dataDesc = size - 2 // header and status take the other two
		tableGPA = virtio.GuestAddr(0x100000)
		hdrGPA   = virtio.GuestAddr(0x110000)
		dataGPA  = virtio.GuestAddr(0x111000)
		statGPA  = virtio.GuestAddr(0x112000)
		ramBytes = 4 << 20
		// maxGrowth is far below what 16384 heads keeping 1024
		// descriptors' lists (40 KiB each) would take.
		maxGrowth = 64 << 20
	)
	im := newCCMImage(t, 64)
	sock := socketPath(t)
	d := startDaemon(t, nil, append([]string{"--socket-path", sock, "--num-queues", strconv.Itoa(queues), "--queue-size", strconv.Itoa(size)}, im.args()...)...)
	d.waitSocket(sock)

	fe := dial(t, sock, vhostusertest.Options{NumQueues: queues, Regions: []vhostusertest.Region{{GPA: 0, Size: ramBytes}}})
	info, err := fe.Init()
	if err != nil {
		t.Fatal(err)
	}
	var rings []*vhostusertest.Ring
	for q := range queues {
		r, err := fe.NewRing(q, size, virtio.GuestAddr(0x200000+q*0x8000))
		if err != nil {
			t.Fatal(err)
		}
		rings = append(rings, r)
	}
	if err := fe.Start(info.Features, rings...); err != nil {
		t.Fatal(err)
	}
	// One shared table: a 2-sector read scattered over 1022 buffers, 1021
	// of one byte and one of three.
	hdr := make([]byte, 16) // type IN, sector 0
	if err := fe.Write(hdrGPA, hdr); err != nil {
		t.Fatal(err)
	}
	bufs := []vhostusertest.Buf{{GPA: hdrGPA, Len: 16}}
	for i := range dataDesc {
		n := uint32(1)
		if i == dataDesc-1 {
			n = 3
		}
		bufs = append(bufs, vhostusertest.Buf{GPA: dataGPA + virtio.GuestAddr(i), Len: n, Write: true})
	}
	bufs = append(bufs, vhostusertest.Buf{GPA: statGPA, Len: 1, Write: true})

	before := rssAnon(t, d.pid())
	for _, r := range rings {
		for range size {
			if _, err := r.PostIndirect(tableGPA, bufs...); err != nil {
				t.Fatal(err)
			}
		}
		if err := fe.Kick(r.Index); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range rings {
		for i := range size {
			if _, err := r.Wait(ioWait); err != nil {
				t.Fatalf("queue %d request %d: %v", r.Index, i, err)
			}
		}
	}
	st, err := fe.Read(statGPA, 1)
	if err != nil {
		t.Fatal(err)
	}
	if st[0] != virtio.BlkSOK {
		t.Fatalf("scattered read: status %d", st[0])
	}
	after := rssAnon(t, d.pid())
	t.Logf("daemon anonymous memory: %d KiB before, %d KiB after %d requests of %d descriptors", before>>10, after>>10, queues*size, size)
	if after > before+maxGrowth {
		t.Errorf("anonymous memory grew by %d MiB, at most %d MiB expected", (after-before)>>20, maxGrowth>>20)
	}
	_ = fe.Close()
	c := connect(t, sock)
	checkSectors(t, "fresh front end", c.read(0, 8), 0, 0)
}
