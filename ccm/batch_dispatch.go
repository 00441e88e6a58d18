package ccm

// laneKernel is one implementation of the lane kernels (see lanes).
type laneKernel struct {
	name string
	seal func(k *kernelKey, l *lanes, hdrLen, dataLen int)
	open func(k *kernelKey, l *lanes, hdrLen, dataLen int)
}

// genericKernel interleaves the lanes in Go on top of crypto/aes; it runs
// everywhere.
var genericKernel = laneKernel{name: "generic", seal: sealLanesGeneric, open: openLanesGeneric}

// activeKernel is the implementation sealLanes and openLanes use: the last
// (fastest) of laneKernels, chosen once from the CPU's features.
var activeKernel = bestKernel()

// bestKernel returns the last of laneKernels.
func bestKernel() laneKernel {
	ks := laneKernels()
	return ks[len(ks)-1]
}

// sealLanes and openLanes are the lane kernels the sector code calls.
func sealLanes(k *kernelKey, l *lanes, hdrLen, dataLen int) {
	activeKernel.seal(k, l, hdrLen, dataLen)
}

func openLanes(k *kernelKey, l *lanes, hdrLen, dataLen int) {
	activeKernel.open(k, l, hdrLen, dataLen)
}
