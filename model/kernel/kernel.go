// Package kernel holds the dense float64 numeric kernels the networks are
// built from: matrix products and element-wise helpers on row-major
// slices. They are the hot loops of training and inference; everything
// above them (gorgonia ops, networks, PPO) calls them instead of looping
// itself.
package kernel

// Gemm computes C = alpha*op(A)*op(B) + beta*C for row-major matrices,
// where op(X) is X or its transpose. op(A) is m x k, op(B) is k x n and C is
// m x n; lda, ldb and ldc are the row strides of A, B and C as stored.
// beta == 0 overwrites C without reading it (so C may hold NaNs).
func Gemm(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	gemmRef(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// gemmRef is the reference implementation: plain loops, no blocking.
func gemmRef(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	for i := 0; i < m; i++ {
		ci := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(ci)
		} else if beta != 1 {
			for j := range ci {
				ci[j] *= beta
			}
		}
		for p := 0; p < k; p++ {
			var av float64
			if transA {
				av = a[p*lda+i]
			} else {
				av = a[i*lda+p]
			}
			av *= alpha
			if av == 0 {
				continue
			}
			if transB {
				for j := range ci {
					ci[j] += av * b[j*ldb+p]
				}
			} else {
				bp := b[p*ldb : p*ldb+n]
				for j := range ci {
					ci[j] += av * bp[j]
				}
			}
		}
	}
}

// AddRowVector adds v (length n) to every row of the m x n matrix x.
func AddRowVector(x []float64, m, n int, v []float64) {
	for i := 0; i < m; i++ {
		row := x[i*n : i*n+n]
		for j, vj := range v[:n] {
			row[j] += vj
		}
	}
}

// SumRows adds the rows of the m x n matrix x into out (length n):
// out += sum_i x[i, :]. It is the bias gradient of a dense layer.
func SumRows(out []float64, x []float64, m, n int) {
	for i := 0; i < m; i++ {
		row := x[i*n : i*n+n]
		for j, xj := range row {
			out[j] += xj
		}
	}
}
