package vhostuser_test

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ccmblk/ccmblk/vhostuser"
	"github.com/ccmblk/ccmblk/vhostuser/vhostusertest"
	"github.com/ccmblk/ccmblk/virtio"
)

// outcome is how the server must react to a rejected message.
type outcome int

const (
	nack    outcome = iota // REPLY_ACK with failure; session goes on
	ended                  // session ends with an error
	ignored                // no reply; session goes on
	empty                  // empty reply (GET_CONFIG); session goes on
	endedOK                // session ends without error
)

// fdKit holds descriptors a case sends; the test's own copies stay open
// until the end, so every change in the descriptor count is the server's.
type fdKit struct {
	efd, pipe, memfd, smallMemfd int
}

func newFDKit(t *testing.T) fdKit {
	t.Helper()
	var k fdKit
	k.efd = vhostuser.EventFDs(t, 1)[0]
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Close(p[0]); _ = unix.Close(p[1]) })
	k.pipe = p[0]
	k.memfd = memfd(t, 1<<20)
	k.smallMemfd = memfd(t, 4096)
	return k
}

func memfd(t *testing.T, size int64) int {
	t.Helper()
	fd, err := unix.MemfdCreate("reject-test", unix.MFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Close(fd) })
	if err := unix.Ftruncate(fd, size); err != nil {
		t.Fatal(err)
	}
	return fd
}

func header(req vhostuser.Request, flags, size uint32) []byte {
	b := make([]byte, 12)
	ne.PutUint32(b, uint32(req))
	ne.PutUint32(b[4:], flags)
	ne.PutUint32(b[8:], size)
	return b
}

const ack = vhostuser.FlagNeedReply

type rejectCase struct {
	name  string
	req   vhostuser.Request
	flags uint32
	// msg returns the payload and descriptors; raw, if set, is sent as is.
	msg  func(fe *vhostusertest.Frontend, k fdKit) ([]byte, []int)
	raw  []byte
	want outcome
}

func payload(p []byte, fds ...int) func(*vhostusertest.Frontend, fdKit) ([]byte, []int) {
	return func(*vhostusertest.Frontend, fdKit) ([]byte, []int) { return p, fds }
}

// ringAt sets queue 0 to 256 entries and sends SET_VRING_ADDR with all
// three areas at QVA off from the first region's start.
func ringAddr(off uint64) func(*vhostusertest.Frontend, fdKit) ([]byte, []int) {
	return func(fe *vhostusertest.Frontend, _ fdKit) ([]byte, []int) {
		q := fe.Regions()[0].QVA + off
		return vhostusertest.VringAddr(0, 0, q, q, q, 0), nil
	}
}

func memTable(rs ...vhostusertest.Region) func(*vhostusertest.Frontend, fdKit) ([]byte, []int) {
	return func(_ *vhostusertest.Frontend, k fdKit) ([]byte, []int) {
		fds := make([]int, len(rs))
		for i := range fds {
			fds[i] = k.memfd
		}
		return vhostusertest.MemTable(rs), fds
	}
}

func addMemReg(fd func(fdKit) int, r vhostusertest.Region) func(*vhostusertest.Frontend, fdKit) ([]byte, []int) {
	return func(_ *vhostusertest.Frontend, k fdKit) ([]byte, []int) {
		return vhostusertest.MemRegMsg(r), []int{fd(k)}
	}
}

var (
	withEventFD = func(k fdKit) int { return k.efd }
	withMemfd   = func(k fdKit) int { return k.memfd }
	withSmall   = func(k fdKit) int { return k.smallMemfd }
	mib         = vhostusertest.Region{GPA: 1 << 32, Size: 1 << 20, QVA: 0x1_0000_0000_0000}
)

var rejectCases = []rejectCase{
	// Header layer: the session ends.
	{name: "version 0", raw: header(vhostuser.GetFeatures, 0, 0), want: ended},
	{name: "version 2", raw: header(vhostuser.GetFeatures, 2, 0), want: ended},
	{name: "reply flag", raw: header(vhostuser.GetFeatures, 1|vhostuser.FlagReply, 0), want: ended},
	{name: "unknown flag", raw: header(vhostuser.SetOwner, 1|1<<7, 0), want: ended},
	{name: "oversize", raw: header(vhostuser.SetMemTable, 1, 0x10000), want: ended},
	{name: "too many fds", req: vhostuser.SetOwner, msg: func(_ *vhostusertest.Frontend, k fdKit) ([]byte, []int) {
		return nil, []int{k.efd, k.efd, k.efd, k.efd, k.efd, k.efd, k.efd, k.efd, k.efd}
	}, want: ended},
	// Size, payload, descriptor and queue layers.
	{name: "get with payload", req: vhostuser.GetFeatures, msg: payload(u64(0)), want: ended},
	{name: "bad queue without ack", req: vhostuser.SetVringNum, msg: payload(vhostusertest.VringState(5, 8)), want: ended},
	{name: "get vring base bad queue", req: vhostuser.GetVringBase, msg: payload(vhostusertest.VringState(1, 0)), want: ended},
	{name: "set features short", req: vhostuser.SetFeatures, flags: ack, msg: payload(u64(0)[:4]), want: nack},
	{name: "set owner with fd", req: vhostuser.SetOwner, flags: ack, msg: func(_ *vhostusertest.Frontend, k fdKit) ([]byte, []int) { return nil, []int{k.efd} }, want: nack},
	{name: "kick missing fd", req: vhostuser.SetVringKick, flags: ack, msg: payload(vhostusertest.VringFile(0, false)), want: nack},
	{name: "kick fd and nofd", req: vhostuser.SetVringKick, flags: ack, msg: func(_ *vhostusertest.Frontend, k fdKit) ([]byte, []int) {
		return vhostusertest.VringFile(0, true), []int{k.efd}
	}, want: nack},
	{name: "kick bad queue", req: vhostuser.SetVringKick, flags: ack, msg: func(_ *vhostusertest.Frontend, k fdKit) ([]byte, []int) {
		return vhostusertest.VringFile(1, false), []int{k.efd}
	}, want: nack},
	{name: "bad queue", req: vhostuser.SetVringNum, flags: ack, msg: payload(vhostusertest.VringState(1, 8)), want: nack},
	{name: "mem table extra fd", req: vhostuser.SetMemTable, flags: ack, msg: func(_ *vhostusertest.Frontend, k fdKit) ([]byte, []int) {
		return vhostusertest.MemTable([]vhostusertest.Region{mib}), []int{k.memfd, k.memfd}
	}, want: nack},
	{name: "mem table 9 regions", req: vhostuser.SetMemTable, flags: ack, msg: func(_ *vhostusertest.Frontend, k fdKit) ([]byte, []int) {
		rs := make([]vhostusertest.Region, 9)
		fds := make([]int, 8)
		for i := range rs {
			rs[i] = vhostusertest.Region{GPA: virtio.GuestAddr(i+1) << 32, Size: 4096, QVA: uint64(i+1) << 40}
		}
		for i := range fds {
			fds[i] = k.memfd
		}
		return vhostusertest.MemTable(rs), fds
	}, want: nack},
	// Request checks.
	{name: "kick polling mode", req: vhostuser.SetVringKick, flags: ack, msg: payload(vhostusertest.VringFile(0, true)), want: nack},
	{name: "kick is a pipe", req: vhostuser.SetVringKick, flags: ack, msg: func(_ *vhostusertest.Frontend, k fdKit) ([]byte, []int) {
		return vhostusertest.VringFile(0, false), []int{k.pipe}
	}, want: nack},
	{name: "call is a memfd", req: vhostuser.SetVringCall, flags: ack, msg: func(_ *vhostusertest.Frontend, k fdKit) ([]byte, []int) {
		return vhostusertest.VringFile(0, false), []int{k.memfd}
	}, want: nack},
	{name: "overlapping GPAs", req: vhostuser.SetMemTable, flags: ack, msg: memTable(
		vhostusertest.Region{GPA: 0, Size: 1 << 20, QVA: 1 << 40},
		vhostusertest.Region{GPA: 0x80000, Size: 4096, QVA: 2 << 40}), want: nack},
	{name: "overlapping QVAs", req: vhostuser.SetMemTable, flags: ack, msg: memTable(
		vhostusertest.Region{GPA: 0, Size: 1 << 20, QVA: 1 << 40},
		vhostusertest.Region{GPA: 1 << 32, Size: 4096, QVA: 1<<40 + 4096}), want: nack},
	{name: "region beyond file", req: vhostuser.AddMemReg, flags: ack, msg: addMemReg(withSmall, mib), want: nack},
	{name: "region offset beyond file", req: vhostuser.AddMemReg, flags: ack, msg: addMemReg(withMemfd, vhostusertest.Region{GPA: 1 << 32, Size: 4096, Offset: 1 << 20, QVA: 1 << 44}), want: nack},
	{name: "region empty", req: vhostuser.AddMemReg, flags: ack, msg: addMemReg(withMemfd, vhostusertest.Region{GPA: 1 << 32, QVA: 1 << 44}), want: nack},
	{name: "region wraps", req: vhostuser.AddMemReg, flags: ack, msg: addMemReg(withMemfd, vhostusertest.Region{GPA: 1<<64 - 4096, Size: 8192, QVA: 1 << 44}), want: nack},
	{name: "region unaligned", req: vhostuser.AddMemReg, flags: ack, msg: addMemReg(withMemfd, vhostusertest.Region{GPA: 1<<32 + 2, Size: 4096, QVA: 1 << 44}), want: nack},
	{name: "region overlaps table", req: vhostuser.AddMemReg, flags: ack, msg: addMemReg(withMemfd, vhostusertest.Region{GPA: 4096, Size: 4096, QVA: 1 << 44}), want: nack},
	{name: "region is an eventfd", req: vhostuser.AddMemReg, flags: ack, msg: addMemReg(withEventFD, mib), want: nack},
	{name: "remove unknown region", req: vhostuser.RemMemReg, flags: ack, msg: payload(vhostusertest.MemRegMsg(mib)), want: nack},
	{name: "ring not in memory", req: vhostuser.SetVringAddr, flags: ack, msg: ringAddr(8 << 20), want: nack},
	{name: "ring across region end", req: vhostuser.SetVringAddr, flags: ack, msg: ringAddr(4<<20 - 1024), want: nack},
	{name: "ring before region", req: vhostuser.SetVringAddr, flags: ack, msg: func(fe *vhostusertest.Frontend, _ fdKit) ([]byte, []int) {
		q := fe.Regions()[0].QVA - 16
		return vhostusertest.VringAddr(0, 0, q, q, q, 0), nil
	}, want: nack},
	{name: "ring unknown flag", req: vhostuser.SetVringAddr, flags: ack, msg: func(fe *vhostusertest.Frontend, _ fdKit) ([]byte, []int) {
		q := fe.Regions()[0].QVA
		return vhostusertest.VringAddr(0, 2, q, q, q, 0), nil
	}, want: nack},
	{name: "vring num 3", req: vhostuser.SetVringNum, flags: ack, msg: payload(vhostusertest.VringState(0, 3)), want: nack},
	{name: "vring num 0", req: vhostuser.SetVringNum, flags: ack, msg: payload(vhostusertest.VringState(0, 0)), want: nack},
	{name: "vring num above max", req: vhostuser.SetVringNum, flags: ack, msg: payload(vhostusertest.VringState(0, 512)), want: nack},
	{name: "vring base 17 bits", req: vhostuser.SetVringBase, flags: ack, msg: payload(vhostusertest.VringState(0, 1<<16)), want: nack},
	{name: "enable 2", req: vhostuser.SetVringEnable, flags: ack, msg: payload(vhostusertest.VringState(0, 2)), want: nack},
	{name: "features not offered", req: vhostuser.SetFeatures, flags: ack, msg: payload(u64(1)), want: nack},
	{name: "protocol features not offered", req: vhostuser.SetProtocolFeatures, flags: ack, msg: payload(u64(1<<2 | vhostuser.ProtocolFeatureReplyAck)), want: nack},
	{name: "config migration write", req: vhostuser.SetConfig, flags: ack, msg: payload(vhostusertest.ConfigMsg(8, 1, []byte{0})), want: nack},
	{name: "config read-only field", req: vhostuser.SetConfig, flags: ack, msg: payload(vhostusertest.ConfigMsg(0, 0, []byte{0})), want: nack},
	{name: "config size mismatch", req: vhostuser.SetConfig, flags: ack, msg: payload(vhostusertest.ConfigMsg(8, 0, []byte{0})[:12]), want: nack},
	{name: "get config too large", req: vhostuser.GetConfig, msg: payload(vhostusertest.ConfigMsg(0, 0, make([]byte, 300))), want: empty},
	{name: "get config out of range", req: vhostuser.GetConfig, msg: payload(vhostusertest.ConfigMsg(50, 0, make([]byte, 20))), want: empty},
	// Requests this back end does not implement.
	{name: "unknown request", req: 99, msg: func(_ *vhostusertest.Frontend, k fdKit) ([]byte, []int) { return u64(7), []int{k.efd} }, want: ignored},
	{name: "unknown request with ack", req: 99, flags: ack, msg: payload(nil), want: nack},
	// A log the back end cannot use ends the session, even when an ack
	// was asked for: QEMU aborts the VM on a failure ack.
	{name: "log base unsealed", req: vhostuser.SetLogBase, flags: ack, msg: func(_ *vhostusertest.Frontend, k fdKit) ([]byte, []int) {
		return append(u64(4096), u64(0)...), []int{k.memfd}
	}, want: ended},
	{name: "log base not a memfd", req: vhostuser.SetLogBase, msg: func(_ *vhostusertest.Frontend, k fdKit) ([]byte, []int) {
		return append(u64(4096), u64(0)...), []int{k.pipe}
	}, want: ended},
	{name: "log base size 0", req: vhostuser.SetLogBase, msg: func(_ *vhostusertest.Frontend, k fdKit) ([]byte, []int) {
		return append(u64(0), u64(0)...), []int{k.memfd}
	}, want: ended},
	{name: "log base misaligned offset", req: vhostuser.SetLogBase, msg: func(_ *vhostusertest.Frontend, k fdKit) ([]byte, []int) {
		return append(u64(4096), u64(3)...), []int{k.memfd}
	}, want: ended},
	{name: "log base without descriptor", req: vhostuser.SetLogBase, msg: payload(append(u64(4096), u64(0)...)), want: ended},
	{name: "set inflight fd with ack", req: vhostuser.SetInflightFD, flags: ack, msg: func(_ *vhostusertest.Frontend, k fdKit) ([]byte, []int) {
		return make([]byte, 24), []int{k.memfd}
	}, want: nack},
	{name: "request 0", req: vhostuser.None, msg: payload(nil), want: endedOK},
}

// TestReject sends each malformed or refused message to a session that has
// negotiated REPLY_ACK and has guest RAM, checks the server's reaction and
// that it kept none of the message's descriptors.
func TestReject(t *testing.T) {
	for _, tc := range rejectCases {
		t.Run(tc.name, func(t *testing.T) {
			k := newFDKit(t)
			baseline := vhostuser.OpenFDs(t)
			s := newSession(t, newFakeBackend(1), vhostusertest.Options{})
			if _, err := s.fe.Init(); err != nil {
				t.Fatal(err)
			}
			if err := s.fe.Set(vhostuser.SetFeatures, true, u64(fakeFeatures|vhostuser.FeatureProtocolFeatures)); err != nil {
				t.Fatal(err)
			}
			if err := s.fe.SetMemory(); err != nil {
				t.Fatal(err)
			}
			if err := s.fe.Set(vhostuser.SetVringNum, true, vhostusertest.VringState(0, 256)); err != nil {
				t.Fatal(err)
			}
			before := vhostuser.OpenFDs(t)
			var err error
			if tc.raw != nil {
				err = s.fe.SendRaw(tc.raw)
			} else {
				p, fds := tc.msg(s.fe, k)
				err = s.fe.Send(tc.req, tc.flags, p, fds...)
			}
			if err != nil {
				t.Fatal(err)
			}
			switch tc.want {
			case nack:
				b, err := s.fe.Recv(tc.req)
				if err != nil || len(b) != 8 || ne.Uint64(b) == 0 {
					t.Fatalf("reply %x, %v; want a failure ack", b, err)
				}
			case empty:
				if b, err := s.fe.Recv(tc.req); err != nil || len(b) != 0 {
					t.Fatalf("reply %x, %v; want an empty reply", b, err)
				}
			case ended, endedOK:
				err := s.wait()
				var pe *vhostuser.ProtocolError
				if tc.want == ended && !errors.As(err, &pe) && err == nil {
					t.Fatalf("ServeConn = %v, want an error", err)
				}
				if tc.want == endedOK && err != nil {
					t.Fatalf("ServeConn = %v, want nil", err)
				}
				_ = s.fe.Close()
				if got := vhostuser.OpenFDs(t); got != baseline {
					t.Errorf("%d descriptors open after the session, want %d", got, baseline)
				}
				return
			}
			s.alive()
			if got := vhostuser.OpenFDs(t); got != before {
				t.Errorf("%d descriptors open, want %d", got, before)
			}
		})
	}
}
