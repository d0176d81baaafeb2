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

func addBiasReLU(x []float64, m, n int, b []float64) { addBiasReLUGeneric(x, m, n, b) }
func reluGrad(dz, gy, y []float64, m, n int, sum []float64) {
	reluGradGeneric(dz, gy, y, m, n, sum)
}
func tanhGrad(dz, gy, y []float64, m, n int, sum []float64) {
	tanhGradGeneric(dz, gy, y, m, n, sum)
}
func adamStep(a *Adam, p, g, m, v []float64) { adamGeneric(a, p, g, m, v, 0) }
func expSlice(x []float64)                   { expGeneric(x) }
func tanhSlice(x []float64)                  { tanhGeneric(x) }

func addBiasReLUAxpy(x []float64, m, n int, b []float64, alpha float64, s []float64) {
	addBiasReLUGeneric(x, m, n, b)
	axpyGeneric(alpha, x, s)
}
