package vhostuser

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ccmblk/ccmblk/virtio"
)

// loopBackend is a Backend whose queues answer every kick with a call.
type loopBackend struct{}

func (loopBackend) Features() uint64     { return 1<<32 | virtio.FRingEventIdx }
func (loopBackend) NumQueues() int       { return 2 }
func (loopBackend) MaxQueueSize() uint16 { return 16 }

func (loopBackend) ReadConfig(offset uint32, buf []byte) error {
	if uint64(offset)+uint64(len(buf)) > 8 {
		return errors.New("loop: config out of range")
	}
	clear(buf)
	return nil
}

func (loopBackend) WriteConfig(offset uint32, data []byte) error {
	if offset != 0 || len(data) != 1 {
		return errors.New("loop: read-only config field")
	}
	return nil
}

func (loopBackend) ServeQueue(_ int, _ *virtio.Queue, kick virtio.Kick, call virtio.Notifier) error {
	for kick.Wait() == nil {
		if err := call.Notify(); err != nil {
			return err
		}
	}
	return nil
}

// sequence runs ops against one session: each op is a 9-byte record, a
// request selector and 8 parameter bytes, turned into a message that is
// mostly well formed so that the state machine gets deep.
type sequence struct {
	t          testing.TB
	b          Backend
	s          *session
	ram        int
	inflight   int // a sealed memfd for SET_INFLIGHT_FD
	kicks      [2]int
	calls      [2]int
	peer       *net.UnixConn
	drained    chan struct{}
	fdsStarted int
}

const (
	seqRAM     = 256 << 10
	seqQVA     = 1 << 40
	seqOpBytes = 9
	// In the layout the seeds use (a region at guest address 0 from file
	// offset 0, rings at op 7's zero offsets), guest addresses are offsets
	// in the RAM file: the descriptor table, the avail and used rings,
	// then request buffers of seqSlot bytes each.
	seqDesc  = 0
	seqAvail = 0x1000
	seqUsed  = 0x2000
	seqData  = 0x4000
	seqSlot  = 512
	// seqInflightBytes holds two queues of 16 at the stride of
	// GET_INFLIGHT_FD.
	seqInflightBytes = 2 * 320
)

func newSequence(t testing.TB, b Backend) *sequence {
	q := &sequence{t: t, b: b, drained: make(chan struct{})}
	q.fdsStarted = openFDs(t)
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	conns := make([]*net.UnixConn, 2)
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "seq")
		c, err := net.FileConn(f)
		_ = f.Close()
		if err != nil {
			t.Fatal(err)
		}
		conns[i] = c.(*net.UnixConn)
	}
	q.peer = conns[0]
	go func() {
		defer close(q.drained)
		_, _ = io.Copy(io.Discard, q.peer)
	}()
	q.ram, err = unix.MemfdCreate("seq-ram", unix.MFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Ftruncate(q.ram, seqRAM); err != nil {
		t.Fatal(err)
	}
	if q.inflight, err = unix.MemfdCreate("seq-inflight", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING); err != nil {
		t.Fatal(err)
	}
	if err := unix.Ftruncate(q.inflight, seqInflightBytes); err != nil {
		t.Fatal(err)
	}
	if _, err := unix.FcntlInt(uintptr(q.inflight), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW); err != nil {
		t.Fatal(err)
	}
	for i := range q.kicks {
		q.kicks[i], _ = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
		q.calls[i], _ = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	}
	q.s, err = newSession(b, "seq", conns[1], NewServer(b, ServerOptions{Name: "seq"}).shared)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func (q *sequence) dup(fd int) int {
	d, err := unix.Dup(fd)
	if err != nil {
		q.t.Fatal(err)
	}
	return d
}

func seqRegion(p []byte) memRegion {
	return memRegion{
		gpa:        virtio.GuestAddr(p[1]) << 12,
		size:       64 << 10 >> (p[2] % 3),
		uaddr:      seqQVA + qva(p[3])<<12,
		mmapOffset: uint64(p[4]%4) << 12,
	}
}

// message builds the message for one op; kick reports a kick instead.
// Ops that write guest memory (ring contents) may return neither.
func (q *sequence) message(op byte, p []byte) (m *message, kick int) {
	idx := uint32(p[0] % 3) // 2 is out of range
	vf := vringFile{index: uint8(idx), noFD: p[1]%4 == 0}
	h := header{flags: flagVersion}
	if p[7]&1 != 0 {
		h.flags |= FlagNeedReply
	}
	var body payload = empty{}
	var fds []int
	withFD := func(fd int) {
		if !vf.noFD {
			fds = append(fds, q.dup(fd))
		}
	}
	switch op % 27 {
	case 0:
		h.req = GetFeatures
	case 1:
		h.req, body = SetFeatures, u64([]uint64{q.b.Features() | FeatureProtocolFeatures, q.b.Features(), 1<<33 | 1}[p[1]%3])
	case 2:
		h.req, body = SetProtocolFeatures, u64(OfferedProtocolFeatures|uint64(p[1]%2)<<1)
	case 3:
		h.req, body, fds = SetMemTable, memTable{regions: []memRegion{seqRegion(p)}}, []int{q.dup(q.ram)}
	case 4:
		h.req, body, fds = AddMemReg, memRegMsg{region: seqRegion(p)}, []int{q.dup(q.ram)}
	case 5:
		h.req, body = RemMemReg, memRegMsg{region: seqRegion(p)}
	case 6:
		h.req, body = SetVringNum, vringState{index: idx, num: 1 << (p[1] % 6)}
	case 7:
		base := seqQVA + qva(p[3])<<12
		h.req, body = SetVringAddr, vringAddr{index: idx, desc: base + qva(p[4])*64, avail: base + 0x1000 + qva(p[5])*64, used: base + 0x2000 + qva(p[6])*64}
	case 8:
		h.req, body = SetVringBase, vringState{index: idx, num: uint32(p[1])}
	case 9:
		h.req, body = GetVringBase, vringState{index: idx}
	case 10:
		h.req, body = SetVringKick, vf
		withFD(q.kicks[idx%2])
	case 11:
		h.req, body = SetVringCall, vf
		withFD(q.calls[idx%2])
	case 12:
		h.req, body = SetVringErr, vf
		withFD(q.calls[idx%2])
	case 13:
		h.req, body = SetVringEnable, vringState{index: idx, num: uint32(p[1] % 2)}
	case 14:
		h.req, body = GetConfig, configMsg{offset: uint32(p[1] % 16), data: make([]byte, p[2]%16)}
	case 15:
		h.req, body = SetConfig, configMsg{offset: uint32(p[1] % 4), flags: uint32(p[2] % 2), data: []byte{1}}
	case 16:
		h.req = ResetDevice
	case 17:
		h.req = Request(50 + uint32(p[1]))
		withFD(q.kicks[0])
	case 18:
		return nil, int(idx % 2)
	case 19:
		h.req = Request(p[1] % 40)
		body = u64(ne.Uint64(append(p[2:7:7], 0, 0, 0)))
		for range p[6] % 3 {
			fds = append(fds, q.dup(q.kicks[1]))
		}
	case 20:
		h.req = ResetOwner
	case 21:
		h.req, fds = SetBackendReqFD, []int{q.dup(q.calls[0])}
	case 22:
		h.req, body = GetInflightFD, inflightMsg{numQueues: uint16(p[1] % 4), queueSize: 4 << (p[2] % 4)}
	case 23:
		// Front-end memory: whatever the parameters say lands in the
		// area before it is handed over.
		_, _ = unix.Pwrite(q.inflight, p[4:7], int64(p[3])*4%(seqInflightBytes-3))
		qs := uint16(4 << (p[2] % 4))
		n := uint16(p[1] % 3)
		stride := alignUp(uint64(virtio.InflightQueueBytes(qs)), 64)
		size := uint64(n) * stride
		if p[5]%8 == 0 {
			size = uint64(p[6]) * 8
		}
		h.req, body, fds = SetInflightFD, inflightMsg{mmapSize: size, mmapOffset: uint64(p[7]%2) * 64, numQueues: n, queueSize: qs}, []int{q.dup(q.inflight)}
	case 24, 25, 26:
		return nil, q.guestWrite(op%27, p)
	}
	b := body.encode()
	h.size = uint32(len(b))
	return &message{hdr: h, payload: b, fds: fds}, -1
}

// run applies ops, then tears the session down and checks that every
// descriptor the session received was closed.
func (q *sequence) run(ops []byte) {
	q.apply(ops)
	q.close()
}

// apply applies ops until one ends the session, and reports whether the
// session goes on.
func (q *sequence) apply(ops []byte) bool {
	for ; len(ops) >= seqOpBytes; ops = ops[seqOpBytes:] {
		m, k := q.message(ops[0], ops[1:seqOpBytes])
		if k >= 0 {
			var one [8]byte
			ne.PutUint64(one[:], 1)
			_, _ = unix.Write(q.kicks[k], one[:])
		}
		if m == nil {
			continue
		}
		if done, err := q.s.dispatch(m); done || err != nil {
			return false
		}
	}
	return true
}

// close tears the session down and checks that every descriptor it
// received was closed.
func (q *sequence) close() {
	q.s.teardown()
	<-q.drained
	_ = q.peer.Close()
	closeFDs(append(q.kicks[:], append(q.calls[:], q.ram, q.inflight)...))
	if got := openFDs(q.t); got != q.fdsStarted {
		q.t.Fatalf("%d descriptors open after the session, want %d", got, q.fdsStarted)
	}
}

func op(sel byte, p ...byte) []byte {
	b := make([]byte, seqOpBytes)
	b[0] = sel
	copy(b[1:], p)
	return b
}

// seqHandshake is a well-formed start, kick, stop and restart.
var seqHandshake = [][]byte{
	op(2), op(1), op(4), op(6, 0, 3), op(7), op(10, 0, 1), op(11, 0, 1),
	op(13, 0, 1), op(18, 0), op(13, 0, 0), op(9, 0), op(10, 0, 1), op(13, 0, 1),
	op(3, 0, 0, 0, 0, 1), op(14, 0, 0, 8), op(15, 0, 0, 0), op(16), op(0),
}

func TestHandlerSequence(t *testing.T) {
	var all []byte
	for _, o := range seqHandshake {
		all = append(all, o...)
	}
	newSequence(t, loopBackend{}).run(all)
}

// FuzzHandlerSequence runs op sequences against a session. Invariants: no
// panic, no hang (every ring stops), no descriptor left open.
func FuzzHandlerSequence(f *testing.F) {
	var all []byte
	for _, o := range seqHandshake {
		all = append(all, o...)
	}
	f.Add(all)
	f.Add(append(append([]byte(nil), all[:8*seqOpBytes]...), op(19, 5, 0, 0, 0, 0, 2)...))
	f.Add(append(op(4), append(op(4, 0, 1), op(5)...)...))
	// Inflight areas, ours and handed back, before the rings start.
	f.Add(append(append(op(2), op(22, 2, 1)...), all[seqOpBytes:]...))
	f.Add(append(append(op(2), op(23, 2, 2, 0, 1, 0, 1, 0)...), all[seqOpBytes:]...))
	f.Fuzz(func(t *testing.T, ops []byte) {
		newSequence(t, loopBackend{}).run(ops)
	})
}
