package kernel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// shape is one Gemm problem: op(A) is m x k, op(B) is k x n. It prints
// as m x k x n, the product (m x k)·(k x n).
type shape struct {
	tA, tB  bool
	m, n, k int
}

func (s shape) String() string {
	return fmt.Sprintf("%s/%dx%dx%d", transName(s.tA, s.tB), s.m, s.k, s.n)
}

func transName(tA, tB bool) string {
	name := []byte("NN")
	if tA {
		name[0] = 'T'
	}
	if tB {
		name[1] = 'T'
	}
	return string(name)
}

// modelShapes are the products of the GNN (see the package's benchmarks).
var modelShapes = []shape{
	// inference of one graph
	{false, false, 11, 64, 8},
	{false, false, 11, 64, 64},
	{false, false, 11, 64, 11},
	{false, false, 1, 64, 130},
	{false, false, 1, 26, 64},
	{false, false, 1, 1, 64},
	// a minibatch of 64 graphs
	{false, false, 704, 64, 8},
	{false, false, 704, 64, 64},
	{false, false, 11, 4096, 11},
	{false, false, 64, 64, 130},
	{false, false, 64, 26, 64},
	{false, false, 64, 1, 64},
	// backward
	{true, false, 8, 64, 704},
	{true, false, 64, 64, 704},
	{false, true, 704, 64, 64},
	{true, false, 11, 4096, 11},
	{true, false, 130, 64, 64},
	{false, true, 64, 130, 64},
	{true, false, 64, 26, 64},
	{false, true, 64, 64, 26},
	{true, false, 64, 1, 64},
	{false, true, 64, 64, 1},
	{true, true, 64, 64, 64},
	{true, true, 13, 7, 9},
}

// operands holds a Gemm problem's matrices as stored, with their strides.
type operands struct {
	shape
	a, b, c          []float64
	lda, ldb, ldc    int
	aRows, bRows     int
	alpha, beta      float64
	cFill            float64 // value of C's padding, checked to be untouched
	padA, padB, padC int
}

// newOperands fills A, B and C with values in [-1, 1) and, if pad > 0, gives
// each a stride that many elements longer than its rows.
func newOperands(rng *rand.Rand, s shape, pad int, alpha, beta float64) *operands {
	o := &operands{shape: s, alpha: alpha, beta: beta, padA: pad, padB: pad, padC: pad}
	aRows, aCols := s.m, s.k
	if s.tA {
		aRows, aCols = s.k, s.m
	}
	bRows, bCols := s.k, s.n
	if s.tB {
		bRows, bCols = s.n, s.k
	}
	o.aRows, o.bRows = aRows, bRows
	o.lda, o.ldb, o.ldc = aCols+pad, bCols+pad, s.n+pad
	// The slices end right after their last row, so reading past a matrix
	// panics instead of going unnoticed.
	o.a = randSlice(rng, matLen(aRows, aCols, o.lda))
	o.b = randSlice(rng, matLen(bRows, bCols, o.ldb))
	o.c = randSlice(rng, matLen(s.m, s.n, o.ldc))
	o.cFill = 12345
	for i := 0; i < s.m; i++ {
		for j := s.n; j < o.ldc && i*o.ldc+j < len(o.c); j++ {
			o.c[i*o.ldc+j] = o.cFill
		}
	}
	return o
}

// matLen is the length of a rows x cols matrix with stride ld that ends
// right after its last element.
func matLen(rows, cols, ld int) int {
	if rows == 0 || cols == 0 {
		return 0
	}
	return (rows-1)*ld + cols
}

func randSlice(rng *rand.Rand, n int) []float64 {
	x := make([]float64, n)
	for i := range x {
		x[i] = 2*rng.Float64() - 1
	}
	return x
}

func (o *operands) gemm(c []float64) {
	Gemm(o.tA, o.tB, o.m, o.n, o.k, o.alpha, o.a, o.lda, o.b, o.ldb, o.beta, c, o.ldc)
}

func (o *operands) ref(c []float64) {
	gemmRef(o.tA, o.tB, o.m, o.n, o.k, o.alpha, o.a, o.lda, o.b, o.ldb, o.beta, c, o.ldc)
}

// check compares Gemm with gemmRef. The tolerance is 1e-12 relative to a
// bound on the sum of the magnitudes of the terms, k*|alpha| + |beta*c|
// (operands are in [-1, 1)), so it grows with k; rounding differences are
// about 2k*eps times that sum, 1e-13 at k = 704.
func (o *operands) check(t *testing.T) {
	t.Helper()
	got := slices.Clone(o.c)
	want := slices.Clone(o.c)
	if o.beta == 0 {
		for i := range got {
			if i%o.ldc < o.n {
				got[i] = math.NaN() // must not be read
			}
		}
	}
	o.gemm(got)
	o.ref(want)
	for i := 0; i < o.m; i++ {
		for j := 0; j < o.ldc && i*o.ldc+j < len(got); j++ {
			g, w := got[i*o.ldc+j], want[i*o.ldc+j]
			if j >= o.n {
				if g != o.cFill {
					t.Fatalf("%v: C[%d][%d] (stride padding) changed to %v", o.shape, i, j, g)
				}
				continue
			}
			mag := float64(o.k)*math.Abs(o.alpha) + math.Abs(o.beta*o.c[i*o.ldc+j]) + 1e-300
			tol := 1e-12 * mag
			if !(math.Abs(g-w) <= tol) {
				t.Fatalf("%v alpha=%v beta=%v pad=%d: C[%d][%d] = %v, want %v (diff %.3g, tol %.3g)",
					o.shape, o.alpha, o.beta, o.padC, i, j, g, w, g-w, tol)
			}
		}
	}
}

var scalars = [][2]float64{{1, 0}, {1, 1}, {-0.7, 0}, {1.3, -0.4}, {0.5, 1}, {1, 2.5}}

func TestGemmModelShapes(t *testing.T) {
	t.Logf("accelerated: %v", Accelerated())
	rng := rand.New(rand.NewPCG(1, 2))
	for _, s := range modelShapes {
		for _, tA := range []bool{false, true} {
			for _, tB := range []bool{false, true} {
				s := shape{tA, tB, s.m, s.n, s.k}
				for _, ab := range scalars {
					for _, pad := range []int{0, 3} {
						newOperands(rng, s, pad, ab[0], ab[1]).check(t)
					}
				}
			}
		}
	}
}

func TestGemmRandomShapes(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	n := 3000
	if testing.Short() {
		n = 500
	}
	for range n {
		s := shape{rng.IntN(2) == 1, rng.IntN(2) == 1, 1 + rng.IntN(70), 1 + rng.IntN(70), 1 + rng.IntN(70)}
		ab := scalars[rng.IntN(len(scalars))]
		pad := 0
		if rng.IntN(2) == 1 {
			pad = 1 + rng.IntN(9)
		}
		newOperands(rng, s, pad, ab[0], ab[1]).check(t)
	}
}

// TestGemmAllSmallShapes covers every tile/edge combination exhaustively.
func TestGemmAllSmallShapes(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for m := 1; m <= 9; m++ {
		for n := 1; n <= 17; n++ {
			for _, k := range []int{1, 2, 3, 4, 5, 7, 8, 9, 13} {
				for tr := range 4 {
					s := shape{tr&1 == 1, tr&2 == 2, m, n, k}
					ab := scalars[rng.IntN(len(scalars))]
					newOperands(rng, s, rng.IntN(3), ab[0], ab[1]).check(t)
				}
			}
		}
	}
}

func TestGemmSpecialScalars(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, s := range []shape{{false, false, 5, 9, 0}, {false, false, 6, 10, 7}, {true, true, 3, 3, 3}} {
		for _, beta := range []float64{0, 1, -2} {
			o := newOperands(rng, s, 2, 0, beta)
			got := slices.Clone(o.c)
			if beta == 0 {
				for i := range got {
					got[i] = math.NaN()
				}
			}
			o.gemm(got)
			for i := 0; i < o.m; i++ {
				for j := 0; j < o.n; j++ {
					want := 0.0
					if beta != 0 {
						want = beta * o.c[i*o.ldc+j]
					}
					if g := got[i*o.ldc+j]; g != want {
						t.Fatalf("%v alpha=0 beta=%v: C[%d][%d] = %v, want %v", s, beta, i, j, g, want)
					}
				}
			}
		}
	}
	// k == 0 with alpha != 0 scales C too.
	o := newOperands(rng, shape{false, false, 4, 4, 1}, 0, 1, 3)
	c := slices.Clone(o.c)
	Gemm(false, false, 4, 4, 0, 1, nil, 1, nil, 4, 3, c, 4)
	for i := range c {
		if c[i] != 3*o.c[i] {
			t.Fatalf("k=0: C[%d] = %v, want %v", i, c[i], 3*o.c[i])
		}
	}
	// Empty products touch nothing.
	Gemm(false, false, 0, 5, 5, 1, nil, 5, nil, 5, 0, nil, 5)
	Gemm(true, true, 5, 0, 5, 1, nil, 5, nil, 5, 0, nil, 0)
}

// TestGemmNaNInC: with beta == 0 a NaN-filled C must come out finite.
func TestGemmNaNInC(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, s := range modelShapes {
		o := newOperands(rng, s, 1, 1, 0)
		c := make([]float64, len(o.c))
		for i := range c {
			c[i] = math.NaN()
		}
		o.gemm(c)
		for i := 0; i < o.m; i++ {
			for j := 0; j < o.n; j++ {
				if v := c[i*o.ldc+j]; math.IsNaN(v) || math.IsInf(v, 0) {
					t.Fatalf("%v: C[%d][%d] = %v", s, i, j, v)
				}
			}
		}
	}
}

func TestGemmDeterministic(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, s := range modelShapes {
		for _, ab := range [][2]float64{{1, 0}, {0.9, 1.1}} {
			o := newOperands(rng, s, 0, ab[0], ab[1])
			c1, c2 := slices.Clone(o.c), slices.Clone(o.c)
			o.gemm(c1)
			// Same values at a different address (and alignment).
			a2 := append([]float64{0}, o.a...)[1:]
			b2 := append([]float64{0, 0, 0}, o.b...)[3:]
			c2 = append([]float64{0}, c2...)[1:]
			Gemm(o.tA, o.tB, o.m, o.n, o.k, o.alpha, a2, o.lda, b2, o.ldb, o.beta, c2, o.ldc)
			for i := range c1 {
				if math.Float64bits(c1[i]) != math.Float64bits(c2[i]) {
					t.Fatalf("%v: element %d differs between calls: %v vs %v", s, i, c1[i], c2[i])
				}
			}
		}
	}
}

// TestGemmRowInvariant: a row of C is the same whether it is computed alone
// or as part of a bigger product (minibatch vs per-sample inference).
func TestGemmRowInvariant(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	for _, s := range []shape{{false, false, 704, 64, 64}, {false, false, 11, 64, 8}, {false, false, 64, 26, 64}, {false, false, 13, 1, 64}, {true, false, 9, 30, 17}, {false, true, 7, 21, 33}} {
		o := newOperands(rng, s, 0, 1, 0)
		full := make([]float64, len(o.c))
		o.gemm(full)
		for i := 0; i < s.m; i++ {
			var ai []float64
			lda := o.lda
			if s.tA {
				ai = o.a[i:]
			} else {
				ai = o.a[i*o.lda : i*o.lda+s.k]
			}
			row := make([]float64, s.n)
			Gemm(s.tA, s.tB, 1, s.n, s.k, 1, ai, lda, o.b, o.ldb, 0, row, s.n)
			for j, v := range row {
				if math.Float64bits(v) != math.Float64bits(full[i*o.ldc+j]) {
					t.Fatalf("%v: row %d col %d: alone %v, in the product %v", s, i, j, v, full[i*o.ldc+j])
				}
			}
		}
	}
}

func TestGemmConcurrent(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	ops := make([]*operands, 0, len(modelShapes))
	want := make([][]float64, 0, len(modelShapes))
	for _, s := range modelShapes {
		o := newOperands(rng, s, 1, 1, 0)
		c := slices.Clone(o.c)
		o.gemm(c)
		ops, want = append(ops, o), append(want, c)
	}
	done := make(chan error)
	for g := range 4 {
		go func() {
			for it := range 20 {
				idx := (g + it) % len(ops)
				o := ops[idx]
				c := slices.Clone(o.c)
				o.gemm(c)
				if !slices.Equal(c, want[idx]) {
					done <- fmt.Errorf("%v: concurrent result differs", o.shape)
					return
				}
			}
			done <- nil
		}()
	}
	for range 4 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

func TestGemmPanics(t *testing.T) {
	a := make([]float64, 12)
	c := make([]float64, 12)
	for name, f := range map[string]func(){
		"short A":      func() { Gemm(false, false, 3, 4, 4, 1, a[:11], 4, a, 4, 0, c, 4) },
		"short B":      func() { Gemm(false, false, 3, 3, 4, 1, a, 4, a[:11], 3, 0, c, 3) },
		"short C":      func() { Gemm(false, false, 3, 4, 3, 1, a, 3, a, 4, 0, c[:11], 4) },
		"small lda":    func() { Gemm(false, false, 3, 4, 4, 1, a, 3, a, 4, 0, c, 4) },
		"small ldc":    func() { Gemm(false, false, 3, 4, 3, 1, a, 3, a, 4, 0, c, 3) },
		"negative dim": func() { Gemm(false, false, -1, 4, 3, 1, a, 3, a, 4, 0, c, 4) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}

func TestGemmNoAlloc(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	rng := rand.New(rand.NewPCG(17, 18))
	for _, s := range modelShapes {
		for _, tr := range []bool{false, true} {
			s := shape{tr, tr, s.m, s.n, s.k}
			o := newOperands(rng, s, 0, 1, 0)
			c := slices.Clone(o.c)
			o.gemm(c) // warm the scratch pool
			if n := testing.AllocsPerRun(20, func() { o.gemm(c) }); n != 0 {
				t.Errorf("%v: %v allocations per call", s, n)
			}
		}
	}
}

func TestAddRowVectorSumRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(19, 20))
	for _, mn := range [][2]int{{1, 1}, {3, 5}, {11, 64}, {704, 64}, {2, 13}, {5, 26}} {
		m, n := mn[0], mn[1]
		x := randSlice(rng, m*n)
		v := randSlice(rng, n)
		got := slices.Clone(x)
		AddRowVector(got, m, n, v)
		for i := 0; i < m; i++ {
			for j := 0; j < n; j++ {
				if got[i*n+j] != x[i*n+j]+v[j] {
					t.Fatalf("AddRowVector %dx%d: [%d][%d] = %v, want %v", m, n, i, j, got[i*n+j], x[i*n+j]+v[j])
				}
			}
		}
		out := slices.Clone(v)
		SumRows(out, x, m, n)
		for j := 0; j < n; j++ {
			want := v[j]
			for i := 0; i < m; i++ {
				want += x[i*n+j]
			}
			if out[j] != want {
				t.Fatalf("SumRows %dx%d: [%d] = %v, want %v", m, n, j, out[j], want)
			}
		}
	}
	if n := testing.AllocsPerRun(10, func() {
		AddRowVector(make([]float64, 0), 0, 0, nil)
	}); n != 0 {
		t.Errorf("AddRowVector allocates")
	}
}

func TestVectorHelpers(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	for _, n := range []int{0, 1, 3, 4, 7, 8, 15, 16, 17, 33, 64, 130} {
		x, y := randSlice(rng, n), randSlice(rng, n)
		want := 0.0
		for i := range x {
			want += x[i] * y[i]
		}
		if got := Dot(x, y); math.Abs(got-want) > 1e-13*float64(n+1) {
			t.Errorf("Dot n=%d: %v, want %v", n, got, want)
		}
		if Dot(x, y) != Dot(slices.Clone(x), slices.Clone(y)) {
			t.Errorf("Dot n=%d not deterministic", n)
		}
		ya := slices.Clone(y)
		Axpy(-0.5, x, ya)
		for i := range ya {
			if w := y[i] - 0.5*x[i]; math.Abs(ya[i]-w) > 1e-15 {
				t.Fatalf("Axpy n=%d: [%d] = %v, want %v", n, i, ya[i], w)
			}
		}
		xs := slices.Clone(x)
		Scale(3, xs)
		for i := range xs {
			if xs[i] != 3*x[i] {
				t.Fatalf("Scale n=%d: [%d] = %v, want %v", n, i, xs[i], 3*x[i])
			}
		}
	}
}

func TestElementwise(t *testing.T) {
	rng := rand.New(rand.NewPCG(25, 26))
	for _, mn := range [][2]int{{1, 1}, {3, 5}, {11, 64}, {704, 64}, {2, 13}, {5, 27}, {4, 4}} {
		m, n := mn[0], mn[1]
		x := randSlice(rng, m*n)
		x[0] = math.NaN()
		b := randSlice(rng, n)
		for _, bias := range [][]float64{nil, b} {
			got := slices.Clone(x)
			AddBiasReLU(got, m, n, bias)
			for i := range m {
				for j := range n {
					z := x[i*n+j]
					if bias != nil {
						z += bias[j]
					}
					if z < 0 {
						z = 0
					}
					if g := got[i*n+j]; g != z && !(math.IsNaN(g) && math.IsNaN(z)) {
						t.Fatalf("AddBiasReLU %dx%d bias=%t: [%d][%d] = %v, want %v", m, n, bias != nil, i, j, g, z)
					}
				}
			}
		}
		for _, bias := range [][]float64{nil, b} {
			got, want := slices.Clone(x), slices.Clone(x)
			s := randSlice(rng, m*n)
			ws := slices.Clone(s)
			AddBiasReLUAxpy(got, m, n, bias, 0.3, s)
			AddBiasReLU(want, m, n, bias)
			Axpy(0.3, want, ws)
			for i := range got {
				if got[i] != want[i] && !(math.IsNaN(got[i]) && math.IsNaN(want[i])) || s[i] != ws[i] && !(math.IsNaN(s[i]) && math.IsNaN(ws[i])) {
					t.Fatalf("AddBiasReLUAxpy %dx%d bias=%t: [%d] = %v, %v; want %v, %v", m, n, bias != nil, i, got[i], s[i], want[i], ws[i])
				}
			}
		}
		y := randSlice(rng, m*n)
		y[len(y)-1] = 0
		gy := randSlice(rng, m*n)
		for _, withSum := range []bool{false, true} {
			var sum, sumT []float64
			if withSum {
				sum, sumT = slices.Clone(b), slices.Clone(b)
			}
			dz := make([]float64, m*n)
			ReLUGrad(dz, gy, y, m, n, sum)
			want := make([]float64, m*n)
			for i, v := range y {
				if v > 0 {
					want[i] = gy[i]
				}
			}
			if !slices.Equal(dz, want) {
				t.Fatalf("ReLUGrad %dx%d: %v, want %v", m, n, dz, want)
			}
			if withSum {
				ws := slices.Clone(b)
				SumRows(ws, want, m, n)
				if !slices.Equal(sum, ws) {
					t.Fatalf("ReLUGrad %dx%d sum: %v, want %v", m, n, sum, ws)
				}
			}
			TanhGrad(dz, gy, y, m, n, sumT)
			for i, v := range y {
				want[i] = gy[i] * (1 - v*v)
			}
			if !slices.Equal(dz, want) {
				t.Fatalf("TanhGrad %dx%d: %v, want %v", m, n, dz, want)
			}
			if withSum {
				ws := slices.Clone(b)
				SumRows(ws, want, m, n)
				if !slices.Equal(sumT, ws) {
					t.Fatalf("TanhGrad %dx%d sum: %v, want %v", m, n, sumT, ws)
				}
			}
		}
	}
}

func TestAdamStep(t *testing.T) {
	rng := rand.New(rand.NewPCG(27, 28))
	for _, n := range []int{0, 1, 3, 4, 7, 64, 131} {
		p, g := randSlice(rng, n), randSlice(rng, n)
		m, v := randSlice(rng, n), randSlice(rng, n)
		for i := range v {
			v[i] = math.Abs(v[i])
		}
		a := Adam{Beta1: 0.9, Beta2: 0.999, Scale: 0.7, StepSize: 3e-4 / 0.1, SqrtBias2: math.Sqrt(0.001), Eps: 1e-8}
		wp, wm, wv := slices.Clone(p), slices.Clone(m), slices.Clone(v)
		for i := range wp {
			gi := a.Scale * g[i]
			wm[i] = a.Beta1*wm[i] + (1-a.Beta1)*gi
			wv[i] = a.Beta2*wv[i] + (1-a.Beta2)*gi*gi
			wp[i] -= a.StepSize * wm[i] / (math.Sqrt(wv[i])/a.SqrtBias2 + a.Eps)
		}
		a.Step(p, g, m, v)
		if !slices.Equal(p, wp) || !slices.Equal(m, wm) || !slices.Equal(v, wv) {
			t.Fatalf("Adam.Step n=%d differs from the scalar formula", n)
		}
	}
}

func TestExpTanh(t *testing.T) {
	rng := rand.New(rand.NewPCG(29, 30))
	var xs []float64
	for range 5000 {
		xs = append(xs, (2*rng.Float64()-1)*20, (2*rng.Float64()-1)*2, (2*rng.Float64()-1)*750)
	}
	xs = append(xs, 0, math.Copysign(0, -1), 1e-300, -1e-300, 0.625, -0.625, 0.6249999, 709.78, 709.7827128933839, 709.79,
		-708.39, -708.4, -745.13, -745.14, -746, 1000, -1000, math.Inf(1), math.Inf(-1), math.NaN(), 1e-10, -3e-9, 44, -44, 19.06, 300)
	for _, n := range []int{len(xs), 1, 2, 3, 5, 7} {
		in := xs[:n]
		got := slices.Clone(in)
		Exp(got)
		for i, x := range in {
			want := math.Exp(x)
			if x > 700 && x <= 709.782712893384 {
				want = math.Exp(x-10) * math.Exp(10) // math.Exp on amd64 overflows early
			}
			g := got[i]
			switch {
			case g == math.Exp(x):
				// the portable build's math.Exp
			case math.IsNaN(want):
				if !math.IsNaN(g) {
					t.Fatalf("Exp(%v) = %v, want NaN", x, g)
				}
			case math.IsInf(want, 0) || want == 0:
				if g != want {
					t.Fatalf("Exp(%v) = %v, want %v", x, g, want)
				}
			case want < 2.2250738585072014e-308:
				if math.Abs(g-want) > 1e-323 {
					t.Fatalf("Exp(%v) = %v, want %v", x, g, want)
				}
			case math.Abs(g-want) > 6e-16*want:
				t.Fatalf("Exp(%v) = %v, want %v (rel err %.2g)", x, g, want, math.Abs(g-want)/want)
			}
		}
		got = slices.Clone(in)
		Tanh(got)
		for i, x := range in {
			want := math.Tanh(x)
			g := got[i]
			if math.IsNaN(want) {
				if !math.IsNaN(g) {
					t.Fatalf("Tanh(%v) = %v, want NaN", x, g)
				}
				continue
			}
			if math.Abs(g-want) > 8e-16*math.Abs(want) {
				t.Fatalf("Tanh(%v) = %v, want %v (rel err %.2g)", x, g, want, math.Abs(g-want)/math.Abs(want))
			}
		}
	}
}

func BenchmarkExp(b *testing.B) {
	x := make([]float64, 1664)
	y := make([]float64, len(x))
	for i := range x {
		x[i] = -float64(i%26) * 0.3
	}
	for b.Loop() {
		copy(y, x)
		Exp(y)
	}
}

func BenchmarkTanh(b *testing.B) {
	x := make([]float64, 4096)
	y := make([]float64, len(x))
	for i := range x {
		x[i] = float64(i%26)*0.2 - 2.6
	}
	for b.Loop() {
		copy(y, x)
		Tanh(y)
	}
}
