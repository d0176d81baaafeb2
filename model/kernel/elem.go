package kernel

import (
	"fmt"
	"math"
)

// Element-wise kernels of the layers' activations and of the optimiser.
// Like Gemm they have AVX2 versions in the GOEXPERIMENT=simd build; those
// use no fused multiply-adds, so both builds give the same bits here.

// AddBiasReLU sets x[i][j] = ReLU(x[i][j] + b[j]) for the m x n matrix x,
// in one pass; b may be nil (no bias). ReLU(z) is 0 for z < 0 and z
// otherwise, so NaN stays NaN.
func AddBiasReLU(x []float64, m, n int, b []float64) {
	if m <= 0 || n <= 0 {
		return
	}
	x = x[:m*n]
	if b != nil {
		b = b[:n]
	}
	addBiasReLU(x, m, n, b)
}

// AddBiasReLUAxpy is AddBiasReLU(x, m, n, b) followed by Axpy(alpha, x,
// s) (s has m*n values), in one pass, with the same results.
func AddBiasReLUAxpy(x []float64, m, n int, b []float64, alpha float64, s []float64) {
	if m <= 0 || n <= 0 {
		return
	}
	checkLens("AddBiasReLUAxpy", m*n, x, s)
	if b != nil {
		b = b[:n]
	}
	addBiasReLUAxpy(x[:m*n], m, n, b, alpha, s[:m*n])
}

// ReLUGrad sets dz = gy where y > 0 and 0 elsewhere (gy times the ReLU
// derivative, from the activation's output y), for m x n matrices, and,
// if sum is not nil, adds the column sums of dz into sum (length n) in the
// order SumRows would.
func ReLUGrad(dz, gy, y []float64, m, n int, sum []float64) {
	if m <= 0 || n <= 0 {
		return
	}
	checkLens("ReLUGrad", m*n, dz, gy, y)
	if sum != nil {
		sum = sum[:n]
	}
	reluGrad(dz[:m*n], gy[:m*n], y[:m*n], m, n, sum)
}

// TanhGrad sets dz = gy ⊙ (1 - y²) (gy times the derivative of tanh, from
// its output y), for m x n matrices, and, if sum is not nil, adds the
// column sums of dz into sum (length n) in the order SumRows would.
func TanhGrad(dz, gy, y []float64, m, n int, sum []float64) {
	if m <= 0 || n <= 0 {
		return
	}
	checkLens("TanhGrad", m*n, dz, gy, y)
	if sum != nil {
		sum = sum[:n]
	}
	tanhGrad(dz[:m*n], gy[:m*n], y[:m*n], m, n, sum)
}

func checkLens(name string, n int, xs ...[]float64) {
	for _, x := range xs {
		if len(x) < n {
			panic(fmt.Sprintf("kernel: %s: slice of %d values, need %d", name, len(x), n))
		}
	}
}

// Adam holds the per-step constants of an Adam update (PyTorch's update
// order): for each element, with g = scale*grad,
//
//	m = Beta1*m + (1-Beta1)*g
//	v = Beta2*v + (1-Beta2)*g*g
//	p = p - StepSize*m / (sqrt(v)/SqrtBias2 + Eps)
//
// Scale lets gradient clipping fold into the update (1 for none).
type Adam struct {
	Beta1, Beta2, Scale, StepSize, SqrtBias2, Eps float64
}

// Step applies the update to params with grads and the moments m and v
// (all the same length), in place.
func (a *Adam) Step(params, grads, m, v []float64) {
	n := len(params)
	checkLens("Adam.Step", n, grads, m, v)
	adamStep(a, params, grads[:n], m[:n], v[:n])
}

// adamGeneric is Adam.Step in plain Go, for elements [from, len(p)).
func adamGeneric(a *Adam, p, g, m, v []float64, from int) {
	c1, c2 := 1-a.Beta1, 1-a.Beta2
	g, m, v = g[:len(p)], m[:len(p)], v[:len(p)]
	for i := from; i < len(p); i++ {
		gi := a.Scale * g[i]
		mi := a.Beta1*m[i] + c1*gi
		vi := a.Beta2*v[i] + c2*gi*gi
		m[i], v[i] = mi, vi
		p[i] -= a.StepSize * mi / (math.Sqrt(vi)/a.SqrtBias2 + a.Eps)
	}
}

func addBiasReLUGeneric(x []float64, m, n int, b []float64) {
	for i := 0; i < m; i++ {
		row := x[i*n : i*n+n]
		for j, bv := range b { // no bias if b is nil
			row[j] += bv
		}
		for j, z := range row {
			if z < 0 {
				row[j] = 0
			}
		}
	}
}

func reluGradGeneric(dz, gy, y []float64, m, n int, sum []float64) {
	for i, v := range y {
		if v > 0 {
			dz[i] = gy[i]
		} else {
			dz[i] = 0
		}
	}
	if sum != nil {
		SumRows(sum, dz, m, n)
	}
}

func tanhGradGeneric(dz, gy, y []float64, m, n int, sum []float64) {
	for i, v := range y {
		dz[i] = gy[i] * (1 - v*v)
	}
	if sum != nil {
		SumRows(sum, dz, m, n)
	}
}

// Exp replaces every x[i] by e^x[i]. The SIMD build evaluates all of them
// (a short tail too) with one vectorised algorithm, accurate to about one
// unit in the last place (not bit-identical to math.Exp), down into the
// denormal range and up to the overflow threshold; +Inf, -Inf and NaN
// behave as in math.Exp.
func Exp(x []float64) {
	if len(x) == 0 {
		return
	}
	expSlice(x)
}

// Tanh replaces every x[i] by tanh(x[i]); like Exp, the SIMD build uses a
// vectorised algorithm (from e^{2|x|} - 1, evaluated like Exp) accurate to
// a few units in the last place.
func Tanh(x []float64) {
	if len(x) == 0 {
		return
	}
	tanhSlice(x)
}

func expGeneric(x []float64) {
	for i, v := range x {
		x[i] = math.Exp(v)
	}
}

func tanhGeneric(x []float64) {
	for i, v := range x {
		x[i] = math.Tanh(v)
	}
}
