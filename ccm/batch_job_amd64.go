//go:build amd64 && !purego

package ccm

import "encoding/binary"

// jobScratch is the size of the scratch buffer the lanes past lanes.n use:
// enough for the header or the payload of the largest sector (P = 4096
// gives a 4112-byte header).
const jobScratch = 4096 + 32

// laneJob is what the assembly kernels work on. One step of a kernel does,
// for every lane i of its width:
//
//	mac[i] = E(mac[i] XOR macIn[i][off:off+16])
//
// and, when the step has a counter c:
//
//	ctrOut[i][off:off+16] = ctrIn[i][off:off+16] XOR E(a0[i] + c)
//
// where a0[i] + c is A_c: A_0 with c in its last two bytes (big-endian;
// A_0 has zeros there, so the kernels XOR c in), and off advances by 16
// per step. A kernel reads the inputs of a step
// before it writes the step's ctrOut blocks, and after it wrote those of
// the steps before; so ctrOut[i] may be ctrIn[i] or macIn[i], and a MAC
// input may be a block an earlier step wrote.
//
// The kernels process a multiple of their width of lanes; lanes past
// lanes.n point at a scratch buffer, so they read and write nothing of the
// caller's.
type laneJob struct {
	mac    [laneMax][16]byte
	a0     [laneMax][16]byte
	macIn  [laneMax]*byte
	ctrIn  [laneMax]*byte
	ctrOut [laneMax]*byte
	zero   [16]byte
}

// asmKernel names an assembly kernel. The schedules below call it through
// a switch rather than a function value, so that the job stays on the
// stack.
type asmKernel int

const (
	asmAESNI asmKernel = iota // stepsAESNI: 8 lanes per call
	asmVAES                   // stepsVAES: 16 lanes per call
)

// width is the number of lanes one kernel call processes.
func (a asmKernel) width() int {
	if a == asmVAES {
		return laneMax
	}
	return 8
}

// run runs steps of the kernel over lanes 0..n-1 of j (ctr < 0: MAC only).
func (a asmKernel) run(k *kernelKey, j *laneJob, n, steps, ctr int) {
	if a == asmVAES {
		stepsVAES(&k.enc[0], k.rounds, j, steps, ctr)
		return
	}
	for first := 0; first < n; first += 8 {
		stepsAESNI(&k.enc[0], k.rounds, j, first, steps, ctr)
	}
}

// fits reports whether the assembly schedules handle this geometry: the
// header holds B0 and at least one more block, so the keystream can run
// ahead of the MAC while opening, and the scratch covers a lane.
func fits(l *lanes, hdrLen, dataLen int) bool {
	return hdrLen >= 32 && hdrLen <= jobScratch && dataLen <= jobScratch &&
		hdrLen%16 == 0 && dataLen%16 == 0 && l.n > 0
}

// sealLanesJob is sealLanes on an assembly kernel.
func sealLanesJob(a asmKernel, k *kernelKey, l *lanes, hdrLen, dataLen int) {
	if !fits(l, hdrLen, dataLen) {
		sealLanesGeneric(k, l, hdrLen, dataLen)
		return
	}
	checkLanes(l, hdrLen, dataLen)
	if l.n%a.width() == 0 {
		sealSchedule(a, k, l, hdrLen/16, dataLen/16, nil)
		return
	}
	sealScratch(a, k, l, hdrLen, dataLen)
}

// sealScratch is sealSchedule with a scratch buffer for the lanes past
// l.n, kept out of sealLanesJob so that full calls do not clear it.
func sealScratch(a asmKernel, k *kernelKey, l *lanes, hdrLen, dataLen int) {
	var scratch [jobScratch]byte
	sealSchedule(a, k, l, hdrLen/16, dataLen/16, &scratch[0])
}

// openLanesJob is openLanes on an assembly kernel.
func openLanesJob(a asmKernel, k *kernelKey, l *lanes, hdrLen, dataLen int) {
	if !fits(l, hdrLen, dataLen) {
		openLanesGeneric(k, l, hdrLen, dataLen)
		return
	}
	checkLanes(l, hdrLen, dataLen)
	if l.n%a.width() == 0 {
		openSchedule(a, k, l, hdrLen/16, dataLen/16, nil)
		return
	}
	openScratch(a, k, l, hdrLen, dataLen)
}

// openScratch is openSchedule with a scratch buffer for the lanes past
// l.n.
func openScratch(a asmKernel, k *kernelKey, l *lanes, hdrLen, dataLen int) {
	var scratch [jobScratch]byte
	openSchedule(a, k, l, hdrLen/16, dataLen/16, &scratch[0])
}

// sealSchedule seals the lanes of l, h header and d payload blocks each,
// on an assembly kernel; lanes past l.n use fake. The CBC-MAC runs over the
// header, then over the payload block by block beside its encryption, so
// each payload block is read before dst, which may alias src, is written.
//
// The job is a local variable and every pointer is stored into it
// directly, never through a pointer, so that it stays on the stack.
func sealSchedule(a asmKernel, k *kernelKey, l *lanes, h, d int, fake *byte) {
	var j laneJob
	j.a0 = l.ctr
	w, n := a.width(), l.n
	j.macIn = lanePtrs(&l.hdr, n, w, 0, fake)
	a.run(k, &j, n, h-1, -1)
	j.macIn = lanePtrs(&l.hdr, n, w, (h-1)*16, fake)
	j.ctrIn = fixedPtrs(n, w, &j.zero[0], &j.zero[0])
	j.ctrOut = tagPtrs(l, w, fake)
	a.run(k, &j, n, 1, 0)
	if d > 0 {
		j.macIn = lanePtrs(&l.src, n, w, 0, fake)
		j.ctrIn = j.macIn
		j.ctrOut = lanePtrs(&l.dst, n, w, 0, fake)
		a.run(k, &j, n, d, 1)
	}
	finishTags(l, &j.mac)
}

// openSchedule opens the lanes of l, h header and d payload blocks each,
// on an assembly kernel; lanes past l.n use fake. The keystream runs h-1
// blocks ahead of the CBC-MAC: step s decrypts payload block s into dst
// while the MAC takes header block s, and the MAC reads the plaintext back
// from dst once the header is done. Every step then has independent MAC
// and CTR work, and dst is written before it is read.
func openSchedule(a asmKernel, k *kernelKey, l *lanes, h, d int, fake *byte) {
	var j laneJob
	j.a0 = l.ctr
	w, n := a.width(), l.n
	j.macIn = lanePtrs(&l.hdr, n, w, 0, fake)
	j.ctrIn = fixedPtrs(n, w, &j.zero[0], &j.zero[0])
	j.ctrOut = tagPtrs(l, w, fake)
	a.run(k, &j, n, 1, 0)
	c := min(h-1, d) // steps with a header block and a payload block
	if c > 0 {
		j.macIn = lanePtrs(&l.hdr, n, w, 16, fake)
		j.ctrIn = lanePtrs(&l.src, n, w, 0, fake)
		j.ctrOut = lanePtrs(&l.dst, n, w, 0, fake)
		a.run(k, &j, n, c, 1)
	}
	if h-1 > d {
		j.macIn = lanePtrs(&l.hdr, n, w, (1+d)*16, fake)
		a.run(k, &j, n, h-1-d, -1)
		if d > 0 {
			j.macIn = lanePtrs(&l.dst, n, w, 0, fake)
			a.run(k, &j, n, d, -1)
		}
	} else {
		// Payload blocks c+1..d are decrypted while the MAC takes the
		// first d-c plaintext blocks, each written at least one step
		// earlier (c >= 1).
		r := d - c
		if r > 0 {
			j.macIn = lanePtrs(&l.dst, n, w, 0, fake)
			j.ctrIn = lanePtrs(&l.src, n, w, c*16, fake)
			j.ctrOut = lanePtrs(&l.dst, n, w, c*16, fake)
			a.run(k, &j, n, r, c+1)
		}
		j.macIn = lanePtrs(&l.dst, n, w, r*16, fake)
		a.run(k, &j, n, c, -1)
	}
	finishTags(l, &j.mac)
}

// lanePtrs returns &bufs[i][off] for the lanes i < n and fake for the
// lanes from n up to a multiple of width.
func lanePtrs(bufs *[laneMax][]byte, n, width, off int, fake *byte) [laneMax]*byte {
	var p [laneMax]*byte
	for i := 0; i < n; i++ {
		p[i] = &bufs[i][off]
	}
	for i := n; i < roundUp(n, width); i++ {
		p[i] = fake
	}
	return p
}

// fixedPtrs returns real for the lanes i < n and fake for the lanes from n
// up to a multiple of width.
func fixedPtrs(n, width int, real, fake *byte) [laneMax]*byte {
	var p [laneMax]*byte
	for i := 0; i < n; i++ {
		p[i] = real
	}
	for i := n; i < roundUp(n, width); i++ {
		p[i] = fake
	}
	return p
}

// tagPtrs returns &l.tag[i][0] for the lanes i < l.n and fake for the
// lanes from l.n up to a multiple of width.
func tagPtrs(l *lanes, width int, fake *byte) [laneMax]*byte {
	var p [laneMax]*byte
	for i := 0; i < l.n; i++ {
		p[i] = &l.tag[i][0]
	}
	for i := l.n; i < roundUp(l.n, width); i++ {
		p[i] = fake
	}
	return p
}

// finishTags XORs the CBC-MACs into the E(A_0) blocks in l.tag.
func finishTags(l *lanes, mac *[laneMax][16]byte) {
	for i := 0; i < l.n; i++ {
		t, m := &l.tag[i], &mac[i]
		binary.NativeEndian.PutUint64(t[0:], binary.NativeEndian.Uint64(t[0:])^binary.NativeEndian.Uint64(m[0:]))
		binary.NativeEndian.PutUint64(t[8:], binary.NativeEndian.Uint64(t[8:])^binary.NativeEndian.Uint64(m[8:]))
	}
}

// roundUp rounds n up to a multiple of m.
func roundUp(n, m int) int { return (n + m - 1) / m * m }
