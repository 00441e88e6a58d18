package vhostuser

import (
	"flag"
	"os"
	"testing"
)

// Shared with the external test package.
var (
	SocketPair = socketPair
	OpenFDs    = openFDs
	EventFDs   = eventFDs
)

func TestMain(m *testing.M) {
	// Keep glog off the file system: tests count open descriptors.
	_ = flag.Set("logtostderr", "true")
	os.Exit(m.Run())
}
