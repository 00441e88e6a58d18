package vhostuser

import (
	"bytes"
	"testing"
)

// FuzzDecodeMessage feeds header, payload and descriptor count to the
// validation layers. Invariants: no panic, and an accepted payload
// re-encodes to exactly the bytes it came from.
func FuzzDecodeMessage(f *testing.F) {
	for _, tc := range append(decodeOK, decodeReject...) {
		f.Add(msgBytes(tc.req, 1, tc.payload), uint8(tc.nfds))
	}
	f.Add(msgBytes(SetLogBase, 1|FlagNeedReply, make([]byte, 16)), uint8(1))
	f.Fuzz(func(t *testing.T, msg []byte, nfds uint8) {
		if len(msg) < headerSize {
			return
		}
		h := decodeHeader(msg)
		body := msg[headerSize:]
		if h.check() != nil || uint64(len(body)) != uint64(h.size) {
			return // the framing layer never delivers these
		}
		_, p, known, err := decodeMessage(h, body, int(nfds%(maxFDs+1)), 2)
		if !known || err != nil {
			return
		}
		if got := p.encode(); !bytes.Equal(got, body) {
			t.Fatalf("%v: re-encoded %x, want %x", h.req, got, body)
		}
	})
}
