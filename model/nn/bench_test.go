package nn

import (
	"fmt"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// benchEdges is an 11-service call graph shaped like Google's Online
// Boutique: 0 frontend, 1 cart, 2 productcatalog, 3 currency,
// 4 recommendation, 5 shipping, 6 checkout, 7 ad, 8 email, 9 payment,
// 10 redis.
var benchEdges = [][2]int{
	{0, 1}, {0, 2}, {0, 3}, {0, 4}, {0, 5}, {0, 6}, {0, 7},
	{6, 1}, {6, 2}, {6, 3}, {6, 5}, {6, 8}, {6, 9},
	{4, 2}, {1, 10},
}

const (
	benchNodes    = 11
	benchFeatures = 8
	benchHidden   = 64
)

func benchGraph(b *testing.B) *Graph {
	g, err := NewGraph(benchNodes, benchEdges)
	if err != nil {
		b.Fatal(err)
	}
	return g
}

func BenchmarkGCNForward(b *testing.B) {
	g := benchGraph(b)
	for _, batch := range []int{1, 64} {
		b.Run(fmt.Sprintf("B=%d", batch), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 1))
			rows := benchNodes * batch
			x := randSlice(rng, rows*benchFeatures, 1)
			w := randSlice(rng, benchFeatures*benchHidden, 0.3)
			bias := randSlice(rng, benchHidden, 0.1)
			dst := make([]float64, rows*benchHidden)
			scratch := make([]float64, GCNScratchLen(benchNodes, batch, benchFeatures, benchHidden))
			b.ReportAllocs()
			for b.Loop() {
				if err := GCNForward(dst, x, batch, w, bias, benchFeatures, benchHidden, g.Adjacency(), Tanh, scratch); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkGATForward(b *testing.B) {
	g := benchGraph(b)
	const heads, out = 4, benchHidden / 4 // 4 heads x 16, concatenated = 64
	for _, batch := range []int{1, 64} {
		b.Run(fmt.Sprintf("B=%d", batch), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 1))
			rows := benchNodes * batch
			x := randSlice(rng, rows*benchFeatures, 1)
			w := randSlice(rng, benchFeatures*heads*out, 0.3)
			as, ad := randSlice(rng, heads*out, 0.3), randSlice(rng, heads*out, 0.3)
			bias := randSlice(rng, heads*out, 0.1)
			dst := make([]float64, rows*heads*out)
			scratch := make([]float64, GATScratchLen(benchNodes, batch, heads, out))
			b.ReportAllocs()
			for b.Loop() {
				if err := GATForward(dst, x, batch, w, as, ad, bias, benchFeatures, g, heads, out, true, ELU, scratch); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkGCNTrainStep is one forward+backward of a critic-shaped network,
// GCN(8->64, tanh) -> GCN(64->64, tanh) -> MeanPool -> Dense(64->1), at
// B = 64 through a reused TapeMachine (Reset + RunAll), gradients for every
// parameter.
func BenchmarkGCNTrainStep(b *testing.B) {
	const batch = 64
	gr := benchGraph(b)
	rng := rand.New(rand.NewPCG(2, 2))
	g := G.NewGraph()
	rows := benchNodes * batch
	in := func(name string, shape tensor.Shape, scale float64) *G.Node {
		return newInput(g, name, shape, randSlice(rng, shape.TotalSize(), scale))
	}
	x := in("x", tensor.Shape{rows, benchFeatures}, 1)
	w1, b1 := in("W1", tensor.Shape{benchFeatures, benchHidden}, 0.3), in("b1", tensor.Shape{benchHidden}, 0.1)
	w2, b2 := in("W2", tensor.Shape{benchHidden, benchHidden}, 0.2), in("b2", tensor.Shape{benchHidden}, 0.1)
	w3, b3 := in("W3", tensor.Shape{benchHidden, 1}, 0.2), in("b3", tensor.Shape{1}, 0.1)
	r := in("R", tensor.Shape{batch, 1}, 1)
	h := G.Must(GCN(x, w1, b1, gr.Adjacency(), Tanh))
	h = G.Must(GCN(h, w2, b2, gr.Adjacency(), Tanh))
	h = G.Must(MeanPool(h, benchNodes))
	v := G.Must(Dense(h, w3, b3, Identity))
	loss := G.Must(G.Sum(G.Must(G.HadamardProd(v, r))))
	params := G.Nodes{w1, b1, w2, b2, w3, b3}
	grads, err := G.Grad(loss, params...)
	if err != nil {
		b.Fatal(err)
	}
	lossOut, err := NewOutput(loss)
	if err != nil {
		b.Fatal(err)
	}
	for _, gn := range grads {
		if _, err := NewOutput(gn); err != nil {
			b.Fatal(err)
		}
	}
	m := G.NewTapeMachine(g)
	defer m.Close()
	b.ReportAllocs()
	for b.Loop() {
		m.Reset()
		if err := m.RunAll(); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := lossOut.Scalar(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkGCNEncoderStep is the seed network's encoder (8 -> 64 -> 64,
// ReLU, mean readout) on a minibatch of 64: forward and backward of the
// fused op, the observations marked NoGrad.
func BenchmarkGCNEncoderStep(b *testing.B) {
	g := benchGraph(b)
	const batch = 64
	rng := rand.New(rand.NewPCG(1, 1))
	rows := benchNodes * batch
	x := randSlice(rng, rows*benchFeatures, 1)
	w1, b1 := randSlice(rng, benchFeatures*benchHidden, 0.3), randSlice(rng, benchHidden, 0.1)
	w2, b2 := randSlice(rng, benchHidden*benchHidden, 0.2), randSlice(rng, benchHidden, 0.1)
	d := encDims{n: benchNodes, batch: batch, in: benchFeatures, hid: benchHidden, out: benchHidden}
	l := newEncoderLayer(g.Adjacency(), d, true, true, ReLU)
	in := [][]float64{x, w1, b1, w2, b2}
	gy := randSlice(rng, batch*benchHidden, 1)
	gin := [][]float64{nil, make([]float64, len(w1)), make([]float64, len(b1)), make([]float64, len(w2)), make([]float64, len(b2))}
	b.ReportAllocs()
	for b.Loop() {
		l.forward(in)
		l.backward(in, gy, gin)
	}
}
