// Package vhostuser serves a virtio device to a vhost-user front end such
// as QEMU's vhost-user-blk-pci over a Unix socket.
//
// The package owns the transport: the listener and its connections, message
// framing with SCM_RIGHTS file descriptor passing, layered validation of
// every message (header, size, payload, file descriptor count, queue index,
// then the request's own checks), the protocol state machine, the mapping of
// guest RAM regions shared by the front end, the kick and call eventfds, and
// the goroutines that run started rings. The device itself is a Backend; it
// sees only virtio.Memory, virtio.Queue, virtio.Kick and virtio.Notifier.
//
// # Trust
//
// Everything the front end sends is untrusted: message headers, sizes,
// payloads, file descriptors, memory tables and ring addresses. A malformed
// message never panics the process; it ends the session (the connection is
// closed and Server.Serve accepts the next front end) or, for a request the
// front end asked to be acknowledged, is answered with a failure. Every file
// descriptor that arrives with a message is either kept by the request that
// uses it or closed before the next message is read. Requests that are
// refused while the session goes on are logged as warnings only a few times
// per session, so a front end cannot flood the log. Call and err eventfds
// are made non-blocking, so a front end cannot block a ring by handing over
// a saturated one. Guest RAM itself is guest-controlled; the Backend
// validates what it reads there.
//
// # Messages
//
// Requests are native-endian (vhost-user convention), unlike the
// little-endian virtio rings. The requests handled are GET_FEATURES,
// SET_FEATURES, SET_OWNER, RESET_OWNER, SET_MEM_TABLE, SET_VRING_NUM,
// SET_VRING_ADDR, SET_VRING_BASE, GET_VRING_BASE, SET_VRING_KICK,
// SET_VRING_CALL, SET_VRING_ERR, GET_PROTOCOL_FEATURES,
// SET_PROTOCOL_FEATURES, GET_QUEUE_NUM, SET_VRING_ENABLE, SET_LOG_BASE,
// SET_BACKEND_REQ_FD, GET_CONFIG, SET_CONFIG, RESET_DEVICE,
// GET_MAX_MEM_SLOTS, ADD_MEM_REG, REM_MEM_REG, GET_INFLIGHT_FD and
// SET_INFLIGHT_FD. The protocol features offered are MQ, LOG_SHMFD,
// REPLY_ACK, BACKEND_REQ, CONFIG, INFLIGHT_SHMFD, RESET_DEVICE and
// CONFIGURE_MEM_SLOTS, and the virtio feature VHOST_F_LOG_ALL.
//
// # Live migration
//
// While the front end sets VHOST_F_LOG_ALL and has shared a log with
// SET_LOG_BASE, the rings mark every page the device writes in it (see
// virtio.DirtyLog). A new log is installed before SET_LOG_BASE's reply and
// the old one is not touched after it. LOG_ALL and the rings' log flag
// change without stopping the rings. A log setup that cannot be honoured
// ends the session (ErrLogSetup), never a failure acknowledgement, which
// QEMU answers by aborting the VM. GET_VRING_BASE answers only once the
// ring's requests are complete and logged; with no ring left running, an
// Activator Backend then releases its storage for the migration
// destination.
// Any other request is logged and, if the front end asked for an
// acknowledgement, answered with a failure. Request 0 ends the session.
//
// # Back-end requests
//
// The socket from SET_BACKEND_REQ_FD carries BACKEND_CONFIG_CHANGE_MSG
// when the device configuration changes (Server.NotifyConfigChange, for a
// resize), with NEED_REPLY when REPLY_ACK is negotiated. The notice is sent
// and its acknowledgement awaited, for at most a few seconds, off the
// control goroutine: QEMU reads the new configuration with GET_CONFIG on
// the main socket before it acknowledges. Once a change was made, every
// later device start (the first ring of a session to run after all were
// stopped) sends the notice again, since QEMU ignores one while its device
// is stopped and never reads the configuration again on its own.
//
// # Rings
//
// A ring runs when it has a size (SET_VRING_NUM), addresses that lie in
// guest RAM (SET_VRING_ADDR), a kick eventfd (SET_VRING_KICK) and is
// enabled. Without VHOST_USER_F_PROTOCOL_FEATURES rings are enabled from the
// start; with it SET_VRING_ENABLE decides. A running ring is served by
// Backend.ServeQueue on its own goroutine. A ring stops on
// SET_VRING_ENABLE(0), GET_VRING_BASE, a reset, and at the end of the
// session: its kick is closed, ServeQueue returns once the requests it
// popped are complete, and the next available index is kept for
// GET_VRING_BASE or the next start. Polling mode (a kick without a file
// descriptor) is refused.
//
// # Inflight area
//
// With INFLIGHT_SHMFD the front end keeps a shared area (GET_INFLIGHT_FD
// creates it, SET_INFLIGHT_FD hands it back, also to a restarted back end)
// in which each ring marks the requests it has taken and not yet completed
// (virtio.QueueConfig.Inflight). A ring that starts on an area left by a
// back end that died resubmits those requests first, oldest first, and
// resumes its ring after them, whatever SET_VRING_BASE said. The area is
// front-end memory like guest RAM: its descriptor is checked like the
// others, its geometry before it is mapped, its contents when a ring
// starts; it is swapped only while no ring runs.
//
// # Concurrency
//
// Each session has one control goroutine that reads messages in order, runs
// their handlers and writes the replies; it alone changes the session state.
// Each running ring has one goroutine, owned and waited for by the control
// goroutine. Memory-table changes stop the running rings, swap the memory,
// restart them and only then unmap retired regions, so a Backend never sees
// a view of unmapped memory.
//
// The package is Linux-only.
package vhostuser
