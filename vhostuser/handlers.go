package vhostuser

import (
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/golang/glog"
)

// fdRule says how many descriptors a request carries.
type fdRule uint8

const (
	fdsNone      fdRule = iota
	fdsOne              // exactly one
	fdsVring            // one, or none with the vring no-fd bit
	fdsPerRegion        // one per SET_MEM_TABLE region
	fdsAtMostOne        // REM_MEM_REG: QEMU versions differ
)

// variableSize marks a payload whose size its decoder checks.
const variableSize = -1

// handler describes one request: its payload size, its descriptors, whether
// it has a reply body, its decoder and its action.
type handler struct {
	size   int
	fds    fdRule
	reply  bool
	decode func([]byte) (payload, error)
	handle func(*session, payload, []int) ([]byte, error)
}

// entry builds a handler from a typed decoder and action; the payload the
// decoder returns is exactly what the action receives.
func entry[P payload](size int, fds fdRule, reply bool, dec func([]byte) (P, error), h func(*session, P, []int) ([]byte, error)) handler {
	return handler{
		size: size, fds: fds, reply: reply,
		decode: func(b []byte) (payload, error) {
			p, err := dec(b)
			return p, err
		},
		handle: func(s *session, p payload, fds []int) ([]byte, error) {
			return h(s, p.(P), fds)
		},
	}
}

// handlers is the dispatch table, indexed by request. Requests without an
// entry are unsupported.
var handlers = map[Request]handler{
	GetFeatures:         entry(0, fdsNone, true, decodeEmpty, (*session).getFeatures),
	SetFeatures:         entry(u64Size, fdsNone, false, decodeU64, (*session).setFeatures),
	SetOwner:            entry(0, fdsNone, false, decodeEmpty, (*session).setOwner),
	ResetOwner:          entry(0, fdsNone, false, decodeEmpty, (*session).resetDevice),
	SetMemTable:         entry(variableSize, fdsPerRegion, false, decodeMemTable, (*session).setMemTable),
	SetLogBase:          entry(logMsgSize, fdsOne, true, decodeLog, (*session).setLogBase),
	SetVringNum:         entry(vringStateSize, fdsNone, false, decodeVringState, (*session).setVringNum),
	SetVringAddr:        entry(vringAddrSize, fdsNone, false, decodeVringAddr, (*session).setVringAddr),
	SetVringBase:        entry(vringStateSize, fdsNone, false, decodeVringState, (*session).setVringBase),
	GetVringBase:        entry(vringStateSize, fdsNone, true, decodeVringState, (*session).getVringBase),
	SetVringKick:        entry(u64Size, fdsVring, false, decodeVringFile, (*session).setVringKick),
	SetVringCall:        entry(u64Size, fdsVring, false, decodeVringFile, (*session).setVringCall),
	SetVringErr:         entry(u64Size, fdsVring, false, decodeVringFile, (*session).setVringErr),
	GetProtocolFeatures: entry(0, fdsNone, true, decodeEmpty, (*session).getProtocolFeatures),
	SetProtocolFeatures: entry(u64Size, fdsNone, false, decodeU64, (*session).setProtocolFeatures),
	GetQueueNum:         entry(0, fdsNone, true, decodeEmpty, (*session).getQueueNum),
	SetVringEnable:      entry(vringStateSize, fdsNone, false, decodeVringState, (*session).setVringEnable),
	SetBackendReqFD:     entry(0, fdsOne, false, decodeEmpty, (*session).setBackendReqFD),
	GetConfig:           entry(variableSize, fdsNone, true, decodeConfig, (*session).getConfig),
	SetConfig:           entry(variableSize, fdsNone, false, decodeConfig, (*session).setConfig),
	ResetDevice:         entry(0, fdsNone, false, decodeEmpty, (*session).resetDevice),
	GetMaxMemSlots:      entry(0, fdsNone, true, decodeEmpty, (*session).getMaxMemSlots),
	AddMemReg:           entry(memRegMsgSize, fdsOne, false, decodeMemRegMsg, (*session).addMemReg),
	RemMemReg:           entry(memRegMsgSize, fdsAtMostOne, false, decodeMemRegMsg, (*session).remMemReg),
	GetInflightFD:       entry(inflightMsgSize, fdsNone, true, decodeInflight, (*session).getInflightFD),
	SetInflightFD:       entry(inflightMsgSize, fdsOne, false, decodeInflight, (*session).setInflightFD),
}

// wantFDs returns how many descriptors p must come with, or -1 for "zero
// or one".
func (r fdRule) wantFDs(p payload) int {
	switch r {
	case fdsOne:
		return 1
	case fdsVring:
		if p.(vringFile).noFD {
			return 0
		}
		return 1
	case fdsPerRegion:
		return len(p.(memTable).regions)
	case fdsAtMostOne:
		return -1
	}
	return 0
}

// decodeMessage runs the validation layers after the header: payload size,
// payload decode, descriptor count and queue index. It touches no session
// state and no descriptor. known is false for a request without a handler.
func decodeMessage(h header, body []byte, nfds, numQueues int) (hd handler, p payload, known bool, err error) {
	hd, known = handlers[h.req]
	if !known {
		return hd, nil, false, nil
	}
	if hd.size != variableSize && len(body) != hd.size {
		return hd, nil, true, protoErr(h.req, "payload size %d, want %d", len(body), hd.size)
	}
	p, err = hd.decode(body)
	if err != nil {
		return hd, nil, true, &ProtocolError{Req: h.req, Reason: "payload", Err: err}
	}
	want := hd.fds.wantFDs(p)
	if (want >= 0 && nfds != want) || (want < 0 && nfds > 1) {
		return hd, nil, true, protoErr(h.req, "%d file descriptors, want %s", nfds, fdWant(want))
	}
	// Every queue index is checked once, here, before any handler runs.
	if q, ok := p.(queued); ok && uint64(q.queue()) >= uint64(numQueues) {
		return hd, nil, true, protoErr(h.req, "queue %d, device has %d", q.queue(), numQueues)
	}
	return hd, p, true, nil
}

func fdWant(n int) string {
	if n < 0 {
		return "at most 1"
	}
	return fmt.Sprint(n)
}

// dispatch validates and handles one message and sends its reply. It
// closes every descriptor the handler did not take. done reports request 0
// (end of session); err ends the session.
//
// A fault on guest RAM (a front end may truncate the memory file under a
// mapping; starting a ring reads its used index) or any other panic in a
// handler ends the session instead of the process.
// Preconditions: the goroutine runs with debug.SetPanicOnFault(true).
func (s *session) dispatch(m *message) (done bool, err error) {
	defer closeFDs(m.fds)
	defer func() {
		if p := recover(); p != nil {
			s.log.Errorf("%v: panic: %v\n%s", m.hdr.req, p, debug.Stack())
			done, err = false, fmt.Errorf("vhostuser: %v: %v", m.hdr.req, p)
		}
	}()
	if glog.V(1) {
		glog.Infof("dev=%s msg %v flags %#x size %d fds %d", s.name, m.hdr.req, m.hdr.flags, m.hdr.size, len(m.fds))
	}
	if m.hdr.req == None {
		return true, nil
	}
	hd, p, known, err := decodeMessage(m.hdr, m.payload, len(m.fds), len(s.vrings))
	if !known {
		s.log.Warningf("unsupported request %v ignored", m.hdr.req)
		return false, s.ack(m.hdr, true)
	}
	var body []byte
	s.replyFDs = nil
	if err == nil {
		body, err = hd.handle(s, p, m.fds)
	}
	if s.broken != nil {
		// A ring was abandoned: no reply (GET_VRING_BASE would report a
		// position that is not final); the session ends.
		return false, s.broken
	}
	return false, s.respond(m.hdr, hd, body, err)
}

// respond sends what a handled request calls for. A failed request is
// reported to the front end where the protocol allows: GET_CONFIG with an
// empty reply (spec), others with a REPLY_ACK failure if one was asked
// for. Otherwise the failure ends the session, since the front end would
// go on with a device in an unknown state.
func (s *session) respond(h header, hd handler, body []byte, err error) error {
	if err != nil {
		switch {
		case errors.Is(err, ErrLogSetup):
			// Never a REPLY_ACK failure: see ErrLogSetup.
		case h.req == GetConfig:
			s.log.Warningf("%v failed: %v", h.req, err)
			return s.c.reply(h.req, nil)
		case !hd.reply && s.wantsAck(h):
			s.log.Warningf("%v failed: %v", h.req, err)
			return s.ack(h, true)
		}
		s.log.Errorf("%v failed: %v", h.req, err)
		return err
	}
	if hd.reply {
		return s.c.reply(h.req, body, s.replyFDs...)
	}
	return s.ack(h, false)
}

// wantsAck reports whether h asks for a REPLY_ACK acknowledgement.
func (s *session) wantsAck(h header) bool {
	return h.flags&FlagNeedReply != 0 && s.hasReplyAck()
}

// ack sends the REPLY_ACK acknowledgement if h asks for one: 0 for
// success, 1 for failure.
func (s *session) ack(h header, failed bool) error {
	if !s.wantsAck(h) {
		return nil
	}
	var v u64
	if failed {
		v = 1
	}
	return s.c.reply(h.req, v.encode())
}

// take hands fds[i] to the caller, which then owns it.
func take(fds []int, i int) int {
	fd := fds[i]
	fds[i] = -1
	return fd
}
