//go:build goexperiment.simd && amd64

package kernel

//go:generate go run gen_simd.go

import (
	"math"
	"simd/archsimd"
	"unsafe"
)

// useSIMD selects the AVX2/FMA kernels. archsimd compiles them for any
// amd64 CPU, so the features are checked at run time.
//
// Every function here that uses 256-bit registers ends its vector part
// with archsimd.ClearAVXUpperBits (VZEROUPPER) before any scalar code:
// Go's scalar floating point is legacy-SSE encoded and runs much slower
// while the upper halves of the YMM registers are dirty.
var useSIMD = archsimd.X86.AVX2() && archsimd.X86.FMA()

// Epilogue modes of the kernels: how the sums S = op(A)*op(B) are stored.
const (
	epStore   = iota // C = S            (alpha 1, beta 0; C not read)
	epScale          // C = alpha*S      (beta 0; C not read)
	epAdd            // C = S + C        (alpha 1, beta 1)
	epAxpy           // C = alpha*S + C  (beta 1)
	epGeneral        // C = alpha*S + beta*C
)

// epi carries alpha and beta into the kernels, each broadcast to a vector,
// and the epilogue mode as an integer: the kernels contain no scalar
// floating point (see gen_simd.go). The special modes give the same bits
// as the general formula fma(C, beta, S*alpha) would.
type epi struct {
	alpha, beta [4]float64
	mode        int
}

func newEpi(alpha, beta float64) epi {
	e := epi{alpha: [4]float64{alpha, alpha, alpha, alpha}, beta: [4]float64{beta, beta, beta, beta}}
	switch {
	case beta == 0 && alpha == 1:
		e.mode = epStore
	case beta == 0:
		e.mode = epScale
	case beta == 1 && alpha == 1:
		e.mode = epAdd
	case beta == 1:
		e.mode = epAxpy
	default:
		e.mode = epGeneral
	}
	return e
}

// gemmSIMD is Gemm for checked arguments with m, n, k > 0 and alpha != 0.
//
// op(A) is processed in panels of four rows, packed (transposed) into
// scratch so that a column of the panel is one vector. op(B) is read in
// place when it is B, and packed into strips of eight columns (each a
// contiguous k x 8 block) when it is Bᵀ; packing a plain B as well was
// measured not to pay off for the model's shapes. Each panel is multiplied
// with the 8-column strips of op(B) by mk4x8, which keeps the 4x8 block of
// C in registers for the whole k loop and applies alpha and beta on the
// way out; a last strip of fewer than eight columns goes through mk4x4 and
// mk4x4m, which masks its loads and stores. A single row (m == 1, or the
// last of m = 4q+1 rows) goes through gemmRow and the one-row kernels
// mk1x*, which broadcast the A value instead.
func gemmSIMD(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	ep := newEpi(alpha, beta)
	if m == 1 && !transB {
		// Vector-matrix product: no packing, no scratch.
		gemmRow(transA, n, k, a, lda, plainB(b, ldb), c, &ep)
		return
	}
	need := 4 * k
	strips := (n + 7) / 8
	if transB {
		need += strips * 8 * k
	}
	handle, s := getScratch(need)
	defer putScratch(handle)
	ap := s[:4*k]
	bm := plainB(b, ldb)
	if transB {
		bs := s[4*k : 4*k+strips*8*k]
		packStripsT(b, ldb, n, k, bs)
		bm = bmat{unsafe.Pointer(&bs[0]), 64, uintptr(k) * 64}
	}

	m4 := m &^ 3
	if m-m4 >= 2 {
		m4 = m // the last 2 or 3 rows go through a zero-padded panel
	}
	for i := 0; i < m4; i += 4 {
		rows := min(4, m-i)
		packPanel(transA, a, lda, i, rows, k, ap)
		gemmPanel(n, k, ap, bm, c[i*ldc:], ldc, rows, &ep)
	}
	if m4 < m {
		if transA {
			gemmRow(true, n, k, a[m4:], lda, bm, c[m4*ldc:], &ep)
		} else {
			gemmRow(false, n, k, a[m4*lda:], lda, bm, c[m4*ldc:], &ep)
		}
	}
}

// bmat locates op(B) for the kernels: element (p, j) is at
// base + (j/8)*strip + p*row + (j%8)*8 bytes. B as stored (stride ldb) has
// row = 8*ldb, strip = 64; the packed strips have row = 64, strip = 64*k.
type bmat struct {
	base       unsafe.Pointer
	row, strip uintptr
}

func plainB(b []float64, ldb int) bmat {
	return bmat{unsafe.Pointer(&b[0]), uintptr(ldb) * 8, 64}
}

// at returns the address of op(B)[0][j], j a multiple of 4.
func (bm bmat) at(j int) unsafe.Pointer {
	return unsafe.Add(bm.base, uintptr(j/8)*bm.strip+uintptr(j%8)*8)
}

// colMask[w] selects the first w lanes of a vector.
var colMask = [4][4]int64{{}, {-1}, {-1, -1}, {-1, -1, -1}}

// gemmPanel computes rows (1..4) rows of C = alpha*ap*op(B) + beta*C from
// the packed panel ap.
func gemmPanel(n, k int, ap []float64, bm bmat, c []float64, ldc, rows int, ep *epi) {
	pp := unsafe.Pointer(&ap[0])
	cp, ldcb := unsafe.Pointer(&c[0]), uintptr(ldc)*8
	j := 0
	for ; j+8 <= n; j += 8 {
		mk4x8(k, pp, bm.at(j), bm.row, unsafe.Add(cp, j*8), ldcb, rows, ep)
	}
	if j+4 <= n {
		mk4x4(k, pp, bm.at(j), bm.row, unsafe.Add(cp, j*8), ldcb, rows, ep)
		j += 4
	}
	if j < n {
		mk4x4m(k, pp, bm.at(j), bm.row, unsafe.Add(cp, j*8), ldcb, rows, &colMask[n-j], ep)
	}
}

// gemmRow computes the single row c = alpha*x*op(B) + beta*c, where x is
// a[0:k] (transA false) or a[0], a[lda], ... (transA true).
func gemmRow(transA bool, n, k int, a []float64, lda int, bm bmat, c []float64, ep *epi) {
	ar, inca := unsafe.Pointer(&a[0]), uintptr(8)
	if transA {
		inca = uintptr(lda) * 8
	}
	cp := unsafe.Pointer(&c[0])
	j := 0
	if bm.strip == 64 {
		// Columns are contiguous: use the wide kernels.
		for ; j+32 <= n; j += 32 {
			mk1x32(k, ar, inca, bm.at(j), bm.row, unsafe.Add(cp, j*8), ep)
		}
		if j+16 <= n {
			mk1x16(k, ar, inca, bm.at(j), bm.row, unsafe.Add(cp, j*8), ep)
			j += 16
		}
	}
	for ; j+8 <= n; j += 8 {
		mk1x8(k, ar, inca, bm.at(j), bm.row, unsafe.Add(cp, j*8), ep)
	}
	if j+4 <= n {
		mk1x4(k, ar, inca, bm.at(j), bm.row, unsafe.Add(cp, j*8), ep)
		j += 4
	}
	if j < n {
		mk1x4m(k, ar, inca, bm.at(j), bm.row, unsafe.Add(cp, j*8), &colMask[n-j], ep)
	}
}

// packStripsT copies op(B) = Bᵀ (B stored n x k with stride ldb) into
// strips of eight columns: bs[s*8k + 8p + q] = op(B)[p][8s+q]. Slots past
// column n are left as they are; the kernels never read them.
func packStripsT(b []float64, ldb, n, k int, bs []float64) {
	n4, k4 := n&^3, k&^3
	if k4 > 0 {
		for j := 0; j < n4; j += 4 {
			transpose4(unsafe.Pointer(&b[j*ldb]), uintptr(ldb)*8, unsafe.Pointer(&bs[(j/8)*8*k+j%8]), 64, k4)
		}
	}
	for j := range n {
		row := b[j*ldb : j*ldb+k]
		strip := bs[(j/8)*8*k+j%8:]
		p0 := k4
		if j >= n4 {
			p0 = 0
		}
		for p := p0; p < k; p++ {
			strip[8*p] = row[p]
		}
	}
}

// packPanel packs rows i..i+rows-1 (rows <= 4) of op(A) into ap as a k x 4
// row-major panel, ap[4p+r] = op(A)[i+r][p], padding missing rows with
// zeros.
func packPanel(transA bool, a []float64, lda, i, rows, k int, ap []float64) {
	ap = ap[:4*k]
	switch {
	case transA && rows == 4:
		// The four values of a panel column are adjacent in A.
		copyRows4(unsafe.Pointer(&a[i]), uintptr(lda)*8, unsafe.Pointer(&ap[0]), k)
	case transA:
		for p := range k {
			src := a[p*lda+i : p*lda+i+rows]
			q := ap[4*p : 4*p+4 : 4*p+4]
			q[0], q[1], q[2], q[3] = 0, 0, 0, 0
			for r := range rows {
				q[r] = src[r]
			}
		}
	case rows == 4:
		k4 := k &^ 3
		if k4 > 0 {
			transpose4(unsafe.Pointer(&a[i*lda]), uintptr(lda)*8, unsafe.Pointer(&ap[0]), 32, k4)
		}
		for p := k4; p < k; p++ {
			q := ap[4*p : 4*p+4]
			q[0] = a[i*lda+p]
			q[1] = a[(i+1)*lda+p]
			q[2] = a[(i+2)*lda+p]
			q[3] = a[(i+3)*lda+p]
		}
	default:
		clear(ap)
		for r := range rows {
			row := a[(i+r)*lda : (i+r)*lda+k]
			for p, v := range row {
				ap[4*p+r] = v
			}
		}
	}
}

// copyRows4 copies k rows of four values, srcStride bytes apart, into the
// contiguous k x 4 block at dst.
//
//go:nocheckptr
func copyRows4(src unsafe.Pointer, srcStride uintptr, dst unsafe.Pointer, k int) {
	for range k {
		archsimd.LoadFloat64x4((*[4]float64)(src)).Store((*[4]float64)(dst))
		src = unsafe.Add(src, srcStride)
		dst = unsafe.Add(dst, 32)
	}
	archsimd.ClearAVXUpperBits()
}

// transpose4 transposes a 4 x k block (k a multiple of 4; rows srcStride
// bytes apart) into a k x 4 block whose rows are dstStride bytes apart.
//
//go:nocheckptr
func transpose4(src unsafe.Pointer, srcStride uintptr, dst unsafe.Pointer, dstStride uintptr, k int) {
	s1 := unsafe.Add(src, srcStride)
	s2 := unsafe.Add(s1, srcStride)
	s3 := unsafe.Add(s2, srcStride)
	for p := 0; p < k; p += 4 {
		r0 := archsimd.LoadFloat64x4((*[4]float64)(unsafe.Add(src, p*8)))
		r1 := archsimd.LoadFloat64x4((*[4]float64)(unsafe.Add(s1, p*8)))
		t0 := r0.SelectFromPairGrouped(0, 2, r1)
		t1 := r0.SelectFromPairGrouped(1, 3, r1)
		r2 := archsimd.LoadFloat64x4((*[4]float64)(unsafe.Add(s2, p*8)))
		r3 := archsimd.LoadFloat64x4((*[4]float64)(unsafe.Add(s3, p*8)))
		t2 := r2.SelectFromPairGrouped(0, 2, r3)
		t3 := r2.SelectFromPairGrouped(1, 3, r3)
		t0.Select128FromPair(0, 2, t2).Store((*[4]float64)(dst))
		t1.Select128FromPair(0, 2, t3).Store((*[4]float64)(unsafe.Add(dst, dstStride)))
		t0.Select128FromPair(1, 3, t2).Store((*[4]float64)(unsafe.Add(dst, 2*dstStride)))
		t1.Select128FromPair(1, 3, t3).Store((*[4]float64)(unsafe.Add(dst, 3*dstStride)))
		dst = unsafe.Add(dst, 4*dstStride)
	}
	archsimd.ClearAVXUpperBits()
}

// addTo computes dst += src (same length).
func addTo(dst, src []float64) {
	if !useSIMD {
		addToGeneric(dst, src)
		return
	}
	n := len(dst)
	src = src[:n]
	i := 0
	for ; i+8 <= n; i += 8 {
		d0 := (*[4]float64)(dst[i : i+4])
		d1 := (*[4]float64)(dst[i+4 : i+8])
		archsimd.LoadFloat64x4(d0).Add(archsimd.LoadFloat64x4((*[4]float64)(src[i : i+4]))).Store(d0)
		archsimd.LoadFloat64x4(d1).Add(archsimd.LoadFloat64x4((*[4]float64)(src[i+4 : i+8]))).Store(d1)
	}
	if i+4 <= n {
		d := (*[4]float64)(dst[i : i+4])
		archsimd.LoadFloat64x4(d).Add(archsimd.LoadFloat64x4((*[4]float64)(src[i : i+4]))).Store(d)
		i += 4
	}
	archsimd.ClearAVXUpperBits()
	for ; i < n; i++ {
		dst[i] += src[i]
	}
}

// axpy computes y += alpha*x (same length).
func axpy(alpha float64, x, y []float64) {
	if !useSIMD {
		axpyGeneric(alpha, x, y)
		return
	}
	n := len(x)
	y = y[:n]
	va := archsimd.BroadcastFloat64x4(alpha)
	i := 0
	for ; i+8 <= n; i += 8 {
		y0 := (*[4]float64)(y[i : i+4])
		y1 := (*[4]float64)(y[i+4 : i+8])
		archsimd.LoadFloat64x4((*[4]float64)(x[i:i+4])).MulAdd(va, archsimd.LoadFloat64x4(y0)).Store(y0)
		archsimd.LoadFloat64x4((*[4]float64)(x[i+4:i+8])).MulAdd(va, archsimd.LoadFloat64x4(y1)).Store(y1)
	}
	if i+4 <= n {
		y0 := (*[4]float64)(y[i : i+4])
		archsimd.LoadFloat64x4((*[4]float64)(x[i:i+4])).MulAdd(va, archsimd.LoadFloat64x4(y0)).Store(y0)
		i += 4
	}
	archsimd.ClearAVXUpperBits()
	for ; i < n; i++ {
		y[i] = math.FMA(alpha, x[i], y[i])
	}
}

// dot returns x·y (same length): four vector partial sums over blocks of
// 16, combined in a fixed order, then the tail.
func dot(x, y []float64) float64 {
	if !useSIMD {
		return dotGeneric(x, y)
	}
	n := len(x)
	y = y[:n]
	var s0, s1, s2, s3 archsimd.Float64x4
	i := 0
	for ; i+16 <= n; i += 16 {
		s0 = archsimd.LoadFloat64x4((*[4]float64)(x[i:i+4])).MulAdd(archsimd.LoadFloat64x4((*[4]float64)(y[i:i+4])), s0)
		s1 = archsimd.LoadFloat64x4((*[4]float64)(x[i+4:i+8])).MulAdd(archsimd.LoadFloat64x4((*[4]float64)(y[i+4:i+8])), s1)
		s2 = archsimd.LoadFloat64x4((*[4]float64)(x[i+8:i+12])).MulAdd(archsimd.LoadFloat64x4((*[4]float64)(y[i+8:i+12])), s2)
		s3 = archsimd.LoadFloat64x4((*[4]float64)(x[i+12:i+16])).MulAdd(archsimd.LoadFloat64x4((*[4]float64)(y[i+12:i+16])), s3)
	}
	for ; i+4 <= n; i += 4 {
		s0 = archsimd.LoadFloat64x4((*[4]float64)(x[i:i+4])).MulAdd(archsimd.LoadFloat64x4((*[4]float64)(y[i:i+4])), s0)
	}
	var lanes [4]float64
	s0.Add(s1).Add(s2.Add(s3)).Store(&lanes)
	archsimd.ClearAVXUpperBits()
	sum := (lanes[0] + lanes[1]) + (lanes[2] + lanes[3])
	for ; i < n; i++ {
		sum = math.FMA(x[i], y[i], sum)
	}
	return sum
}

// scale computes x *= alpha.
func scale(alpha float64, x []float64) {
	if !useSIMD {
		scaleGeneric(alpha, x)
		return
	}
	n := len(x)
	va := archsimd.BroadcastFloat64x4(alpha)
	i := 0
	for ; i+4 <= n; i += 4 {
		p := (*[4]float64)(x[i : i+4])
		archsimd.LoadFloat64x4(p).Mul(va).Store(p)
	}
	archsimd.ClearAVXUpperBits()
	for ; i < n; i++ {
		x[i] *= alpha
	}
}
