// Package qmp serves the QEMU Machine Protocol (QMP) on Unix sockets, so
// that QEMU's own clients (qmp-shell, the qemu.qmp Python library, socat
// by hand) can drive the daemon.
//
// The wire protocol is QEMU's (docs/interop/qmp-spec.txt): on connect the
// server sends a greeting {"QMP": {"version": ..., "capabilities": []}};
// the client leaves capabilities negotiation mode with qmp_capabilities;
// then each command {"execute": NAME, "arguments": {...}, "id": ANY} gets
// one reply, {"return": ...} or {"error": {"class": ..., "desc": ...}},
// carrying the command's id. Input is a stream of JSON values, split at
// the end of each top-level value as QEMU's JSON streamer does; replies
// end with CRLF. Out-of-band execution is not offered and no events are
// sent.
//
// # Trust
//
// Clients are untrusted. A message is at most MaxMessage bytes and nests
// at most maxDepth levels; a longer or deeper one gets an error and is
// skipped up to its end, holding no more memory than that. Bad JSON, a
// value that is not an object, unknown members, unknown commands and bad
// arguments get the errors QEMU gives, with QEMU's error classes. A
// client's reply must be written within ten seconds, or the client is
// disconnected: one that never reads its replies holds only its own
// goroutine, for a bounded time. At most MaxClients clients are served at
// once. Commands run on the client's goroutine; the command functions
// synchronise among themselves.
package qmp
