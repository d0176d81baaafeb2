//go:build !(goexperiment.simd && amd64)

package kernel

// Without GOEXPERIMENT=simd on amd64 only the pure-Go kernels exist.
const useSIMD = false

func gemmSIMD(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	panic("kernel: SIMD kernels not built")
}

func addTo(dst, src []float64)           { addToGeneric(dst, src) }
func axpy(alpha float64, x, y []float64) { axpyGeneric(alpha, x, y) }
func dot(x, y []float64) float64         { return dotGeneric(x, y) }
func scale(alpha float64, x []float64)   { scaleGeneric(alpha, x) }
