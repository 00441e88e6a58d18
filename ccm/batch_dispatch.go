package ccm

// sealLanes and openLanes are the lane kernels the sector code calls.
func sealLanes(k *kernelKey, l *lanes, hdrLen, dataLen int) { sealLanesGeneric(k, l, hdrLen, dataLen) }

func openLanes(k *kernelKey, l *lanes, hdrLen, dataLen int) { openLanesGeneric(k, l, hdrLen, dataLen) }
