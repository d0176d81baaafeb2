// Package kernel holds the dense float64 numeric kernels the networks are
// built from: matrix products and element-wise helpers on row-major
// slices (bias and activation passes and their derivatives, exp and tanh,
// the Adam step). They are the hot loops of training and inference; everything
// above them (gorgonia ops, networks, PPO) calls them instead of looping
// itself.
//
// # Implementations
//
// Built with GOEXPERIMENT=simd on amd64 (the repository's Makefile sets it),
// Gemm and the vector helpers use AVX2/FMA micro-kernels written with Go
// 1.26's experimental simd/archsimd package, provided the CPU has AVX2 and
// FMA (checked once at start-up). Otherwise they use portable pure-Go
// kernels. Both are single-threaded, allocate nothing in steady state (Gemm
// borrows packing space from a sync.Pool) and are safe for concurrent use.
//
// # Numerics
//
// Results are deterministic: the same inputs give bit-identical outputs on
// every call, independent of timing, goroutines or the alignment of the
// slices. Each element of a product is accumulated as one sequential chain
// over k (fused multiply-adds in the SIMD build), so a row of C does not
// depend on which other rows are computed in the same call: a minibatch
// product gives the same bits as the per-sample products. Results may
// differ from a naive triple loop in the last bits, and the SIMD and
// pure-Go builds differ from each other in the same way. Unlike the
// reference BLAS, zeros in A are not skipped, so NaNs and infinities in B
// propagate through them (alpha == 0 does skip A and B entirely).
//
// The element-wise kernels (elem.go) use no fused multiply-adds except in
// Exp and Tanh, so their SIMD and pure-Go versions agree bit for bit; Exp
// and Tanh are vectorised approximations in the SIMD build (a few units in
// the last place from math.Exp and math.Tanh, which the pure-Go build
// uses), element-wise, so a value's result does not depend on its
// neighbours or its position in the slice.
package kernel

import (
	"fmt"
	"sync"
)

// Accelerated reports whether Gemm and the vector helpers use the
// AVX2/FMA SIMD kernels (GOEXPERIMENT=simd build on a CPU that supports
// them) rather than the portable pure-Go ones.
func Accelerated() bool { return useSIMD }

// Gemm computes C = alpha*op(A)*op(B) + beta*C for row-major matrices,
// where op(X) is X or its transpose. op(A) is m x k, op(B) is k x n and C is
// m x n; lda, ldb and ldc are the row strides of A, B and C as stored.
// beta == 0 overwrites C without reading it (so C may hold NaNs).
//
// A stored matrix with more than one row needs a stride of at least its
// row length, and every slice must hold all rows it is said to have; Gemm
// panics otherwise. C must not overlap A or B.
func Gemm(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("kernel: Gemm: negative dimension m=%d n=%d k=%d", m, n, k))
	}
	if m == 0 || n == 0 {
		return
	}
	checkMatrix("C", c, m, n, ldc)
	if k == 0 || alpha == 0 {
		scaleMatrix(beta, c, m, n, ldc)
		return
	}
	if transA {
		checkMatrix("A", a, k, m, lda)
	} else {
		checkMatrix("A", a, m, k, lda)
	}
	if transB {
		checkMatrix("B", b, n, k, ldb)
	} else {
		checkMatrix("B", b, k, n, ldb)
	}
	if useSIMD {
		gemmSIMD(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	} else {
		gemmGeneric(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	}
}

// checkMatrix panics unless x can hold a rows x cols matrix with row
// stride ld. The kernels rely on it: they index without bounds checks.
func checkMatrix(name string, x []float64, rows, cols, ld int) {
	if rows > 1 && ld < cols {
		panic(fmt.Sprintf("kernel: Gemm: stride of %s is %d, less than its row length %d", name, ld, cols))
	}
	if need := (rows-1)*ld + cols; len(x) < need {
		panic(fmt.Sprintf("kernel: Gemm: %s has %d elements, a %dx%d matrix with stride %d needs %d", name, len(x), rows, cols, ld, need))
	}
}

// scaleMatrix sets C = beta*C; beta == 0 clears C without reading it.
func scaleMatrix(beta float64, c []float64, m, n, ldc int) {
	if beta == 1 {
		return
	}
	for i := 0; i < m; i++ {
		ci := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(ci)
			continue
		}
		for j := range ci {
			ci[j] *= beta
		}
	}
}

// Packing space for Gemm, reused across calls and goroutines.
var scratchPool = sync.Pool{New: func() any { return new([]float64) }}

// getScratch returns a slice of n float64s (contents undefined) and the
// handle to give back to putScratch.
func getScratch(n int) (*[]float64, []float64) {
	p := scratchPool.Get().(*[]float64)
	if cap(*p) < n {
		*p = make([]float64, n)
	}
	return p, (*p)[:n]
}

func putScratch(p *[]float64) { scratchPool.Put(p) }

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
	if m <= 0 || n <= 0 {
		return
	}
	v = v[:n]
	x = x[:m*n]
	for i := 0; i < m; i++ {
		addTo(x[i*n:i*n+n], v)
	}
}

// SumRows adds the rows of the m x n matrix x into out (length n):
// out += sum_i x[i, :]. It is the bias gradient of a dense layer.
func SumRows(out []float64, x []float64, m, n int) {
	if m <= 0 || n <= 0 {
		return
	}
	out = out[:n]
	x = x[:m*n]
	for i := 0; i < m; i++ {
		addTo(out, x[i*n:i*n+n])
	}
}

// Axpy computes y += alpha*x over the first len(x) elements of y (y must
// be at least as long as x).
func Axpy(alpha float64, x, y []float64) {
	if len(x) == 0 || alpha == 0 {
		return
	}
	axpy(alpha, x, y[:len(x)])
}

// Dot returns the inner product of x and y, which must have the same
// length. The summation order is fixed for a given length.
func Dot(x, y []float64) float64 {
	if len(x) != len(y) {
		panic(fmt.Sprintf("kernel: Dot: lengths %d and %d differ", len(x), len(y)))
	}
	return dot(x, y)
}

// Scale multiplies every element of x by alpha in place.
func Scale(alpha float64, x []float64) {
	if alpha == 1 {
		return
	}
	scale(alpha, x)
}
