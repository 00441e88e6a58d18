package vhostuser

import (
	"bytes"
	"errors"
	"testing"

	"github.com/ccmblk/ccmblk/virtio"
)

func msgBytes(req Request, flags uint32, payload []byte) []byte {
	b := make([]byte, headerSize+len(payload))
	header{req: req, flags: flags, size: uint32(len(payload))}.encode(b)
	copy(b[headerSize:], payload)
	return b
}

func TestRequestString(t *testing.T) {
	for _, tc := range []struct {
		r    Request
		want string
	}{
		{GetFeatures, "GET_FEATURES"},
		{SetVringKick, "SET_VRING_KICK"},
		{RemMemReg, "REM_MEM_REG"},
		{GetStatus, "GET_STATUS"},
		{41, "REQUEST_41"},
		{1 << 31, "REQUEST_2147483648"},
	} {
		if got := tc.r.String(); got != tc.want {
			t.Errorf("Request(%d).String() = %q, want %q", uint32(tc.r), got, tc.want)
		}
	}
}

func TestHeaderCheck(t *testing.T) {
	ok := []header{
		{req: GetFeatures, flags: 1},
		{req: SetMemTable, flags: 1 | FlagNeedReply, size: maxPayload},
	}
	for _, h := range ok {
		if err := h.check(); err != nil {
			t.Errorf("check(%+v) = %v, want nil", h, err)
		}
	}
	bad := []header{
		{req: GetFeatures, flags: 0},
		{req: GetFeatures, flags: 2},
		{req: GetFeatures, flags: 3},
		{req: GetFeatures, flags: 1 | FlagReply},
		{req: GetFeatures, flags: 1 | 1<<4},
		{req: GetFeatures, flags: 1 | 1<<31},
		{req: SetMemTable, flags: 1, size: maxPayload + 1},
	}
	for _, h := range bad {
		var pe *ProtocolError
		if err := h.check(); !errors.As(err, &pe) {
			t.Errorf("check(%+v) = %v, want a ProtocolError", h, err)
		}
	}
}

// decodeCase is one message for decodeMessage with 2 queues.
type decodeCase struct {
	name    string
	req     Request
	payload []byte
	nfds    int
}

func region(gpa, size, uaddr, off uint64) []byte {
	return memRegion{gpa: virtio.GuestAddr(gpa), size: size, uaddr: qva(uaddr), mmapOffset: off}.append(nil)
}

func table(n uint32, regions ...[]byte) []byte {
	b := ne.AppendUint32(nil, n)
	b = ne.AppendUint32(b, 0)
	for _, r := range regions {
		b = append(b, r...)
	}
	return b
}

func state(i, n uint32) []byte { return vringState{index: i, num: n}.encode() }

func cfg(off, size, flags uint32, n int) []byte {
	b := ne.AppendUint32(nil, off)
	b = ne.AppendUint32(b, size)
	b = ne.AppendUint32(b, flags)
	return append(b, make([]byte, n)...)
}

var decodeOK = []decodeCase{
	{"get features", GetFeatures, nil, 0},
	{"set features", SetFeatures, u64(1 << 32).encode(), 0},
	{"set owner", SetOwner, nil, 0},
	{"mem table 1", SetMemTable, table(1, region(0, 4096, 0x1000, 0)), 1},
	{"mem table 8", SetMemTable, table(8, bytes.Repeat(region(0, 4096, 0, 0), 8)), 8},
	{"vring num", SetVringNum, state(1, 256), 0},
	{"vring addr", SetVringAddr, vringAddr{index: 1, desc: 0x1000}.encode(), 0},
	{"vring addr logged", SetVringAddr, vringAddr{index: 1, flags: vringAddrFLog, desc: 0x1000, log: 0x2000}.encode(), 0},
	{"log base", SetLogBase, logMsg{size: 0x2000}.encode(), 1},
	{"log base at offset", SetLogBase, logMsg{size: 8, offset: 4096}.encode(), 1},
	{"vring base", SetVringBase, state(0, 7), 0},
	{"get vring base", GetVringBase, state(1, 0), 0},
	{"kick", SetVringKick, vringFile{index: 1}.encode(), 1},
	{"kick nofd", SetVringKick, vringFile{index: 0, noFD: true}.encode(), 0},
	{"call", SetVringCall, vringFile{index: 0}.encode(), 1},
	{"err nofd", SetVringErr, vringFile{index: 1, noFD: true}.encode(), 0},
	{"enable", SetVringEnable, state(1, 1), 0},
	{"backend req", SetBackendReqFD, nil, 1},
	{"get config 60", GetConfig, cfg(0, 60, 0, 60), 0},
	{"get config 256", GetConfig, cfg(0, 256, 0, 256), 0},
	{"set config", SetConfig, cfg(32, 1, 0, 1), 0},
	{"add mem reg", AddMemReg, memRegMsg{region: memRegion{size: 4096}}.encode(), 1},
	{"rem mem reg", RemMemReg, memRegMsg{region: memRegion{size: 4096}}.encode(), 0},
	{"rem mem reg with fd", RemMemReg, memRegMsg{region: memRegion{size: 4096}}.encode(), 1},
	{"max mem slots", GetMaxMemSlots, nil, 0},
	{"reset device", ResetDevice, nil, 0},
	{"get inflight fd", GetInflightFD, inflightMsg{numQueues: 2, queueSize: 128}.encode(), 0},
	{"set inflight fd", SetInflightFD, inflightMsg{mmapSize: 2 * 2112, numQueues: 2, queueSize: 128}.encode(), 1},
	{"set inflight fd, padding kept", SetInflightFD, inflightMsg{mmapSize: 4160, mmapOffset: 64, numQueues: 1, queueSize: 256, padding: 0xdeadbeef}.encode(), 1},
}

var decodeReject = []decodeCase{
	{"get features with payload", GetFeatures, u64(0).encode(), 0},
	{"get features with fd", GetFeatures, nil, 1},
	{"set features short", SetFeatures, []byte{1, 2, 3, 4}, 0},
	{"set features long", SetFeatures, make([]byte, 16), 0},
	{"mem table empty", SetMemTable, nil, 0},
	{"mem table 0 regions", SetMemTable, table(0), 0},
	{"mem table 9 regions", SetMemTable, table(9, bytes.Repeat(region(0, 4096, 0, 0), 9)), 8},
	{"mem table short", SetMemTable, table(2, region(0, 4096, 0, 0)), 2},
	{"mem table long", SetMemTable, table(1, region(0, 4096, 0, 0), region(0, 4096, 0, 0)), 1},
	{"mem table missing fd", SetMemTable, table(2, region(0, 4096, 0, 0), region(0, 4096, 0, 0)), 1},
	{"mem table extra fd", SetMemTable, table(1, region(0, 4096, 0, 0)), 2},
	{"vring num bad queue", SetVringNum, state(2, 256), 0},
	{"vring num huge queue", SetVringNum, state(1<<31, 256), 0},
	{"vring addr short", SetVringAddr, make([]byte, 32), 0},
	{"log base short", SetLogBase, make([]byte, 8), 1},
	{"log base without fd", SetLogBase, logMsg{size: 8}.encode(), 0},
	{"log base empty", SetLogBase, logMsg{}.encode(), 1},
	{"log base odd size", SetLogBase, logMsg{size: 12}.encode(), 1},
	{"log base too large", SetLogBase, logMsg{size: maxLogSize + 8}.encode(), 1},
	{"log base odd offset", SetLogBase, logMsg{size: 8, offset: 4}.encode(), 1},
	{"log base offset too large", SetLogBase, logMsg{size: 8, offset: 1 << 40}.encode(), 1},
	{"vring addr bad queue", SetVringAddr, vringAddr{index: 2}.encode(), 0},
	{"vring addr unknown flag", SetVringAddr, vringAddr{flags: 2}.encode(), 0},
	{"get vring base bad queue", GetVringBase, state(9, 0), 0},
	{"kick missing fd", SetVringKick, vringFile{index: 0}.encode(), 0},
	{"get inflight fd short", GetInflightFD, make([]byte, 20), 0},
	{"get inflight fd with fd", GetInflightFD, inflightMsg{numQueues: 1, queueSize: 128}.encode(), 1},
	{"set inflight fd long", SetInflightFD, make([]byte, 32), 1},
	{"set inflight fd missing fd", SetInflightFD, inflightMsg{mmapSize: 2112, numQueues: 1, queueSize: 128}.encode(), 0},
	{"kick extra fd", SetVringKick, vringFile{index: 0, noFD: true}.encode(), 1},
	{"kick two fds", SetVringKick, vringFile{index: 0}.encode(), 2},
	{"kick bad queue", SetVringKick, vringFile{index: 2}.encode(), 1},
	{"kick unknown bits", SetVringKick, u64(1 << 9).encode(), 1},
	{"call short", SetVringCall, []byte{0}, 1},
	{"enable bad queue", SetVringEnable, state(3, 1), 0},
	{"backend req no fd", SetBackendReqFD, nil, 0},
	{"get config short", GetConfig, cfg(0, 60, 0, 59), 0},
	{"get config long", GetConfig, cfg(0, 60, 0, 61), 0},
	{"get config too big", GetConfig, cfg(0, 257, 0, 257), 0},
	{"get config no header", GetConfig, []byte{1, 2, 3}, 0},
	{"add mem reg no fd", AddMemReg, memRegMsg{}.encode(), 0},
	{"add mem reg short", AddMemReg, make([]byte, 32), 1},
	{"rem mem reg two fds", RemMemReg, memRegMsg{}.encode(), 2},
}

func TestDecodeMessage(t *testing.T) {
	for _, tc := range decodeOK {
		t.Run("ok/"+tc.name, func(t *testing.T) {
			_, p, known, err := decodeMessage(header{req: tc.req, flags: 1, size: uint32(len(tc.payload))}, tc.payload, tc.nfds, 2)
			if err != nil || !known {
				t.Fatalf("decodeMessage = known %t, %v; want known, nil", known, err)
			}
			if got := p.encode(); !bytes.Equal(got, tc.payload) {
				t.Errorf("re-encoded %x, want %x", got, tc.payload)
			}
		})
	}
	for _, tc := range decodeReject {
		t.Run("reject/"+tc.name, func(t *testing.T) {
			_, _, known, err := decodeMessage(header{req: tc.req, flags: 1, size: uint32(len(tc.payload))}, tc.payload, tc.nfds, 2)
			var pe *ProtocolError
			if !known || !errors.As(err, &pe) {
				t.Fatalf("decodeMessage = known %t, %v; want known, a ProtocolError", known, err)
			}
		})
	}
}

func TestDecodeUnknown(t *testing.T) {
	for _, r := range []Request{SetLogFD, IOTLBMsg, GetStatus, 44, 1 << 20} {
		if _, _, known, err := decodeMessage(header{req: r, flags: 1}, nil, 0, 1); known || err != nil {
			t.Errorf("decodeMessage(%v) = known %t, %v; want unknown, nil", r, known, err)
		}
	}
}
