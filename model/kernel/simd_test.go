//go:build goexperiment.simd && amd64

package kernel

import (
	"math/rand/v2"
	"testing"
)

// TestPortableFallback runs the pure-Go path of the SIMD build, the one a
// CPU without AVX2/FMA takes.
func TestPortableFallback(t *testing.T) {
	saved := useSIMD
	useSIMD = false
	defer func() { useSIMD = saved }()
	rng := rand.New(rand.NewPCG(23, 24))
	for _, s := range modelShapes {
		newOperands(rng, s, 1, 1.3, -0.4).check(t)
	}
	TestVectorHelpers(t)
	TestAddRowVectorSumRows(t)
	TestElementwise(t)
	TestAdamStep(t)
	TestExpTanh(t)
}
