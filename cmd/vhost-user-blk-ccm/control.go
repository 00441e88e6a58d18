package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"runtime/debug"

	"github.com/golang/glog"
	"golang.org/x/sys/unix"

	"github.com/ccmblk/ccmblk/cmd/internal/qmp"
	"github.com/ccmblk/ccmblk/vhostuser"
	"github.com/ccmblk/ccmblk/virtio"
)

// nodeName is the name of the daemon's one disk in QMP: block_resize's
// device and node-name arguments and query-blockstats' answer.
const nodeName = "disk0"

// control runs the daemon's QMP commands on its one disk.
type control struct {
	name string
	dev  *owner
	srv  *vhostuser.Server
	// room returns an error if growing from old to newSize bytes needs
	// more space than the host's file system has.
	room func(old, newSize uint64) error
}

// version is what query-version reports: the program and, when the
// binary knows it, the source revision it was built from.
func version() qmp.Version {
	pkg := "ccmblk vhost-user-blk-ccm"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				pkg += " " + s.Value
			}
		}
	}
	return qmp.Version{Package: pkg}
}

// serveQMP serves the control socket l, if any, until ctx is done; the
// returned channel is closed once it has stopped and its commands have
// returned.
func serveQMP(ctx context.Context, l *net.UnixListener, o *options, name string, dev *owner, srv *vhostuser.Server) (<-chan struct{}, error) {
	done := make(chan struct{})
	if l == nil {
		close(done)
		return done, nil
	}
	room, err := roomFor(o)
	if err != nil {
		return nil, err
	}
	c := &control{name: name, dev: dev, srv: srv, room: room}
	qs := qmp.NewServer("dev="+name, version(), c.commands())
	go func() {
		defer close(done)
		if err := qs.Serve(ctx, l); err != nil {
			glog.Errorf("dev=%s: QMP: %v", name, err)
		}
	}()
	return done, nil
}

// commands returns the daemon's QMP commands.
func (c *control) commands() []qmp.Command {
	return []qmp.Command{
		{
			Name: "block_resize",
			Params: []qmp.Param{
				{Name: "device", Type: qmp.String, Optional: true},
				{Name: "node-name", Type: qmp.String, Optional: true},
				{Name: "size", Type: qmp.Int},
			},
			Run: c.blockResize,
		},
		{Name: "query-blockstats", Run: c.queryBlockstats},
	}
}

// blockResize grows the disk and tells the guest. It returns once the
// front end acknowledged the configuration change, or once the notice is
// queued for the next device start when no guest runs.
func (c *control) blockResize(a qmp.Args) (any, error) {
	device, hasDevice := a.String("device")
	node, hasNode := a.String("node-name")
	if (hasDevice && device != nodeName) || (hasNode && node != nodeName) {
		return nil, qmp.Errorf("Cannot find device='%s' nor node-name='%s' (this daemon's disk is '%s')", device, node, nodeName)
	}
	size, _ := a.Int("size")
	old := c.dev.Size()
	ss := c.dev.SectorSize()
	switch {
	case size < 0:
		return nil, qmp.ErrValue("size", "a >0 size")
	case c.dev.ReadOnly():
		return nil, qmp.Errorf("Device '%s' is read only", nodeName)
	case size%int64(ss) != 0:
		return nil, qmp.ErrValue("size", fmt.Sprintf("a multiple of the sector size, %d", ss))
	case uint64(size) < old:
		return nil, qmp.Errorf("Shrinking is not supported: size %d is below the current size %d", size, old)
	case uint64(size) == old:
		return nil, nil
	}
	if err := c.room(old, uint64(size)); err != nil {
		return nil, qmp.Errorf("Cannot grow to %d bytes: %v", size, err)
	}
	if err := c.dev.whileActive(func() error { return c.dev.Grow(uint64(size)) }); err != nil {
		return nil, qmp.Errorf("Cannot grow to %d bytes: %v", size, err)
	}
	notice, err := c.srv.NotifyConfigChange()
	glog.Infof("dev=%s resized from %d to %d bytes; guest notice %v", c.name, old, size, notice)
	if err != nil {
		return nil, qmp.Errorf("The disk grew to %d bytes, but the front end did not acknowledge the change (%v); the guest sees the new size at its next device start", size, err)
	}
	return nil, nil
}

// roomFor returns the room check of a disk opened with o: a default CCM
// image in a regular file writes an encrypted zero sector, two physical
// sectors, per new logical sector, so it needs twice the growth in free
// space; raw images and sparse CCM images grow by a hole, and a block
// device must already be large enough (the disk checks).
func roomFor(o *options) (func(old, newSize uint64) error, error) {
	st, err := os.Stat(o.blkFile)
	if err != nil {
		return nil, err
	}
	if o.format != "ccm" || o.sparse || !st.Mode().IsRegular() {
		return func(uint64, uint64) error { return nil }, nil
	}
	return func(old, newSize uint64) error {
		if newSize-old > math.MaxUint64/2 {
			return errors.New("the size overflows")
		}
		need := 2 * (newSize - old)
		var st unix.Statfs_t
		if err := unix.Statfs(o.blkFile, &st); err != nil {
			return err
		}
		free := st.Bavail * uint64(st.Bsize)
		if need > free {
			return fmt.Errorf("the new encrypted sectors need %d bytes, the file system has %d free", need, free)
		}
		return nil
	}, nil
}

// queryBlockstats answers query-blockstats: one entry for the disk, with
// the totals over its queues in "stats", named as QEMU names them, and
// each queue's counters in "queues". WRITE_ZEROES requests count as
// writes, as in QEMU's virtio-blk, and also on their own
// (write_zeroes_*); DISCARD requests are QEMU's unmap operations.
func (c *control) queryBlockstats(qmp.Args) (any, error) {
	per := c.dev.Stats()
	var total virtio.BlkQueueStats
	queues := make([]map[string]any, len(per))
	for i, q := range per {
		total = total.Add(q)
		queues[i] = map[string]any{"queue": i, "stats": blockDeviceStats(q)}
	}
	return []map[string]any{{
		"device":    "",
		"node-name": nodeName,
		"stats":     blockDeviceStats(total),
		"queues":    queues,
	}}, nil
}

// blockDeviceStats is QEMU's BlockDeviceStats for s, plus the counters
// QEMU does not have: write_zeroes_*, failed_auth_operations and
// inflight_operations. The merged and zone-append counters are always 0:
// requests are never merged and the disk is not zoned.
func blockDeviceStats(s virtio.BlkQueueStats) map[string]any {
	wr := s.Write.Add(s.WriteZeroes)
	return map[string]any{
		"rd_bytes":                        s.Read.Bytes,
		"wr_bytes":                        wr.Bytes,
		"unmap_bytes":                     s.Discard.Bytes,
		"rd_operations":                   s.Read.Operations,
		"wr_operations":                   wr.Operations,
		"flush_operations":                s.Flush.Operations,
		"unmap_operations":                s.Discard.Operations,
		"rd_total_time_ns":                s.Read.TotalTimeNs,
		"wr_total_time_ns":                wr.TotalTimeNs,
		"flush_total_time_ns":             s.Flush.TotalTimeNs,
		"unmap_total_time_ns":             s.Discard.TotalTimeNs,
		"failed_rd_operations":            s.Read.Failed,
		"failed_wr_operations":            wr.Failed,
		"failed_flush_operations":         s.Flush.Failed,
		"failed_unmap_operations":         s.Discard.Failed,
		"invalid_rd_operations":           s.Read.Invalid,
		"invalid_wr_operations":           wr.Invalid,
		"invalid_flush_operations":        s.Flush.Invalid,
		"invalid_unmap_operations":        s.Discard.Invalid,
		"rd_merged":                       0,
		"wr_merged":                       0,
		"unmap_merged":                    0,
		"zone_append_bytes":               0,
		"zone_append_operations":          0,
		"zone_append_total_time_ns":       0,
		"zone_append_merged":              0,
		"failed_zone_append_operations":   0,
		"invalid_zone_append_operations":  0,
		"account_invalid":                 true,
		"account_failed":                  true,
		"timed_stats":                     []any{},
		"write_zeroes_bytes":              s.WriteZeroes.Bytes,
		"write_zeroes_operations":         s.WriteZeroes.Operations,
		"write_zeroes_total_time_ns":      s.WriteZeroes.TotalTimeNs,
		"failed_write_zeroes_operations":  s.WriteZeroes.Failed,
		"invalid_write_zeroes_operations": s.WriteZeroes.Invalid,
		"failed_auth_operations":          s.AuthFailures,
		"inflight_operations":             s.InFlight,
	}
}
