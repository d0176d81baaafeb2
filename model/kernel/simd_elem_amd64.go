//go:build goexperiment.simd && amd64

package kernel

import (
	"math"
	"simd/archsimd"
	"unsafe"
)

// AVX2 versions of the element-wise kernels (elem.go). Each finishes its
// vector part with ClearAVXUpperBits before any scalar code (see useSIMD),
// uses the same operations in the same order as the scalar code (no FMA),
// and so gives the same bits.

// vec returns s[i:i+4] as an array pointer (bounds checked).
func vec(s []float64, i int) *[4]float64 { return (*[4]float64)(s[i : i+4]) }

func addBiasReLU(x []float64, m, n int, b []float64) {
	if !useSIMD {
		addBiasReLUGeneric(x, m, n, b)
		return
	}
	n4 := n &^ 3
	var zero archsimd.Float64x4
	if n4 > 0 {
		for i := 0; i < m; i++ {
			row := x[i*n : i*n+n]
			for j := 0; j < n4; j += 4 {
				v := archsimd.LoadFloat64x4(vec(row, j))
				if b != nil {
					v = v.Add(archsimd.LoadFloat64x4(vec(b, j)))
				}
				zero.Merge(v, v.Less(zero)).Store(vec(row, j))
			}
		}
		archsimd.ClearAVXUpperBits()
	}
	if n4 == n {
		return
	}
	for i := 0; i < m; i++ {
		row := x[i*n : i*n+n]
		for j := n4; j < n; j++ {
			z := row[j]
			if b != nil {
				z += b[j]
			}
			if z < 0 {
				z = 0
			}
			row[j] = z
		}
	}
}

// ptr4 returns the address of s[i] as an array pointer without a bounds
// check: callers have checked the slices' lengths.
func ptr4(s unsafe.Pointer, i int) *[4]float64 { return (*[4]float64)(unsafe.Add(s, i*8)) }

// actGradSIMD is reluGrad (relu true) or tanhGrad for m x n matrices. It
// works on blocks of 16 columns (then 4) over all rows, keeping the
// block's column sums in registers; each column is still summed row by
// row, as SumRows does. The columns past the last multiple of 4 are left
// to the caller.
//
//go:nocheckptr
func actGradSIMD(relu bool, dz, gy, y []float64, m, n int, sum []float64) {
	n4 := n &^ 3
	pd, pg, py := unsafe.Pointer(&dz[0]), unsafe.Pointer(&gy[0]), unsafe.Pointer(&y[0])
	var ps unsafe.Pointer
	if sum != nil {
		ps = unsafe.Pointer(&sum[0])
	}
	var zero archsimd.Float64x4
	one := archsimd.BroadcastFloat64x4(1)
	grad := func(o int) archsimd.Float64x4 {
		v := archsimd.LoadFloat64x4(ptr4(py, o))
		g := archsimd.LoadFloat64x4(ptr4(pg, o))
		if relu {
			return g.Masked(v.Greater(zero))
		}
		return g.Mul(one.Sub(v.Mul(v)))
	}
	j := 0
	for ; j+16 <= n4; j += 16 {
		var s0, s1, s2, s3 archsimd.Float64x4
		if ps != nil {
			s0 = archsimd.LoadFloat64x4(ptr4(ps, j))
			s1 = archsimd.LoadFloat64x4(ptr4(ps, j+4))
			s2 = archsimd.LoadFloat64x4(ptr4(ps, j+8))
			s3 = archsimd.LoadFloat64x4(ptr4(ps, j+12))
		}
		for i := 0; i < m; i++ {
			o := i*n + j
			d0 := grad(o)
			d1 := grad(o + 4)
			d2 := grad(o + 8)
			d3 := grad(o + 12)
			d0.Store(ptr4(pd, o))
			d1.Store(ptr4(pd, o+4))
			d2.Store(ptr4(pd, o+8))
			d3.Store(ptr4(pd, o+12))
			s0, s1, s2, s3 = s0.Add(d0), s1.Add(d1), s2.Add(d2), s3.Add(d3)
		}
		if ps != nil {
			s0.Store(ptr4(ps, j))
			s1.Store(ptr4(ps, j+4))
			s2.Store(ptr4(ps, j+8))
			s3.Store(ptr4(ps, j+12))
		}
	}
	for ; j < n4; j += 4 {
		var s0 archsimd.Float64x4
		if ps != nil {
			s0 = archsimd.LoadFloat64x4(ptr4(ps, j))
		}
		for i := 0; i < m; i++ {
			o := i*n + j
			d0 := grad(o)
			d0.Store(ptr4(pd, o))
			s0 = s0.Add(d0)
		}
		if ps != nil {
			s0.Store(ptr4(ps, j))
		}
	}
	archsimd.ClearAVXUpperBits()
}

func addBiasReLUAxpy(x []float64, m, n int, b []float64, alpha float64, s []float64) {
	if !useSIMD || n%4 != 0 {
		addBiasReLU(x, m, n, b)
		axpy(alpha, x, s)
		return
	}
	var zero archsimd.Float64x4
	va := archsimd.BroadcastFloat64x4(alpha)
	px, ps := unsafe.Pointer(&x[0]), unsafe.Pointer(&s[0])
	var pb unsafe.Pointer
	if b != nil {
		pb = unsafe.Pointer(&b[0])
	}
	for i := 0; i < m; i++ {
		o := i * n
		for j := 0; j < n; j += 4 {
			v := archsimd.LoadFloat64x4(ptr4(px, o+j))
			if pb != nil {
				v = v.Add(archsimd.LoadFloat64x4(ptr4(pb, j)))
			}
			v = zero.Merge(v, v.Less(zero))
			v.Store(ptr4(px, o+j))
			v.MulAdd(va, archsimd.LoadFloat64x4(ptr4(ps, o+j))).Store(ptr4(ps, o+j))
		}
	}
	archsimd.ClearAVXUpperBits()
}

func reluGrad(dz, gy, y []float64, m, n int, sum []float64) {
	if !useSIMD {
		reluGradGeneric(dz, gy, y, m, n, sum)
		return
	}
	n4 := n &^ 3
	if n4 > 0 {
		actGradSIMD(true, dz, gy, y, m, n, sum)
	}
	if n4 == n {
		return
	}
	for i := 0; i < m; i++ {
		for j := i*n + n4; j < i*n+n; j++ {
			d := 0.0
			if y[j] > 0 {
				d = gy[j]
			}
			dz[j] = d
			if sum != nil {
				sum[j-i*n] += d
			}
		}
	}
}

func tanhGrad(dz, gy, y []float64, m, n int, sum []float64) {
	if !useSIMD {
		tanhGradGeneric(dz, gy, y, m, n, sum)
		return
	}
	n4 := n &^ 3
	if n4 > 0 {
		actGradSIMD(false, dz, gy, y, m, n, sum)
	}
	if n4 == n {
		return
	}
	for i := 0; i < m; i++ {
		for j := i*n + n4; j < i*n+n; j++ {
			v := y[j]
			d := gy[j] * (1 - v*v)
			dz[j] = d
			if sum != nil {
				sum[j-i*n] += d
			}
		}
	}
}

func adamStep(a *Adam, p, g, m, v []float64) {
	if !useSIMD {
		adamGeneric(a, p, g, m, v, 0)
		return
	}
	n := len(p)
	n4 := n &^ 3
	if n4 > 0 {
		b1 := archsimd.BroadcastFloat64x4(a.Beta1)
		b2 := archsimd.BroadcastFloat64x4(a.Beta2)
		c1 := archsimd.BroadcastFloat64x4(1 - a.Beta1)
		c2 := archsimd.BroadcastFloat64x4(1 - a.Beta2)
		sc := archsimd.BroadcastFloat64x4(a.Scale)
		ss := archsimd.BroadcastFloat64x4(a.StepSize)
		sb := archsimd.BroadcastFloat64x4(a.SqrtBias2)
		ep := archsimd.BroadcastFloat64x4(a.Eps)
		for i := 0; i < n4; i += 4 {
			gi := sc.Mul(archsimd.LoadFloat64x4(vec(g, i)))
			mi := b1.Mul(archsimd.LoadFloat64x4(vec(m, i))).Add(c1.Mul(gi))
			vi := b2.Mul(archsimd.LoadFloat64x4(vec(v, i))).Add(c2.Mul(gi).Mul(gi))
			mi.Store(vec(m, i))
			vi.Store(vec(v, i))
			step := ss.Mul(mi).Div(vi.Sqrt().Div(sb).Add(ep))
			archsimd.LoadFloat64x4(vec(p, i)).Sub(step).Store(vec(p, i))
		}
		archsimd.ClearAVXUpperBits()
	}
	adamGeneric(a, p, g, m, v, n4)
}

// Constants of the vectorised exponential: e^x = 2^n · e^r with
// n = round(x/ln 2) and r = x - n ln 2 (Cody-Waite, ln 2 split in two),
// |r| <= ln(2)/2, and e^r by its Taylor polynomial of degree 13 (truncation
// error below 1e-17). 2^n is built in the exponent bits in two factors, so
// that n from -1075 to 1024 (denormal results, and results near the
// overflow threshold) needs no special case.
const (
	expLog2e     = 1.44269504088896338700e+00
	expLn2Hi     = 6.93147180369123816490e-01
	expLn2Lo     = 1.90821492927058770002e-10
	expMagic     = 6755399441055744.0 // 1.5·2^52: adding it leaves an integer in the low mantissa bits
	expOverflow  = 7.09782712893383973096e+02
	expUnderflow = -7.45133219101941108420e+02
)

// expK holds the exponential's constants broadcast to four lanes (loads
// from memory are cheaper than broadcasting scalars on every call).
var expK = [...][4]float64{
	kLog2e: bc(expLog2e), kNegLn2Hi: bc(-expLn2Hi), kNegLn2Lo: bc(-expLn2Lo),
	kLo: bc(expUnderflow - 1), kHi: bc(expOverflow + 1), kUnder: bc(expUnderflow), kOver: bc(expOverflow),
	kHalf: bc(0.5), kMagic: bc(expMagic), kInf: bc(math.Inf(1)), kOne: bc(1), kTwo: bc(2),
	// 1/k! for k = 13 down to 2.
	kT13: bc(1.0 / 6227020800), kT12: bc(1.0 / 479001600), kT11: bc(1.0 / 39916800), kT10: bc(1.0 / 3628800),
	kT9: bc(1.0 / 362880), kT8: bc(1.0 / 40320), kT7: bc(1.0 / 5040), kT6: bc(1.0 / 720),
	kT5: bc(1.0 / 120), kT4: bc(1.0 / 24), kT3: bc(1.0 / 6), kT2: bc(1.0 / 2),
	kTanhMax: bc(22),
}

const (
	kLog2e = iota
	kNegLn2Hi
	kNegLn2Lo
	kLo
	kHi
	kUnder
	kOver
	kHalf
	kMagic
	kInf
	kOne
	kTwo
	kT13
	kT12
	kT11
	kT10
	kT9
	kT8
	kT7
	kT6
	kT5
	kT4
	kT3
	kT2
	kTanhMax
)

func bc(v float64) [4]float64 { return [4]float64{v, v, v, v} }

func kv(i int) archsimd.Float64x4 { return archsimd.LoadFloat64x4(&expK[i]) }

// expVec is e^x for four values.
func expVec(x archsimd.Float64x4) archsimd.Float64x4 {
	xc := x.Max(kv(kLo)).Min(kv(kHi))
	n := xc.Mul(kv(kLog2e)).RoundToEven()
	r := n.MulAdd(kv(kNegLn2Hi), xc)
	r = n.MulAdd(kv(kNegLn2Lo), r)
	// Estrin's scheme: the polynomial's terms in pairs, then pairs of
	// pairs, ..., a dependency chain of 5 operations instead of 13.
	r2 := r.Mul(r)
	r4 := r2.Mul(r2)
	q0 := r.MulAdd(kv(kOne), kv(kOne))
	q1 := r.MulAdd(kv(kT3), kv(kT2))
	q2 := r.MulAdd(kv(kT5), kv(kT4))
	q3 := r.MulAdd(kv(kT7), kv(kT6))
	q4 := r.MulAdd(kv(kT9), kv(kT8))
	q5 := r.MulAdd(kv(kT11), kv(kT10))
	q6 := r.MulAdd(kv(kT13), kv(kT12))
	s0 := q1.MulAdd(r2, q0)
	s1 := q3.MulAdd(r2, q2)
	s2 := q5.MulAdd(r2, q4)
	t0 := s1.MulAdd(r4, s0)
	t1 := q6.MulAdd(r4, s2)
	p := t1.MulAdd(r4.Mul(r4), t0)
	n1 := n.Mul(kv(kHalf)).Floor()
	n2 := n.Sub(n1)
	bias := archsimd.BroadcastUint64x4(1023)
	f1 := n1.Add(kv(kMagic)).AsUint64x4().Add(bias).ShiftAllLeft(52).AsFloat64x4()
	f2 := n2.Add(kv(kMagic)).AsUint64x4().Add(bias).ShiftAllLeft(52).AsFloat64x4()
	y := p.Mul(f1).Mul(f2)
	var zero archsimd.Float64x4
	y = y.Merge(kv(kInf), x.LessEqual(kv(kOver)))
	y = y.Merge(zero, x.GreaterEqual(kv(kUnder)))
	return y.Merge(x, x.Equal(x)) // x itself where x is NaN
}

func expSlice(x []float64) {
	if !useSIMD {
		expGeneric(x)
		return
	}
	n := len(x)
	n4 := n &^ 3
	for i := 0; i < n4; i += 4 {
		expVec(archsimd.LoadFloat64x4(vec(x, i))).Store(vec(x, i))
	}
	if n4 < n {
		var t [4]float64
		copy(t[:], x[n4:])
		expVec(archsimd.LoadFloat64x4(&t)).Store(&t)
		copy(x[n4:], t[:n-n4])
	}
	archsimd.ClearAVXUpperBits()
}

// tanhVec is tanh(x) for four values: with z = min(|x|, 22) and
// m = e^{2z} - 1, tanh|x| = m/(m+2), x's sign put back. e^{2z} - 1 is
// evaluated as 2^n (e^r - 1) + (2^n - 1) with the exponential's reduction
// and polynomial minus its constant term, so it keeps full relative
// accuracy as z goes to 0; tanh(22) rounds to 1.
func tanhVec(x archsimd.Float64x4) archsimd.Float64x4 {
	sign := archsimd.BroadcastUint64x4(1 << 63)
	xb := x.AsUint64x4()
	z := xb.AndNot(sign).AsFloat64x4().Min(kv(kTanhMax))
	u := z.Add(z)
	n := u.Mul(kv(kLog2e)).RoundToEven()
	r := n.MulAdd(kv(kNegLn2Hi), u)
	r = n.MulAdd(kv(kNegLn2Lo), r)
	r2 := r.Mul(r)
	r4 := r2.Mul(r2)
	q1 := r.MulAdd(kv(kT3), kv(kT2))
	q2 := r.MulAdd(kv(kT5), kv(kT4))
	q3 := r.MulAdd(kv(kT7), kv(kT6))
	q4 := r.MulAdd(kv(kT9), kv(kT8))
	q5 := r.MulAdd(kv(kT11), kv(kT10))
	q6 := r.MulAdd(kv(kT13), kv(kT12))
	s0 := q1.MulAdd(r2, r)
	s1 := q3.MulAdd(r2, q2)
	s2 := q5.MulAdd(r2, q4)
	t0 := s1.MulAdd(r4, s0)
	t1 := q6.MulAdd(r4, s2)
	p1 := t1.MulAdd(r4.Mul(r4), t0) // e^r - 1
	f := n.Add(kv(kMagic)).AsUint64x4().Add(archsimd.BroadcastUint64x4(1023)).ShiftAllLeft(52).AsFloat64x4()
	m := p1.MulAdd(f, f.Sub(kv(kOne)))
	t := m.Div(m.Add(kv(kTwo)))
	t = t.AsUint64x4().Or(xb.And(sign)).AsFloat64x4()
	return t.Merge(x, x.Equal(x)) // x itself where x is NaN
}

func tanhSlice(x []float64) {
	if !useSIMD {
		tanhGeneric(x)
		return
	}
	n := len(x)
	n4 := n &^ 3
	for i := 0; i < n4; i += 4 {
		tanhVec(archsimd.LoadFloat64x4(vec(x, i))).Store(vec(x, i))
	}
	if n4 < n {
		var t [4]float64
		copy(t[:], x[n4:])
		tanhVec(archsimd.LoadFloat64x4(&t)).Store(&t)
		copy(x[n4:], t[:n-n4])
	}
	archsimd.ClearAVXUpperBits()
}
