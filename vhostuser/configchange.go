package vhostuser

import "fmt"

// ConfigNotice says what became of a configuration change notice.
type ConfigNotice int

const (
	// NoticeQueued: no front end with a started device is connected, or it
	// did not negotiate BACKEND_REQ; the notice goes out at the next
	// device start.
	NoticeQueued ConfigNotice = iota
	// NoticeSent: the notice was sent and, with REPLY_ACK, acknowledged:
	// the front end has read the new configuration and told the driver.
	NoticeSent
)

func (n ConfigNotice) String() string {
	if n == NoticeSent {
		return "sent"
	}
	return "queued for the next device start"
}

// NotifyConfigChange tells the front end that the device configuration
// changed (a resize): it sends BACKEND_CONFIG_CHANGE_MSG on the back-end
// request channel if a front end is connected with its device started,
// and waits (bounded) for the acknowledgement when REPLY_ACK is
// negotiated. From the first call on, every later device start of every
// session sends the notice again: QEMU 7.2 ignores one while its device
// is stopped and reads the configuration only at realize, so a change
// made while no guest runs, or while the back end restarted, would
// otherwise never reach the guest.
//
// It must not be called from a session's control goroutine. An error
// means the front end refused or did not acknowledge; the notice stays
// queued for the next device start.
func (s *Server) NotifyConfigChange() (ConfigNotice, error) {
	// Set before reading started; a device start sets started before
	// reading changed, so one of the two sends the notice.
	s.changed.Store(true)
	s.mu.Lock()
	sess := s.cur
	s.mu.Unlock()
	if sess == nil || !sess.started.Load() {
		return NoticeQueued, nil
	}
	c := sess.backendChannel()
	if c == nil {
		return NoticeQueued, nil
	}
	if err := c.configChange(); err != nil {
		return NoticeQueued, fmt.Errorf("vhostuser: configuration change notice: %w", err)
	}
	return NoticeSent, nil
}

// MarkConfigChanged records a configuration change the back end found
// rather than made (its disk grew while another daemon served it): the
// notice goes out at the next device start, and at every one after, as
// after NotifyConfigChange. It may be called from Activator.Activate.
func (s *Server) MarkConfigChanged() { s.changed.Store(true) }

// deviceStarting is called by the control goroutine when a ring starts.
// On the device's start (its first running ring) after a configuration
// change, it queues a notice on the back-end request channel. The notice
// is sent by the channel's own goroutine: the front end reads it once it
// is done starting the device, which needs this goroutine's replies.
func (s *session) deviceStarting() {
	if s.started.Swap(true) {
		return
	}
	if !s.changed.Load() {
		return
	}
	if c := s.backendChannel(); c != nil {
		c.queueConfigChange()
	}
}

// anyRunning reports whether a ring runs.
func (s *session) anyRunning() bool {
	for _, vr := range s.vrings {
		if vr.run != nil {
			return true
		}
	}
	return false
}
