//go:build amd64 && !purego

package ccm

import "golang.org/x/sys/cpu"

// The assembly kernels advance every lane of a laneJob by a number of
// steps; laneJob (batch_job_amd64.go) says what a step is.

// stepsAESNI runs steps over the 8 lanes first..first+7 of j with AES-NI
// on 128-bit registers: 8 CBC-MACs, and if ctr >= 0 also 8 CTR blocks per
// step, the counter of the first step being ctr.
//
//go:noescape
func stepsAESNI(rk *byte, rounds int, j *laneJob, first, steps, ctr int)

// stepsVAES runs steps over all 16 lanes of j with VAES on AVX-512
// registers (four lanes per register); ctr as for stepsAESNI.
//
//go:noescape
func stepsVAES(rk *byte, rounds int, j *laneJob, steps, ctr int)

// aesniKernel needs only AES-NI (and the SSE2 every amd64 CPU has).
var aesniKernel = laneKernel{
	name: "aesni",
	seal: func(k *kernelKey, l *lanes, hdrLen, dataLen int) { sealLanesJob(asmAESNI, k, l, hdrLen, dataLen) },
	open: func(k *kernelKey, l *lanes, hdrLen, dataLen int) { openLanesJob(asmAESNI, k, l, hdrLen, dataLen) },
}

// vaesKernel needs AVX-512F and VAES.
var vaesKernel = laneKernel{
	name: "vaes",
	seal: func(k *kernelKey, l *lanes, hdrLen, dataLen int) { sealLanesJob(asmVAES, k, l, hdrLen, dataLen) },
	open: func(k *kernelKey, l *lanes, hdrLen, dataLen int) { openLanesJob(asmVAES, k, l, hdrLen, dataLen) },
}

// laneKernels lists the implementations this CPU can run, slowest first.
func laneKernels() []laneKernel {
	ks := []laneKernel{genericKernel}
	if cpu.X86.HasAES {
		ks = append(ks, aesniKernel)
	}
	if cpu.X86.HasAVX512F && cpu.X86.HasAVX512VAES {
		ks = append(ks, vaesKernel)
	}
	return ks
}
