package virtio

import (
	"errors"
	"sync/atomic"
	"time"
)

// BlkOpStats counts the requests of one type on one queue.
type BlkOpStats struct {
	// Operations counts the requests that reached the disk, failed or not.
	Operations uint64
	// Bytes counts their data bytes; for DISCARD and WRITE_ZEROES, the
	// bytes their segments cover.
	Bytes uint64
	// Failed counts the requests the disk failed.
	Failed uint64
	// Invalid counts the requests refused before reaching the disk: out of
	// range, misaligned, malformed, or a write to a read-only disk.
	Invalid uint64
	// TotalTimeNs is the time the disk calls took, in nanoseconds.
	TotalTimeNs uint64
}

// BlkQueueStats are the counters of one queue since the device was made.
type BlkQueueStats struct {
	Read, Write, Flush, Discard, WriteZeroes BlkOpStats
	// AuthFailures counts the requests that failed because a sector did
	// not authenticate (an error matching BlockOptions.AuthError).
	AuthFailures uint64
	// InFlight is the number of requests handed to the disk and not yet
	// completed, at the time of the snapshot.
	InFlight uint64
}

// Add returns the sum of s and o, for totals over queues.
func (s BlkQueueStats) Add(o BlkQueueStats) BlkQueueStats {
	s.Read = s.Read.Add(o.Read)
	s.Write = s.Write.Add(o.Write)
	s.Flush = s.Flush.Add(o.Flush)
	s.Discard = s.Discard.Add(o.Discard)
	s.WriteZeroes = s.WriteZeroes.Add(o.WriteZeroes)
	s.AuthFailures += o.AuthFailures
	s.InFlight += o.InFlight
	return s
}

// Add returns the sum of s and o.
func (s BlkOpStats) Add(o BlkOpStats) BlkOpStats {
	return BlkOpStats{
		Operations:  s.Operations + o.Operations,
		Bytes:       s.Bytes + o.Bytes,
		Failed:      s.Failed + o.Failed,
		Invalid:     s.Invalid + o.Invalid,
		TotalTimeNs: s.TotalTimeNs + o.TotalTimeNs,
	}
}

// Stats returns a snapshot of every queue's counters, by queue index. The
// counters of one queue are read one by one while requests go on, so a
// snapshot taken under load may be a few requests apart between fields.
func (b *BlockDevice) Stats() []BlkQueueStats {
	out := make([]BlkQueueStats, len(b.stats))
	for i := range b.stats {
		out[i] = b.stats[i].snapshot()
	}
	return out
}

// opCounters are the live counters behind a BlkOpStats.
type opCounters struct {
	ops, bytes, failed, invalid, ns atomic.Uint64
}

// queueCounters are the live counters of one queue. The queue goroutine
// and its workers update them with atomic adds; nothing waits on them.
type queueCounters struct {
	read, write, flush, discard, writeZeroes opCounters
	auth                                     atomic.Uint64
	inFlight                                 atomic.Int64
}

func (c *opCounters) snapshot() BlkOpStats {
	return BlkOpStats{
		Operations:  c.ops.Load(),
		Bytes:       c.bytes.Load(),
		Failed:      c.failed.Load(),
		Invalid:     c.invalid.Load(),
		TotalTimeNs: c.ns.Load(),
	}
}

func (q *queueCounters) snapshot() BlkQueueStats {
	return BlkQueueStats{
		Read:         q.read.snapshot(),
		Write:        q.write.snapshot(),
		Flush:        q.flush.snapshot(),
		Discard:      q.discard.snapshot(),
		WriteZeroes:  q.writeZeroes.snapshot(),
		AuthFailures: q.auth.Load(),
		InFlight:     uint64(max(q.inFlight.Load(), 0)),
	}
}

// of returns the counters of request type t, or nil for a type that is
// not counted (GET_ID, unknown types).
func (q *queueCounters) of(t uint32) *opCounters {
	switch t {
	case BlkTIn:
		return &q.read
	case BlkTOut:
		return &q.write
	case BlkTFlush:
		return &q.flush
	case BlkTDiscard:
		return &q.discard
	case BlkTWriteZeroes:
		return &q.writeZeroes
	}
	return nil
}

// requestBytes is what a request moves or covers, for the byte counters.
func requestBytes(r *Request) uint64 {
	if r.Type != BlkTDiscard && r.Type != BlkTWriteZeroes {
		return uint64(r.DataLen)
	}
	var n uint64
	for _, sg := range r.segs {
		n += uint64(sg.Sectors) * BlkSectorSize
	}
	return n
}

// countInvalid counts a request refused before the disk.
func (s *queueServer) countInvalid(r *Request) {
	if c := s.b.stats[s.index].of(r.Type); c != nil {
		c.invalid.Add(1)
	}
}

// countDone counts a request whose disk call ran for d and returned err.
func (s *queueServer) countDone(r *Request, d time.Duration, err error) {
	q := &s.b.stats[s.index]
	c := q.of(r.Type)
	if c == nil {
		return
	}
	c.ops.Add(1)
	c.bytes.Add(requestBytes(r))
	c.ns.Add(uint64(max(d, 0)))
	if err != nil {
		c.failed.Add(1)
		if s.b.opts.AuthError != nil && errors.Is(err, s.b.opts.AuthError) {
			q.auth.Add(1)
		}
	}
}
