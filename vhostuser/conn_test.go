package vhostuser

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"golang.org/x/sys/unix"
)

func TestConnReadMessage(t *testing.T) {
	a, b := socketPair(t)
	c := newConn(b)
	efds := eventFDs(t, 2)
	payload := vringFile{index: 1}.encode()
	sendRaw(t, a, msgBytes(SetVringKick, 1|FlagNeedReply, payload), efds[0])
	sendRaw(t, a, msgBytes(GetFeatures, 1, nil))
	m, err := c.read()
	if err != nil {
		t.Fatal(err)
	}
	if m.hdr.req != SetVringKick || m.hdr.flags != 1|FlagNeedReply || !bytes.Equal(m.payload, payload) || len(m.fds) != 1 {
		t.Fatalf("got %+v, want SET_VRING_KICK with one fd", m)
	}
	if err := checkEventFD(m.fds[0]); err != nil {
		t.Errorf("received descriptor: %v", err)
	}
	closeFDs(m.fds)
	m, err = c.read()
	if err != nil || m.hdr.req != GetFeatures || len(m.payload) != 0 || len(m.fds) != 0 {
		t.Fatalf("got %+v, %v; want GET_FEATURES", m, err)
	}
	_ = a.Close()
	if _, err := c.read(); !errors.Is(err, io.EOF) {
		t.Errorf("read after close = %v, want io.EOF", err)
	}
}

func TestConnReply(t *testing.T) {
	a, b := socketPair(t)
	if err := newConn(b).reply(GetQueueNum, u64(4).encode()); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, headerSize+8)
	if _, err := io.ReadFull(a, got); err != nil {
		t.Fatal(err)
	}
	want := msgBytes(GetQueueNum, 1|FlagReply, u64(4).encode())
	if !bytes.Equal(got, want) {
		t.Errorf("reply %x, want %x", got, want)
	}
}

// TestConnRejectFraming checks the framing layer's refusals and that no
// descriptor they carried stays open.
func TestConnRejectFraming(t *testing.T) {
	for _, tc := range []struct {
		name  string
		raw   []byte
		nfds  int
		close bool
		want  error
	}{
		{name: "bad version", raw: msgBytes(GetFeatures, 2, nil), nfds: 1},
		{name: "reply bit", raw: msgBytes(GetFeatures, 1|FlagReply, nil), nfds: 2},
		{name: "unknown flag", raw: msgBytes(GetFeatures, 1|1<<5, nil), nfds: 1},
		{name: "oversize", raw: msgBytes(SetMemTable, 1, make([]byte, maxPayload+1))[:headerSize], nfds: 3},
		{name: "too many fds", raw: msgBytes(SetMemTable, 1, nil), nfds: maxFDs + 1},
		{name: "short header", raw: msgBytes(GetFeatures, 1, nil)[:7], nfds: 1, close: true, want: io.ErrUnexpectedEOF},
		{name: "short payload", raw: msgBytes(SetFeatures, 1, make([]byte, 8))[:headerSize+3], nfds: 2, close: true, want: io.ErrUnexpectedEOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := socketPair(t)
			efds := eventFDs(t, tc.nfds)
			before := openFDs(t)
			sendRaw(t, a, tc.raw, efds...)
			if tc.close {
				_ = a.Close()
			}
			m, err := newConn(b).read()
			if err == nil {
				closeFDs(m.fds)
				t.Fatalf("read = %+v, want an error", m)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("read error %v, want %v", err, tc.want)
			}
			if tc.close {
				before-- // the closed socket end
			}
			if got := openFDs(t); got != before {
				t.Errorf("%d descriptors open after the error, want %d", got, before)
			}
		})
	}
}

func TestCheckEventFD(t *testing.T) {
	if err := checkEventFD(eventFDs(t, 1)[0]); err != nil {
		t.Errorf("eventfd: %v", err)
	}
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer closeFDs(p[:])
	if err := checkEventFD(p[0]); err == nil {
		t.Error("pipe accepted as an eventfd")
	}
}
