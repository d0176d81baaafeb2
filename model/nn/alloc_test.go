package nn

import (
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// TestForwardFunctionsDoNotAllocate: the inference path, given scratch,
// allocates nothing.
func TestForwardFunctionsDoNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	g := testGraph(t)
	rng := rand.New(rand.NewPCG(3, 3))
	const b, f, hid, heads, o = 2, 4, 8, 4, 3
	rows := testN * b
	x := randSlice(rng, rows*f, 1)
	w := randSlice(rng, f*hid, 1)
	wsmall := randSlice(rng, hid*f, 1)
	bias := randSlice(rng, hid, 1)
	dst := make([]float64, rows*hid)
	wg := randSlice(rng, f*heads*o, 1)
	as, ad := randSlice(rng, heads*o, 1), randSlice(rng, heads*o, 1)
	gdst := make([]float64, rows*heads*o)
	xh := randSlice(rng, rows*hid, 1)
	dsmall := make([]float64, rows*f)
	gcnScratch := make([]float64, GCNScratchLen(testN, b, f, hid))
	gatScratch := make([]float64, GATScratchLen(testN, b, heads, o))
	lse := make([]float64, rows)
	pool := make([]float64, b*o)
	encScratch := make([]float64, GCNEncoderScratchLen(testN, b, f, hid))
	poolScratch := make([]float64, GCNMeanPoolScratchLen(b, hid))
	w2 := randSlice(rng, hid*o, 1)
	xs := [][]float64{x[:rows*2], x[rows*2 : rows*4]}
	wcat := randSlice(rng, 4*hid, 1)
	hw := [][]float64{wsmall[:hid*2], wsmall[hid*2 : hid*3]}
	hb := [][]float64{bias[:2], bias[2:3]}
	houts := []int{2, 1}
	headsScratch := make([]float64, HeadsScratchLen(hid, houts))
	catIns := []int{2, 2}

	cases := []struct {
		name string
		f    func() error
	}{
		{"DenseForward", func() error { return DenseForward(dst, x, rows, w, bias, f, hid, ELU) }},
		{"GCNForward/aggregate-first", func() error {
			return GCNForward(dst, x, b, w, bias, f, hid, g.Adjacency(), Tanh, gcnScratch)
		}},
		{"GCNForward/transform-first", func() error {
			return GCNForward(dsmall, xh, b, wsmall, nil, hid, f, g.Adjacency(), Tanh, gcnScratch)
		}},
		{"GATForward/concat", func() error {
			return GATForward(gdst, x, b, wg, as, ad, nil, f, g, heads, o, true, ELU, gatScratch)
		}},
		{"GATForward/mean", func() error {
			return GATForward(gdst[:rows*o], x, b, wg, as, ad, nil, f, g, heads, o, false, ELU, gatScratch)
		}},
		{"MeanPoolForward", func() error { return MeanPoolForward(dst[:b*hid], xh, testN, b, hid) }},
		{"LogSoftmaxForward", func() error { return LogSoftmaxForward(dst, xh, rows, hid) }},
		{"LogSumExpForward", func() error { return LogSumExpForward(lse, xh, rows, hid) }},
		{"GCNMeanPoolForward", func() error {
			return GCNMeanPoolForward(pool, xh, b, w2, nil, hid, o, g.Adjacency(), poolScratch)
		}},
		{"GCNEncoderForward", func() error {
			return GCNEncoderForward(pool, x, b, w, bias, w2, nil, f, hid, o, g.Adjacency(), ReLU, encScratch)
		}},
		{"DenseCatForward", func() error { return DenseCatForward(dst, xs, rows, wcat, bias, catIns, hid, Tanh) }},
		{"HeadsForward", func() error { return HeadsForward(dsmall[:rows*3], xh, rows, hw, hb, hid, houts, headsScratch) }},
	}
	for _, c := range cases {
		var err error
		if allocs := testing.AllocsPerRun(50, func() { err = c.f() }); allocs != 0 {
			t.Errorf("%s: %v allocations per call, want 0", c.name, allocs)
		}
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

// TestOpsDoNotAllocate: in steady state the ops' Do (forward) and their
// gradient ops' Do allocate nothing; gorgonia's own bookkeeping around
// them is out of our hands.
func TestOpsDoNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	g := testGraph(t)
	rng := rand.New(rand.NewPCG(4, 4))
	for _, sp := range []spec{
		denseSpec(rng, testN*testB, 4, 3, true, ELU),
		gcnSpec(rng, g, testB, 3, 4, true, Tanh),
		gcnSpec(rng, g, testB, 4, 3, true, Tanh),
		gatSpec(rng, g, testB, 4, 4, 3, true, true, ELU),
		gatSpec(rng, g, testB, 4, 4, 3, false, true, ELU),
		meanPoolSpec(rng, testN, testB, 4),
		logSoftmaxSpec(rng, tensor.Shape{testB, 6}),
		gcnPoolSpec(rng, g, testB, 3, 4, true),
		encoderSpec(rng, g, testB, 3, 6, 4, true, ReLU, true),
		encoderSpec(rng, g, testB, 3, 6, 4, true, Tanh, false),
		encoderSpec(rng, g, testB, 6, 4, 3, true, ReLU, true),
		denseCatSpec(rng, 7, []int{3, 4}, 4, true, Tanh, []bool{false, true}),
		headsSpec(rng, 7, 4, []int{3, 5, 1}, true),
	} {
		run := buildRun(t, sp, sp.data(), randSlice(rng, sp.out.TotalSize(), 1))
		run.exec(t)
		op := run.y.Node().Op().(*fusedOp)
		vals := make([]G.Value, len(run.inputs))
		for i, n := range run.inputs {
			vals[i] = n.Value()
		}
		gy := tensor.New(tensor.WithShape(sp.out.Clone()...), tensor.WithBacking(randSlice(rng, sp.out.TotalSize(), 1)))
		yv, err := op.Do(vals...)
		if err != nil {
			t.Fatal(err)
		}
		diffVals := append(append([]G.Value(nil), vals...), yv, gy)
		var diffs []*fusedDiffOp
		for _, o := range run.grads {
			diffs = append(diffs, o.Node().Op().(*fusedDiffOp))
		}
		step := func() {
			if _, err = op.Do(vals...); err != nil {
				return
			}
			for _, d := range diffs {
				if _, err = d.Do(diffVals...); err != nil {
					return
				}
			}
		}
		if allocs := testing.AllocsPerRun(50, step); allocs != 0 {
			t.Errorf("%v: %v allocations per forward+backward, want 0", op, allocs)
		}
		if err != nil {
			t.Errorf("%v: %v", op, err)
		}
	}
}

// TestBackwardRunsOncePerForward: the gradient ops of one layer share a
// single backward computation per forward run, and a new forward run
// invalidates it.
func TestBackwardRunsOncePerForward(t *testing.T) {
	g := testGraph(t)
	rng := rand.New(rand.NewPCG(8, 8))
	sp := gatSpec(rng, g, testB, 4, 4, 3, true, true, ELU)
	run := buildRun(t, sp, sp.data(), randSlice(rng, sp.out.TotalSize(), 1))
	op := run.y.Node().Op().(*fusedOp)
	counter := &countingLayer{layer: op.l}
	op.l = counter
	for i := 1; i <= 3; i++ {
		run.exec(t)
		if counter.backwards != i {
			t.Fatalf("after %d runs backward ran %d times, want %d (5 gradient nodes)", i, counter.backwards, i)
		}
	}
}

type countingLayer struct {
	layer
	backwards int
}

func (c *countingLayer) backward(in [][]float64, gy []float64, gin [][]float64) {
	c.backwards++
	c.layer.backward(in, gy, gin)
}
