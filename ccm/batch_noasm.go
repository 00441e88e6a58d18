//go:build !amd64 || purego

package ccm

// laneKernels lists the implementations this build can run, slowest
// first. Without assembly (other architectures, or the purego build tag)
// only the generic one exists.
func laneKernels() []laneKernel { return []laneKernel{genericKernel} }
