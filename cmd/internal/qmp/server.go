package qmp

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"sync"
	"time"

	"github.com/golang/glog"

	"github.com/ccmblk/ccmblk/vhostuser"
	"github.com/ccmblk/ccmblk/virtio"
)

// Connection limits.
const (
	// MaxClients is the most clients served at once; one more is told so
	// and disconnected.
	MaxClients = 16
)

// writeTimeout bounds the writing of one reply or the greeting: a client
// that does not read its replies is disconnected after it. Tests shorten
// it.
var writeTimeout = 10 * time.Second

// Version is what the greeting and query-version report.
type Version struct {
	Major, Minor, Micro int
	// Package names the program, as QEMU names its build.
	Package string
}

// Server serves QMP clients.
type Server struct {
	version  Version
	commands map[string]Command
	order    []string
	// name prefixes log lines.
	name string
	// log limits the lines clients can trigger.
	log *virtio.LogLimiter
	// slots holds one token per client being served.
	slots chan struct{}
}

// NewServer returns a Server running cmds, plus qmp_capabilities,
// query-version and query-commands. name prefixes its log lines.
func NewServer(name string, v Version, cmds []Command) *Server {
	s := &Server{version: v, commands: map[string]Command{}, name: name, slots: make(chan struct{}, MaxClients),
		log: virtio.NewLogLimiter(name+": QMP", virtio.DefaultLogBurst, virtio.DefaultLogEvery)}
	builtin := []Command{
		{Name: negotiateCommand, Params: []Param{{Name: "enable", Type: StringList, Optional: true}}},
		{Name: "query-version", Run: func(Args) (any, error) { return s.versionInfo(), nil }},
		{Name: "query-commands", Run: func(Args) (any, error) { return s.commandList(), nil }},
	}
	for _, c := range append(builtin, cmds...) {
		s.commands[c.Name] = c
		s.order = append(s.order, c.Name)
	}
	return s
}

// versionInfo is QEMU's VersionInfo.
func (s *Server) versionInfo() any {
	type triple struct {
		Micro int `json:"micro"`
		Minor int `json:"minor"`
		Major int `json:"major"`
	}
	return struct {
		QEMU    triple `json:"qemu"`
		Package string `json:"package"`
	}{triple{s.version.Micro, s.version.Minor, s.version.Major}, s.version.Package}
}

// commandList is QEMU's query-commands answer.
func (s *Server) commandList() any {
	type info struct {
		Name string `json:"name"`
	}
	out := make([]info, len(s.order))
	for i, n := range s.order {
		out[i] = info{n}
	}
	return out
}

// greeting is the first line a client reads.
func (s *Server) greeting() []byte {
	b, _ := json.Marshal(map[string]any{"QMP": map[string]any{
		"version":      s.versionInfo(),
		"capabilities": []string{},
	}})
	return append(b, '\r', '\n')
}

// pastDeadline unblocks pending accepts, reads and writes at once.
var pastDeadline = time.Unix(1, 0)

// Serve accepts clients on l until ctx is done, then disconnects them,
// waits for their goroutines and returns nil. It does not close l.
func (s *Server) Serve(ctx context.Context, l *net.UnixListener) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	glog.Infof("%s: QMP listening on %v", s.name, l.Addr())
	return vhostuser.AcceptLoop(ctx, l, s.log, func(c *net.UnixConn) {
		select {
		case s.slots <- struct{}{}:
		default:
			s.refuse(c)
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-s.slots }()
			s.serveClient(ctx, c)
		}()
	})
}

// refuse tells a client over MaxClients why it is disconnected.
func (s *Server) refuse(c *net.UnixConn) {
	s.log.Warningf("more than %d clients, one refused", MaxClients)
	_ = c.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = c.Write(reply(nil, nil, Errorf("Too many QMP clients (at most %d)", MaxClients)))
	_ = c.Close()
}

// serveClient runs one client until it disconnects, fails to read a reply
// within writeTimeout, or ctx is done.
func (s *Server) serveClient(ctx context.Context, c *net.UnixConn) {
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(pastDeadline) })
	defer stop()
	if glog.V(1) {
		glog.Infof("%s: QMP client connected", s.name)
	}
	write := func(b []byte) error {
		if err := c.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil {
			return err
		}
		_, err := c.Write(b)
		return err
	}
	if err := write(s.greeting()); err != nil {
		return
	}
	conv := &conversation{srv: s}
	var sp splitter
	var werr error
	emit := func(msg []byte, err error) {
		if werr != nil {
			return
		}
		if err != nil {
			werr = write(reply(nil, nil, Errorf("%v", err)))
			return
		}
		werr = write(conv.handle(msg))
	}
	r := bufio.NewReaderSize(c, 4096)
	for werr == nil {
		b, err := r.ReadByte()
		if err != nil {
			break
		}
		sp.feed(b, emit)
	}
	if werr != nil {
		s.log.Warningf("client dropped: %v", werr)
	} else if glog.V(1) {
		glog.Infof("%s: QMP client disconnected", s.name)
	}
}
