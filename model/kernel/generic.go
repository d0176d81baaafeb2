package kernel

// Portable pure-Go kernels: used when the package is built without
// GOEXPERIMENT=simd, off amd64, or on a CPU without AVX2/FMA.
//
// gemmGeneric keeps a 2x4 block of C in eight scalar registers over the
// whole k loop. Rows of op(A) are read in place when A is not transposed
// and copied into a contiguous row when it is. op(B) is copied into panels
// of four columns (k x 4, contiguous) when it is Bᵀ or when enough rows
// of C will read it; otherwise it is read in place. The inner loops have
// no bounds checks (go build -gcflags=-d=ssa/check_bce reports none in
// dot2x4 and dot1x4).

// genericPackRows is the number of rows of C from which gemmGeneric copies
// a plain B into panels.
const genericPackRows = 16

// gemmGeneric is Gemm for checked arguments with m, n, k > 0 and
// alpha != 0.
func gemmGeneric(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	pack := transB || m >= genericPackRows
	panels := (n + 3) / 4
	need := 0
	if pack {
		need += panels * 4 * k
	}
	if transA {
		need += 2 * k
	}
	var s []float64
	if need > 0 {
		var handle *[]float64
		handle, s = getScratch(need)
		defer putScratch(handle)
	}
	// panel(j) returns op(B)[:, j:j+4] and its row stride.
	var bp []float64
	if pack {
		bp = s[:panels*4*k]
		packPanelsGeneric(transB, b, ldb, n, k, bp)
	}
	var pa0, pa1 []float64
	if transA {
		pa0, pa1 = s[len(s)-2*k:len(s)-k], s[len(s)-k:]
	}
	row := func(i int, dst []float64) []float64 {
		if !transA {
			return a[i*lda : i*lda+k]
		}
		for p := range dst {
			dst[p] = a[p*lda+i]
		}
		return dst
	}

	n4 := n &^ 3
	for i := 0; i < m; i += 2 {
		two := i+1 < m
		a0 := row(i, pa0)
		a1 := a0
		if two {
			a1 = row(i+1, pa1)
		}
		c0 := c[i*ldc : i*ldc+n]
		c1 := c0
		if two {
			c1 = c[(i+1)*ldc : (i+1)*ldc+n]
		}
		for j := 0; j < n4; j += 4 {
			var bj []float64
			var ld int
			if pack {
				bj, ld = bp[j*k:j*k+4*k], 4
			} else {
				bj, ld = b[j:(k-1)*ldb+j+4], ldb
			}
			d0 := c0[j : j+4 : j+4]
			if !two {
				s0, s1, s2, s3 := dot1x4(a0, bj, ld)
				d0[0] = epilogueGeneric(s0, alpha, beta, d0[0])
				d0[1] = epilogueGeneric(s1, alpha, beta, d0[1])
				d0[2] = epilogueGeneric(s2, alpha, beta, d0[2])
				d0[3] = epilogueGeneric(s3, alpha, beta, d0[3])
				continue
			}
			s00, s01, s02, s03, s10, s11, s12, s13 := dot2x4(a0, a1, bj, ld)
			d0[0] = epilogueGeneric(s00, alpha, beta, d0[0])
			d0[1] = epilogueGeneric(s01, alpha, beta, d0[1])
			d0[2] = epilogueGeneric(s02, alpha, beta, d0[2])
			d0[3] = epilogueGeneric(s03, alpha, beta, d0[3])
			d1 := c1[j : j+4 : j+4]
			d1[0] = epilogueGeneric(s10, alpha, beta, d1[0])
			d1[1] = epilogueGeneric(s11, alpha, beta, d1[1])
			d1[2] = epilogueGeneric(s12, alpha, beta, d1[2])
			d1[3] = epilogueGeneric(s13, alpha, beta, d1[3])
		}
		// Columns past the last multiple of four.
		for j := n4; j < n; j++ {
			var s0, s1 float64
			if pack {
				panel := bp[n4*k : n4*k+4*k]
				for p, x := range a0 {
					v := panel[4*p+j-n4]
					s0 += x * v
					s1 += a1[p] * v
				}
			} else {
				for p, x := range a0 {
					v := b[p*ldb+j]
					s0 += x * v
					s1 += a1[p] * v
				}
			}
			c0[j] = epilogueGeneric(s0, alpha, beta, c0[j])
			if two {
				c1[j] = epilogueGeneric(s1, alpha, beta, c1[j])
			}
		}
	}
}

// packPanelsGeneric copies op(B) (B, or Bᵀ if transB) into panels of four
// columns: bp[j*k + 4p + q] = op(B)[p][j+q] for j a multiple of 4, with
// zeros past column n.
func packPanelsGeneric(transB bool, b []float64, ldb, n, k int, bp []float64) {
	n4 := n &^ 3
	if n4 < n {
		clear(bp[n4*k:])
	}
	if transB {
		for j := range n {
			src := b[j*ldb : j*ldb+k]
			panel := bp[(j&^3)*k : (j&^3)*k+4*k]
			for p, v := range src {
				panel[4*p+j&3] = v
			}
		}
		return
	}
	for p := range k {
		src := b[p*ldb : p*ldb+n]
		for j := 0; j < n4; j += 4 {
			r := src[j : j+4 : j+4]
			q := bp[j*k+4*p : j*k+4*p+4 : j*k+4*p+4]
			q[0], q[1], q[2], q[3] = r[0], r[1], r[2], r[3]
		}
		for j := n4; j < n; j++ {
			bp[n4*k+4*p+j-n4] = src[j]
		}
	}
}

// epilogueGeneric returns alpha*t + beta*c; beta == 0 ignores c.
func epilogueGeneric(t, alpha, beta, c float64) float64 {
	switch beta {
	case 0:
		return t * alpha
	case 1:
		return t*alpha + c
	default:
		return c*beta + t*alpha
	}
}

// dot2x4 returns the 2x4 block s_rq = sum_p a_r[p]*b[p*ldb+q], with
// k = len(a0) <= len(a1) rows of b.
func dot2x4(a0, a1, b []float64, ldb int) (s00, s01, s02, s03, s10, s11, s12, s13 float64) {
	a1 = a1[:len(a0)]
	off := 0
	for p, x0 := range a0 {
		x1 := a1[p]
		q := b[off : off+4 : off+4]
		b0, b1, b2, b3 := q[0], q[1], q[2], q[3]
		s00 += x0 * b0
		s01 += x0 * b1
		s02 += x0 * b2
		s03 += x0 * b3
		s10 += x1 * b0
		s11 += x1 * b1
		s12 += x1 * b2
		s13 += x1 * b3
		off += ldb
	}
	return
}

// dot1x4 returns s_q = sum_p a[p]*b[p*ldb+q], q < 4.
func dot1x4(a, b []float64, ldb int) (s0, s1, s2, s3 float64) {
	off := 0
	for _, x := range a {
		q := b[off : off+4 : off+4]
		s0 += x * q[0]
		s1 += x * q[1]
		s2 += x * q[2]
		s3 += x * q[3]
		off += ldb
	}
	return
}

func addToGeneric(dst, src []float64) {
	src = src[:len(dst)]
	for i := range dst {
		dst[i] += src[i]
	}
}

func axpyGeneric(alpha float64, x, y []float64) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] += alpha * v
	}
}

// dotGeneric sums in four interleaved partial sums combined in a fixed
// order.
func dotGeneric(x, y []float64) float64 {
	y = y[:len(x)]
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		xs := x[i : i+4 : i+4]
		ys := y[i : i+4 : i+4]
		s0 += xs[0] * ys[0]
		s1 += xs[1] * ys[1]
		s2 += xs[2] * ys[2]
		s3 += xs[3] * ys[3]
	}
	sum := (s0 + s1) + (s2 + s3)
	for ; i < len(x); i++ {
		sum += x[i] * y[i]
	}
	return sum
}

func scaleGeneric(alpha float64, x []float64) {
	for i := range x {
		x[i] *= alpha
	}
}
