package vhostusertest

import (
	"fmt"

	"github.com/ccmblk/ccmblk/vhostuser"
)

// Info is what Init learned from the back end.
type Info struct {
	Features         uint64 // GET_FEATURES
	ProtocolFeatures uint64 // negotiated
	QueueNum         uint64 // GET_QUEUE_NUM, 1 without MQ
	MaxMemSlots      uint64 // GET_MAX_MEM_SLOTS, 0 without the feature
	Config           []byte // GET_CONFIG of Options.ConfigSize bytes
}

func u64(v uint64) []byte { return ne.AppendUint64(nil, v) }

// VringState encodes struct vhost_vring_state.
func VringState(index int, num uint32) []byte {
	return ne.AppendUint32(ne.AppendUint32(nil, uint32(index)), num)
}

// VringFile encodes the SET_VRING_KICK/CALL/ERR payload.
func VringFile(index int, noFD bool) []byte {
	v := uint64(index)
	if noFD {
		v |= vringNoFD
	}
	return u64(v)
}

// VringAddr encodes struct vhost_vring_addr (desc, used, avail order).
func VringAddr(index int, flags uint32, desc, used, avail, log uint64) []byte {
	b := ne.AppendUint32(ne.AppendUint32(nil, uint32(index)), flags)
	for _, v := range []uint64{desc, used, avail, log} {
		b = ne.AppendUint64(b, v)
	}
	return b
}

// MemRegion encodes VhostUserMemoryRegion.
func MemRegion(b []byte, gpa, size, qva, mmapOffset uint64) []byte {
	for _, v := range []uint64{gpa, size, qva, mmapOffset} {
		b = ne.AppendUint64(b, v)
	}
	return b
}

// MemTable encodes a SET_MEM_TABLE payload for rs.
func MemTable(rs []Region) []byte {
	b := ne.AppendUint32(ne.AppendUint32(nil, uint32(len(rs))), 0)
	for _, r := range rs {
		b = MemRegion(b, uint64(r.GPA), r.Size, r.QVA, r.Offset)
	}
	return b
}

// MemRegMsg encodes an ADD_MEM_REG or REM_MEM_REG payload.
func MemRegMsg(r Region) []byte {
	return MemRegion(u64(0), uint64(r.GPA), r.Size, r.QVA, r.Offset)
}

// ConfigMsg encodes VhostUserConfig.
func ConfigMsg(offset, flags uint32, data []byte) []byte {
	b := ne.AppendUint32(nil, offset)
	b = ne.AppendUint32(b, uint32(len(data)))
	b = ne.AppendUint32(b, flags)
	return append(b, data...)
}

// Init sends what QEMU 7.2 sends when it realizes vhost-user-blk-pci (as
// recorded from QEMU 7.2.22): GET_FEATURES, GET_PROTOCOL_FEATURES,
// SET_PROTOCOL_FEATURES, GET_QUEUE_NUM (with MQ), GET_MAX_MEM_SLOTS (with
// CONFIGURE_MEM_SLOTS), SET_BACKEND_REQ_FD (with BACKEND_REQ), SET_OWNER, GET_FEATURES, SET_VRING_CALL and
// SET_VRING_ERR for every queue, and GET_CONFIG.
func (f *Frontend) Init() (Info, error) {
	var in Info
	var err error
	if in.Features, err = f.GetU64(vhostuser.GetFeatures); err != nil {
		return in, err
	}
	if in.Features&vhostuser.FeatureProtocolFeatures == 0 {
		return in, fmt.Errorf("vhostusertest: back end lacks PROTOCOL_FEATURES (features %#x)", in.Features)
	}
	pf, err := f.GetU64(vhostuser.GetProtocolFeatures)
	if err != nil {
		return in, err
	}
	if f.opts.ProtocolFeatures != 0 {
		pf &= f.opts.ProtocolFeatures
	}
	if err := f.Set(vhostuser.SetProtocolFeatures, false, u64(pf)); err != nil {
		return in, err
	}
	f.protocol, in.ProtocolFeatures = pf, pf
	in.QueueNum = 1
	if pf&vhostuser.ProtocolFeatureMQ != 0 {
		if in.QueueNum, err = f.GetU64(vhostuser.GetQueueNum); err != nil {
			return in, err
		}
	}
	if in.QueueNum < uint64(f.opts.NumQueues) {
		return in, fmt.Errorf("vhostusertest: back end has %d queues, want %d", in.QueueNum, f.opts.NumQueues)
	}
	if pf&vhostuser.ProtocolFeatureConfigureMemSlots != 0 {
		if in.MaxMemSlots, err = f.GetU64(vhostuser.GetMaxMemSlots); err != nil {
			return in, err
		}
	}
	if pf&vhostuser.ProtocolFeatureBackendReq != 0 {
		if err := f.setupBackendReq(); err != nil {
			return in, err
		}
	}
	if err := f.Set(vhostuser.SetOwner, false, nil); err != nil {
		return in, err
	}
	if _, err := f.GetU64(vhostuser.GetFeatures); err != nil {
		return in, err
	}
	for q := range f.opts.NumQueues {
		if err := f.Set(vhostuser.SetVringCall, false, VringFile(q, false), f.calls[q]); err != nil {
			return in, err
		}
		if err := f.Set(vhostuser.SetVringErr, false, VringFile(q, false), f.errs[q]); err != nil {
			return in, err
		}
	}
	if pf&vhostuser.ProtocolFeatureConfig != 0 {
		if in.Config, err = f.GetConfig(0, f.opts.ConfigSize); err != nil {
			return in, err
		}
	}
	return in, nil
}

// GetConfig reads size bytes of the device configuration at offset.
func (f *Frontend) GetConfig(offset uint32, size int) ([]byte, error) {
	b, err := f.Get(vhostuser.GetConfig, ConfigMsg(offset, 0, make([]byte, size)))
	if err != nil {
		return nil, err
	}
	if len(b) != 12+size {
		return nil, fmt.Errorf("vhostusertest: GET_CONFIG reply of %d bytes, want %d", len(b), 12+size)
	}
	return b[12:], nil
}

// SetConfig writes data to the device configuration at offset, as QEMU
// does when the guest toggles the write cache.
func (f *Frontend) SetConfig(offset uint32, data []byte) error {
	return f.Set(vhostuser.SetConfig, true, ConfigMsg(offset, 0, data))
}

// SetMemory describes guest RAM to the back end: with CONFIGURE_MEM_SLOTS
// one ADD_MEM_REG per region not yet sent in this session (QEMU 7.2 keeps
// such a shadow table and sends only differences), else one SET_MEM_TABLE.
func (f *Frontend) SetMemory() error {
	if f.protocol&vhostuser.ProtocolFeatureConfigureMemSlots != 0 {
		for ; f.added < len(f.regions); f.added++ {
			if err := f.Set(vhostuser.AddMemReg, true, MemRegMsg(f.regions[f.added]), f.memFD); err != nil {
				return err
			}
		}
		return nil
	}
	fds := make([]int, len(f.regions))
	for i := range fds {
		fds[i] = f.memFD
	}
	return f.Set(vhostuser.SetMemTable, true, MemTable(f.regions), fds...)
}

// Start sends what QEMU 7.2 sends when the guest sets DRIVER_OK:
// SET_FEATURES (features plus PROTOCOL_FEATURES), with an inflight area
// (Options.InflightQueueSize) GET_INFLIGHT_FD unless one is kept and
// SET_INFLIGHT_FD, SET_VRING_CALL for every
// queue, SET_FEATURES again, the memory table (SetMemory), SetupRing for
// every ring the guest set up, and SET_VRING_ENABLE(1) for every queue.
func (f *Frontend) Start(features uint64, rings ...*Ring) error {
	set := u64(features | vhostuser.FeatureProtocolFeatures)
	if err := f.Set(vhostuser.SetFeatures, false, set); err != nil {
		return err
	}
	if err := f.startInflight(); err != nil {
		return err
	}
	for q := range f.opts.NumQueues {
		if err := f.Set(vhostuser.SetVringCall, false, VringFile(q, false), f.calls[q]); err != nil {
			return err
		}
	}
	if err := f.Set(vhostuser.SetFeatures, false, set); err != nil {
		return err
	}
	if err := f.SetMemory(); err != nil {
		return err
	}
	for _, r := range rings {
		if err := f.SetupRing(r); err != nil {
			return err
		}
	}
	for q := range f.opts.NumQueues {
		if err := f.EnableRing(q, true); err != nil {
			return err
		}
	}
	return nil
}

// SetupRing sends SET_VRING_NUM, _BASE, _ADDR and _KICK for r.
func (f *Frontend) SetupRing(r *Ring) error {
	desc, err1 := f.QVA(r.Desc)
	used, err2 := f.QVA(r.Used)
	avail, err3 := f.QVA(r.Avail)
	if err1 != nil || err2 != nil || err3 != nil {
		return fmt.Errorf("vhostusertest: ring %d not in guest RAM", r.Index)
	}
	steps := []struct {
		req     vhostuser.Request
		payload []byte
		fds     []int
	}{
		{vhostuser.SetVringNum, VringState(r.Index, uint32(r.Size)), nil},
		{vhostuser.SetVringBase, VringState(r.Index, uint32(r.base)), nil},
		{vhostuser.SetVringAddr, VringAddr(r.Index, 0, desc, used, avail, 0), nil},
		{vhostuser.SetVringKick, VringFile(r.Index, false), []int{f.kicks[r.Index]}},
	}
	for _, s := range steps {
		if err := f.Set(s.req, false, s.payload, s.fds...); err != nil {
			return err
		}
	}
	return nil
}

// EnableRing sends SET_VRING_ENABLE and waits until the back end has
// processed it: with REPLY_ACK through the acknowledgement, else through a
// GET_FEATURES round trip (QEMU's vhost_user_write_sync).
func (f *Frontend) EnableRing(index int, on bool) error {
	var v uint32
	if on {
		v = 1
	}
	if err := f.Set(vhostuser.SetVringEnable, true, VringState(index, v)); err != nil {
		return err
	}
	if f.protocol&vhostuser.ProtocolFeatureReplyAck == 0 {
		_, err := f.GetU64(vhostuser.GetFeatures)
		return err
	}
	return nil
}

// Stop sends what QEMU 7.2 sends when it stops the device:
// SET_VRING_ENABLE(0) for every queue, then GET_VRING_BASE for every ring
// the guest set up. It returns the bases and keeps them as the rings'
// bases for the next Start.
func (f *Frontend) Stop(rings ...*Ring) ([]uint16, error) {
	for q := range f.opts.NumQueues {
		if err := f.EnableRing(q, false); err != nil {
			return nil, err
		}
	}
	bases := make([]uint16, len(rings))
	for i, r := range rings {
		base, err := f.GetVringBase(r.Index)
		if err != nil {
			return nil, err
		}
		bases[i], r.base = base, base
	}
	return bases, nil
}

// GetVringBase sends GET_VRING_BASE and returns the next available index.
func (f *Frontend) GetVringBase(index int) (uint16, error) {
	b, err := f.Get(vhostuser.GetVringBase, VringState(index, 0))
	if err != nil {
		return 0, err
	}
	if len(b) != 8 || ne.Uint32(b) != uint32(index) || ne.Uint32(b[4:]) > 0xffff {
		return 0, fmt.Errorf("vhostusertest: GET_VRING_BASE reply %x", b)
	}
	return uint16(ne.Uint32(b[4:])), nil
}
