package vhostuser

import (
	"flag"
	"os"
	"testing"
	"time"
)

// Shared with the external test package.
var (
	SocketPair = socketPair
	OpenFDs    = openFDs
	EventFDs   = eventFDs
)

// SetBackendReplyTimeout sets the acknowledgement timeout of the back-end
// request channels made from now on, until the test ends.
func SetBackendReplyTimeout(t *testing.T, d time.Duration) {
	old := backendReplyTimeout
	backendReplyTimeout = d
	t.Cleanup(func() { backendReplyTimeout = old })
}

func TestMain(m *testing.M) {
	// Keep glog off the file system: tests count open descriptors.
	_ = flag.Set("logtostderr", "true")
	os.Exit(m.Run())
}
