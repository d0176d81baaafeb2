package nn

import (
	"fmt"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Specs and tests of the fused ops that replace compositions of others
// (GCNMeanPool, GCNEncoder, DenseCat, Heads) and of NoGrad.

func gcnPoolSpec(rng *rand.Rand, g *Graph, batch, in, out int, bias bool) spec {
	rows := g.Nodes() * batch
	ps := []param{
		{"x", tensor.Shape{rows, in}, randSlice(rng, rows*in, 1)},
		{"W", tensor.Shape{in, out}, randSlice(rng, in*out, 1)},
	}
	if bias {
		ps = append(ps, param{"b", tensor.Shape{out}, randSlice(rng, out, 0.5)})
	}
	return spec{
		name:   "GCNMeanPool",
		params: ps,
		out:    tensor.Shape{batch, out},
		build: func(n []*G.Node) (*G.Node, error) {
			var b *G.Node
			if bias {
				b = n[2]
			}
			return GCNMeanPool(n[0], n[1], b, g.Adjacency())
		},
		fwd: func(dst []float64, d [][]float64) error {
			var b []float64
			if bias {
				b = d[2]
			}
			return GCNMeanPoolForward(dst, d[0], batch, d[1], b, in, out, g.Adjacency(), nil)
		},
	}
}

func encoderSpec(rng *rand.Rand, g *Graph, batch, in, hid, out int, bias bool, act Activation, xNoGrad bool) spec {
	rows := g.Nodes() * batch
	ps := []param{
		{"x", tensor.Shape{rows, in}, randSlice(rng, rows*in, 1)},
		{"W1", tensor.Shape{in, hid}, randSlice(rng, in*hid, 1)},
	}
	if bias {
		ps = append(ps, param{"b1", tensor.Shape{hid}, randSlice(rng, hid, 0.5)})
	}
	ps = append(ps, param{"W2", tensor.Shape{hid, out}, randSlice(rng, hid*out, 1)})
	if bias {
		ps = append(ps, param{"b2", tensor.Shape{out}, randSlice(rng, out, 0.5)})
	}
	args := func(n []*G.Node) (w1, b1, w2, b2 *G.Node) {
		if bias {
			return n[1], n[2], n[3], n[4]
		}
		return n[1], nil, n[2], nil
	}
	sp := spec{
		name:   "GCNEncoder",
		params: ps,
		out:    tensor.Shape{batch, out},
		build: func(n []*G.Node) (*G.Node, error) {
			w1, b1, w2, b2 := args(n)
			var opts []Option
			if xNoGrad {
				opts = append(opts, NoGrad(n[0]))
			}
			return GCNEncoder(n[0], w1, b1, w2, b2, g.Adjacency(), act, opts...)
		},
		fwd: func(dst []float64, d [][]float64) error {
			if bias {
				return GCNEncoderForward(dst, d[0], batch, d[1], d[2], d[3], d[4], in, hid, out, g.Adjacency(), act, nil)
			}
			return GCNEncoderForward(dst, d[0], batch, d[1], nil, d[2], nil, in, hid, out, g.Adjacency(), act, nil)
		},
	}
	if xNoGrad {
		sp.noGrad = []bool{true}
	}
	return sp
}

func denseCatSpec(rng *rand.Rand, m int, ins []int, out int, bias bool, act Activation, noGrad []bool) spec {
	var ps []param
	total := 0
	for i, c := range ins {
		ps = append(ps, param{fmt.Sprintf("x%d", i), tensor.Shape{m, c}, randSlice(rng, m*c, 1)})
		total += c
	}
	ps = append(ps, param{"W", tensor.Shape{total, out}, randSlice(rng, total*out, 1)})
	if bias {
		ps = append(ps, param{"b", tensor.Shape{out}, randSlice(rng, out, 0.5)})
	}
	k := len(ins)
	return spec{
		name:   "DenseCat/" + act.String(),
		params: ps,
		out:    tensor.Shape{m, out},
		build: func(n []*G.Node) (*G.Node, error) {
			var b *G.Node
			if bias {
				b = n[k+1]
			}
			var opts []Option
			for i, ng := range noGrad {
				if ng {
					opts = append(opts, NoGrad(n[i]))
				}
			}
			return DenseCat(n[:k], n[k], b, act, opts...)
		},
		fwd: func(dst []float64, d [][]float64) error {
			var b []float64
			if bias {
				b = d[k+1]
			}
			return DenseCatForward(dst, d[:k], m, d[k], b, ins, out, act)
		},
		noGrad: noGrad,
	}
}

func headsSpec(rng *rand.Rand, m, in int, outs []int, bias bool) spec {
	ps := []param{{"x", tensor.Shape{m, in}, randSlice(rng, m*in, 1)}}
	t := 0
	for i, o := range outs {
		ps = append(ps, param{fmt.Sprintf("W%d", i), tensor.Shape{in, o}, randSlice(rng, in*o, 1)})
		t += o
	}
	if bias {
		for i, o := range outs {
			ps = append(ps, param{fmt.Sprintf("b%d", i), tensor.Shape{o}, randSlice(rng, o, 0.5)})
		}
	}
	h := len(outs)
	return spec{
		name:   "Heads",
		params: ps,
		out:    tensor.Shape{m, t},
		build: func(n []*G.Node) (*G.Node, error) {
			var bs []*G.Node
			if bias {
				bs = n[1+h:]
			}
			return Heads(n[0], n[1:1+h], bs)
		},
		fwd: func(dst []float64, d [][]float64) error {
			var bs [][]float64
			if bias {
				bs = d[1+h:]
			}
			return HeadsForward(dst, d[0], m, d[1:1+h], bs, in, outs, nil)
		},
	}
}

func TestGradGCNMeanPool(t *testing.T) {
	g := testGraph(t)
	for i, c := range []struct {
		in, out int
		bias    bool
	}{{3, 4, true}, {5, 2, false}, {4, 4, true}} {
		t.Run(fmt.Sprintf("%d->%d/bias=%t", c.in, c.out, c.bias), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(i), 11))
			checkGradients(t, gcnPoolSpec(rng, g, testB, c.in, c.out, c.bias), uint64(i))
		})
	}
}

func TestGradGCNEncoder(t *testing.T) {
	g := testGraph(t)
	cases := []struct {
		in, hid, out int
		bias         bool
		act          Activation
		xNoGrad      bool
	}{
		{3, 6, 4, true, ReLU, true},      // per-node backward
		{3, 6, 4, true, ReLU, false},     // dx wanted: dZ1 formed
		{2, 5, 3, true, Tanh, true},      // per-node backward
		{2, 5, 3, false, Identity, true}, // per-node, no activation, no bias
		{2, 5, 3, false, Identity, false},
		{6, 4, 3, true, ELU, false}, // in >= hidden: GCN's order
		{6, 4, 3, true, Tanh, true},
		{4, 4, 2, true, ReLU, true},
	}
	for i, c := range cases {
		t.Run(fmt.Sprintf("%d->%d->%d/%v/bias=%t/xNoGrad=%t", c.in, c.hid, c.out, c.act, c.bias, c.xNoGrad), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(i), 12))
			checkGradients(t, encoderSpec(rng, g, testB, c.in, c.hid, c.out, c.bias, c.act, c.xNoGrad), uint64(i))
		})
	}
}

func TestGradDenseCat(t *testing.T) {
	for i, c := range []struct {
		ins    []int
		bias   bool
		act    Activation
		noGrad []bool
	}{
		{[]int{3, 4}, true, Tanh, nil},
		{[]int{3, 4}, true, Tanh, []bool{false, true}},
		{[]int{5}, false, ReLU, nil},
		{[]int{2, 1, 3}, true, Identity, []bool{true, false, false}},
	} {
		t.Run(fmt.Sprintf("%v/%v/bias=%t/noGrad=%v", c.ins, c.act, c.bias, c.noGrad), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(i), 13))
			checkGradients(t, denseCatSpec(rng, 7, c.ins, 4, c.bias, c.act, c.noGrad), uint64(i))
		})
	}
}

func TestGradHeads(t *testing.T) {
	for i, c := range []struct {
		outs []int
		bias bool
	}{{[]int{3, 5, 1}, true}, {[]int{2, 4}, false}, {[]int{6}, true}} {
		t.Run(fmt.Sprintf("%v/bias=%t", c.outs, c.bias), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(i), 14))
			checkGradients(t, headsSpec(rng, 7, 4, c.outs, c.bias), uint64(i))
		})
	}
}

// The fused ops compute the compositions they replace.
func TestFusedOpsMatchCompositions(t *testing.T) {
	g := testGraph(t)
	adj := g.Adjacency()
	rng := rand.New(rand.NewPCG(15, 16))
	const b, in, hid, out = 3, 3, 6, 4
	rows := testN * b
	x := randSlice(rng, rows*in, 1)
	w1, b1 := randSlice(rng, in*hid, 1), randSlice(rng, hid, 0.5)
	w2, b2 := randSlice(rng, hid*out, 1), randSlice(rng, out, 0.5)
	h1 := make([]float64, rows*hid)
	h2 := make([]float64, rows*out)
	want := make([]float64, b*out)
	got := make([]float64, b*out)
	for _, act := range []Activation{ReLU, Tanh, Identity} {
		if err := firstLenErr(
			GCNForward(h1, x, b, w1, b1, in, hid, adj, act, nil),
			GCNForward(h2, h1, b, w2, b2, hid, out, adj, Identity, nil),
			MeanPoolForward(want, h2, testN, b, out),
			GCNEncoderForward(got, x, b, w1, b1, w2, b2, in, hid, out, adj, act, nil),
		); err != nil {
			t.Fatal(err)
		}
		assertClose(t, "GCNEncoder vs GCN, GCN, MeanPool ("+act.String()+")", got, want, 1e-12)
		if err := GCNMeanPoolForward(got, h1, b, w2, b2, hid, out, adj, nil); err != nil {
			t.Fatal(err)
		}
		assertClose(t, "GCNMeanPool vs GCN, MeanPool", got, want, 1e-12)
	}

	// DenseCat = Dense over the concatenation; Heads = Dense per head.
	const m = 5
	xa, xb := randSlice(rng, m*3, 1), randSlice(rng, m*2, 1)
	cat := make([]float64, m*5)
	for r := range m {
		copy(cat[r*5:], xa[r*3:r*3+3])
		copy(cat[r*5+3:], xb[r*2:r*2+2])
	}
	w, bias := randSlice(rng, 5*4, 1), randSlice(rng, 4, 0.5)
	d1, d2 := make([]float64, m*4), make([]float64, m*4)
	if err := firstLenErr(
		DenseForward(d1, cat, m, w, bias, 5, 4, Tanh),
		DenseCatForward(d2, [][]float64{xa, xb}, m, w, bias, []int{3, 2}, 4, Tanh),
	); err != nil {
		t.Fatal(err)
	}
	assertClose(t, "DenseCat vs Dense over the concatenation", d2, d1, 1e-14)
	wh := [][]float64{randSlice(rng, 5*2, 1), randSlice(rng, 5*3, 1)}
	bh := [][]float64{randSlice(rng, 2, 1), randSlice(rng, 3, 1)}
	hs := make([]float64, m*5)
	if err := HeadsForward(hs, cat, m, wh, bh, 5, []int{2, 3}, nil); err != nil {
		t.Fatal(err)
	}
	for i, o := range []int{2, 3} {
		dh := make([]float64, m*o)
		if err := DenseForward(dh, cat, m, wh[i], bh[i], 5, o, Identity); err != nil {
			t.Fatal(err)
		}
		off := []int{0, 2}[i]
		for r := range m {
			assertClose(t, fmt.Sprintf("Heads head %d row %d", i, r), hs[r*5+off:r*5+off+o], dh[r*o:r*o+o], 0)
		}
	}
}

// TestNoGrad: an input marked NoGrad gets no gradient node, gorgonia.Grad
// with respect to it fails, and the other gradients are unchanged.
func TestNoGrad(t *testing.T) {
	g := testGraph(t)
	cases := []struct {
		mk    func(rng *rand.Rand) spec
		build func(in []*G.Node) (*G.Node, error)
	}{
		{func(rng *rand.Rand) spec { return denseSpec(rng, 6, 4, 3, true, Tanh) },
			func(in []*G.Node) (*G.Node, error) { return Dense(in[0], in[1], in[2], Tanh, NoGrad(in[0])) }},
		{func(rng *rand.Rand) spec { return gcnSpec(rng, g, testB, 3, 4, true, ReLU) },
			func(in []*G.Node) (*G.Node, error) {
				return GCN(in[0], in[1], in[2], g.Adjacency(), ReLU, NoGrad(in[0]))
			}},
		{func(rng *rand.Rand) spec { return gcnSpec(rng, g, testB, 4, 3, true, Tanh) },
			func(in []*G.Node) (*G.Node, error) {
				return GCN(in[0], in[1], in[2], g.Adjacency(), Tanh, NoGrad(in[0]))
			}},
		{func(rng *rand.Rand) spec { return gatSpec(rng, g, testB, 4, 2, 3, true, true, ELU) },
			func(in []*G.Node) (*G.Node, error) {
				return GAT(in[0], in[1], in[2], in[3], in[4], g, 2, 3, true, ELU, NoGrad(in[0]))
			}},
	}
	for _, c := range cases {
		all := c.mk(rand.New(rand.NewPCG(17, 18)))
		consts := c.mk(rand.New(rand.NewPCG(17, 18)))
		consts.build, consts.noGrad = c.build, []bool{true}
		t.Run(all.name, func(t *testing.T) {
			checkGradients(t, consts, 3)
			r := randSlice(rand.New(rand.NewPCG(19, 20)), all.out.TotalSize(), 1)
			full := buildRun(t, all, all.data(), r)
			full.exec(t)
			part := buildRun(t, consts, consts.data(), r)
			part.exec(t)
			for i := 1; i < len(all.params); i++ {
				assertClose(t, all.params[i].name+" gradient with x NoGrad", part.gradData(i-1), full.gradData(i), 0)
			}
			x := part.inputs[0]
			for _, n := range x.Graph().AllNodes() {
				if d, ok := n.Op().(*fusedDiffOp); ok && d.wrt == 0 {
					t.Errorf("gradient node %v built for a NoGrad input", n)
				}
			}
			loss := G.Must(G.Sum(part.y.Node()))
			if _, err := G.Grad(loss, x); err == nil {
				t.Error("gorgonia.Grad with respect to a NoGrad input succeeded")
			}
		})
	}
}

// TestStashSurvivesInPlaceOps: ops hand the machine their own output
// buffer, which backward reads (tanh', softmax); a following element-wise
// op that gorgonia would run in place (y + 0.5) must not corrupt it, which
// keeping y live until its gradient nodes have run guarantees.
func TestStashSurvivesInPlaceOps(t *testing.T) {
	g := testGraph(t)
	for _, mk := range []func(rng *rand.Rand) spec{
		func(rng *rand.Rand) spec { return denseSpec(rng, 6, 4, 3, true, Tanh) },
		func(rng *rand.Rand) spec { return gcnSpec(rng, g, testB, 3, 4, true, ReLU) },
		func(rng *rand.Rand) spec { return logSoftmaxSpec(rng, tensor.Shape{testB, 6}) },
		func(rng *rand.Rand) spec { return denseCatSpec(rng, 7, []int{3, 4}, 4, true, Tanh, nil) },
	} {
		sp := mk(rand.New(rand.NewPCG(21, 22)))
		build, fwd := sp.build, sp.fwd
		sp.build = func(in []*G.Node) (*G.Node, error) {
			y, err := build(in)
			if err != nil {
				return nil, err
			}
			return G.Add(y, G.NewConstant(0.5))
		}
		sp.fwd = func(dst []float64, in [][]float64) error {
			if err := fwd(dst, in); err != nil {
				return err
			}
			for i := range dst {
				dst[i] += 0.5
			}
			return nil
		}
		t.Run(sp.name, func(t *testing.T) { checkGradients(t, sp, 4) })
	}
}
