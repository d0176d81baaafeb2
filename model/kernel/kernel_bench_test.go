package kernel

import (
	"math/rand/v2"
	"testing"
)

// benchShapes are the GNN's products, named m x k x n: (m x k)·(k x n).
var benchShapes = []shape{
	// inference of one graph
	{false, false, 11, 64, 8},
	{false, false, 11, 64, 64},
	{false, false, 11, 64, 11},
	{false, false, 1, 64, 130},
	{false, false, 1, 26, 64},
	{false, false, 1, 1, 64},
	// a minibatch of 64 graphs, stacked node-major
	{false, false, 704, 64, 8},
	{false, false, 704, 64, 64},
	{false, false, 11, 4096, 11},
	{false, false, 64, 64, 130},
	{false, false, 64, 26, 64},
	// backward: dW = Xᵀ·dY, dX = dY·Wᵀ, Âᵀ·dY
	{true, false, 8, 64, 704},
	{true, false, 64, 64, 704},
	{false, true, 704, 64, 64},
	{true, false, 11, 4096, 11},
}

func benchGemm(b *testing.B, s shape, f func(o *operands, c []float64)) {
	rng := rand.New(rand.NewPCG(1, 1))
	o := newOperands(rng, s, 0, 1, 0)
	c := make([]float64, len(o.c))
	f(o, c)
	b.ResetTimer()
	for b.Loop() {
		f(o, c)
	}
	b.ReportMetric(float64(s.m)*float64(s.n)*float64(s.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GMAC/s")
}

// BenchmarkGemm reports the model's shapes (beta = 0) and, under Ref/, the
// plain-loop reference for two of them.
func BenchmarkGemm(b *testing.B) {
	for _, s := range benchShapes {
		b.Run(s.String(), func(b *testing.B) {
			benchGemm(b, s, (*operands).gemm)
		})
	}
	for _, s := range []shape{{false, false, 704, 64, 64}, {false, false, 11, 64, 64}} {
		b.Run("Ref/"+s.String(), func(b *testing.B) {
			benchGemm(b, s, (*operands).ref)
		})
	}
}

func BenchmarkAddRowVector(b *testing.B) {
	x := make([]float64, 704*64)
	v := make([]float64, 64)
	for b.Loop() {
		AddRowVector(x, 704, 64, v)
	}
}

func BenchmarkSumRows(b *testing.B) {
	x := make([]float64, 704*64)
	out := make([]float64, 64)
	for b.Loop() {
		SumRows(out, x, 704, 64)
	}
}
