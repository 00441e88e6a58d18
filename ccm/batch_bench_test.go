package ccm

import (
	"math/rand/v2"
	"testing"
)

// benchLanes measures one implementation on the engine's common work: a
// 64 KiB request of 512-byte sectors (eight calls of 16 lanes) with the
// default M = 16, N = 8, i.e. a 512-byte header per sector. It reports
// GB/s of payload.
func benchLanes(b *testing.B, kern laneKernel, keyLen int, seal bool) {
	const (
		sector  = 512
		hdrLen  = 512
		request = 64 << 10
	)
	k, err := newKernelKey(make([]byte, keyLen))
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(4, 5))
	var ls [request / sector / laneMax]lanes
	for c := range ls {
		lc := newLaneCase(r, laneGeometry{hdrLen, sector}, laneMax, true)
		ls[c] = lanes{n: laneMax, hdr: lc.hdr, src: lc.src, dst: lc.dst, ctr: lc.ctr}
	}
	b.SetBytes(request)
	b.ResetTimer()
	for b.Loop() {
		for c := range ls {
			if seal {
				kern.seal(k, &ls[c], hdrLen, sector)
			} else {
				kern.open(k, &ls[c], hdrLen, sector)
			}
		}
	}
	b.ReportMetric(float64(request)*float64(b.N)/float64(b.Elapsed().Nanoseconds()), "GB/s")
}

// benchKernel runs benchLanes with AES-128 and AES-256 for the named
// implementation, which must exist on this machine.
func benchKernel(b *testing.B, name string, seal bool) {
	for _, kern := range laneKernels() {
		if kern.name != name {
			continue
		}
		b.Run("AES128", func(b *testing.B) { benchLanes(b, kern, 16, seal) })
		b.Run("AES256", func(b *testing.B) { benchLanes(b, kern, 32, seal) })
		return
	}
	b.Skipf("no %s implementation in this build on this CPU", name)
}

func BenchmarkLanesSealGeneric(b *testing.B) { benchKernel(b, "generic", true) }
func BenchmarkLanesOpenGeneric(b *testing.B) { benchKernel(b, "generic", false) }
func BenchmarkLanesSealAESNI(b *testing.B)   { benchKernel(b, "aesni", true) }
func BenchmarkLanesOpenAESNI(b *testing.B)   { benchKernel(b, "aesni", false) }
func BenchmarkLanesSealVAES(b *testing.B)    { benchKernel(b, "vaes", true) }
func BenchmarkLanesOpenVAES(b *testing.B)    { benchKernel(b, "vaes", false) }
