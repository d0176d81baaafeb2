package nn

import (
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// netSpec is a small actor with every layer: GCN (tanh) -> GAT 4 heads
// concat (ELU) -> GAT 1 head mean (ELU) -> MeanPool -> Dense (tanh) ->
// Dense -> LogSoftmax. Its fwd chains the plain forward functions, the
// single-observation inference path.
func netSpec(rng *rand.Rand, g *Graph, batch int) spec {
	const f, h1, heads, o2, o3, hid, acts = 4, 6, 4, 3, 5, 7, 3
	n := g.Nodes()
	rows := n * batch
	p := func(name string, shape tensor.Shape, scale float64) param {
		return param{name, shape, randSlice(rng, shape.TotalSize(), scale)}
	}
	ps := []param{
		p("x", tensor.Shape{rows, f}, 1),
		p("W1", tensor.Shape{f, h1}, 0.7), p("b1", tensor.Shape{h1}, 0.1),
		p("W2", tensor.Shape{h1, heads * o2}, 0.7), p("aSrc2", tensor.Shape{heads * o2}, 0.7),
		p("aDst2", tensor.Shape{heads * o2}, 0.7), p("b2", tensor.Shape{heads * o2}, 0.1),
		p("W3", tensor.Shape{heads * o2, o3}, 0.7), p("aSrc3", tensor.Shape{o3}, 0.7),
		p("aDst3", tensor.Shape{o3}, 0.7), p("b3", tensor.Shape{o3}, 0.1),
		p("W4", tensor.Shape{o3, hid}, 0.7), p("b4", tensor.Shape{hid}, 0.1),
		p("W5", tensor.Shape{hid, acts}, 0.7), p("b5", tensor.Shape{acts}, 0.1),
	}
	return spec{
		name:   "net",
		params: ps,
		out:    tensor.Shape{batch, acts},
		build: func(in []*G.Node) (*G.Node, error) {
			h, err := GCN(in[0], in[1], in[2], g.Adjacency(), Tanh)
			if err != nil {
				return nil, err
			}
			if h, err = GAT(h, in[3], in[4], in[5], in[6], g, heads, o2, true, ELU); err != nil {
				return nil, err
			}
			if h, err = GAT(h, in[7], in[8], in[9], in[10], g, 1, o3, false, ELU); err != nil {
				return nil, err
			}
			if h, err = MeanPool(h, n); err != nil {
				return nil, err
			}
			if h, err = Dense(h, in[11], in[12], Tanh); err != nil {
				return nil, err
			}
			if h, err = Dense(h, in[13], in[14], Identity); err != nil {
				return nil, err
			}
			return LogSoftmax(h)
		},
		fwd: func(dst []float64, d [][]float64) error {
			h1v := make([]float64, rows*h1)
			h2v := make([]float64, rows*heads*o2)
			h3v := make([]float64, rows*o3)
			pool := make([]float64, batch*o3)
			hv := make([]float64, batch*hid)
			if err := GCNForward(h1v, d[0], batch, d[1], d[2], f, h1, g.Adjacency(), Tanh, nil); err != nil {
				return err
			}
			if err := GATForward(h2v, h1v, batch, d[3], d[4], d[5], d[6], h1, g, heads, o2, true, ELU, nil); err != nil {
				return err
			}
			if err := GATForward(h3v, h2v, batch, d[7], d[8], d[9], d[10], heads*o2, g, 1, o3, false, ELU, nil); err != nil {
				return err
			}
			if err := MeanPoolForward(pool, h3v, n, batch, o3); err != nil {
				return err
			}
			if err := DenseForward(hv, pool, batch, d[11], d[12], o3, hid, Tanh); err != nil {
				return err
			}
			if err := DenseForward(dst, hv, batch, d[13], d[14], hid, acts, Identity); err != nil {
				return err
			}
			return LogSoftmaxForward(dst, dst, batch, acts)
		},
	}
}

type snapshot struct {
	y     []float64
	loss  float64
	grads [][]float64
}

func snap(t *testing.T, run *graphRun) snapshot {
	t.Helper()
	l, err := run.loss.Scalar()
	if err != nil {
		t.Fatal(err)
	}
	s := snapshot{y: append([]float64(nil), run.y.Float64s()...), loss: l}
	for i := range run.grads {
		s.grads = append(s.grads, append([]float64(nil), run.gradData(i)...))
	}
	return s
}

func assertSameRun(t *testing.T, what string, got, want snapshot) {
	t.Helper()
	assertClose(t, what+": output", got.y, want.y, 1e-13)
	assertClose(t, what+": loss", []float64{got.loss}, []float64{want.loss}, 1e-13)
	for i := range want.grads {
		assertClose(t, what+": gradient", got.grads[i], want.grads[i], 1e-13)
	}
}

// TestMachineReuse runs one compiled TapeMachine over new data, the way
// training does (copy into the input tensors' backing arrays, Reset,
// RunAll), and checks it against a freshly built graph each time.
func TestMachineReuse(t *testing.T) {
	g := testGraph(t)
	rng := rand.New(rand.NewPCG(5, 5))
	sp := netSpec(rng, g, testB)
	r := randSlice(rng, sp.out.TotalSize(), 1)
	data1 := sp.data()
	data2 := sp.data()
	for _, d := range data2 {
		for i := range d {
			d[i] += 0.3 * (2*rng.Float64() - 1)
		}
	}

	reused := buildRun(t, sp, data1, r)
	reused.exec(t)
	first := snap(t, reused)

	setInputs := func(data [][]float64) {
		for i, n := range reused.inputs {
			copy(n.Value().(*tensor.Dense).Float64s(), data[i])
		}
	}
	fresh := func(data [][]float64) snapshot {
		run := buildRun(t, sp, data, r)
		run.exec(t)
		return snap(t, run)
	}

	setInputs(data2)
	reused.exec(t)
	second := snap(t, reused)
	assertSameRun(t, "run 2 (new data)", second, fresh(data2))
	if maxAbsDiff(first.y, second.y) < 1e-6 {
		t.Fatal("new input data did not change the output")
	}

	setInputs(data1)
	reused.exec(t)
	assertSameRun(t, "run 3 (original data again)", snap(t, reused), first)

	// The plain forward path (inference) gives the graph's output.
	dst := make([]float64, sp.out.TotalSize())
	if err := sp.fwd(dst, data1); err != nil {
		t.Fatal(err)
	}
	assertClose(t, "forward functions vs graph", dst, first.y, 1e-14)
}

// TestGradNet checks the gradients of the whole network by finite
// differences, so the ops compose (gradients flow from op to op).
func TestGradNet(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	checkGradients(t, netSpec(rng, testGraph(t), testB), 6)
}

// TestOpsAreNotMerged: gorgonia merges nodes whose op hashes and children
// are equal; two layer instances over the same inputs must stay distinct
// nodes, because each op owns its stashed activations.
func TestOpsAreNotMerged(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	sp := denseSpec(rng, 4, 3, 2, true, Tanh)
	gg := G.NewGraph()
	var in []*G.Node
	for _, p := range sp.params {
		in = append(in, newInput(gg, p.name, p.shape, p.data))
	}
	a, err := Dense(in[0], in[1], in[2], Tanh)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Dense(in[0], in[1], in[2], Tanh)
	if err != nil {
		t.Fatal(err)
	}
	if a == b || a.Op() == b.Op() {
		t.Fatal("two Dense layers over the same inputs were merged into one node")
	}
}

// TestUsePreallocDo: the ops write into a matching preallocated tensor and
// refuse a mismatched one (so the machine falls back to Do).
func TestUsePreallocDo(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	sp := gatSpec(rng, testGraph(t), testB, 4, 2, 3, true, true, ELU)
	run := buildRun(t, sp, sp.data(), randSlice(rng, sp.out.TotalSize(), 1))
	run.exec(t)
	op := run.y.Node().Op().(*fusedOp)
	vals := make([]G.Value, len(run.inputs))
	for i, n := range run.inputs {
		vals[i] = n.Value()
	}
	pre := tensor.New(tensor.WithShape(sp.out.Clone()...), tensor.Of(tensor.Float64))
	v, err := op.UsePreallocDo(pre, vals...)
	if err != nil || v != G.Value(pre) {
		t.Fatalf("UsePreallocDo = %v, %v; want the preallocated tensor", v, err)
	}
	assertClose(t, "UsePreallocDo output", pre.Float64s(), run.y.Float64s(), 0)
	bad := tensor.New(tensor.WithShape(sp.out[0], sp.out[1]+1), tensor.Of(tensor.Float64))
	if _, err := op.UsePreallocDo(bad, vals...); err == nil {
		t.Fatal("UsePreallocDo accepted a tensor of the wrong shape")
	}

	diff := run.grads[1].Node().Op().(*fusedDiffOp)
	gy := tensor.New(tensor.WithShape(sp.out.Clone()...), tensor.WithBacking(randSlice(rng, sp.out.TotalSize(), 1)))
	gpre := tensor.New(tensor.WithShape(sp.params[1].shape.Clone()...), tensor.Of(tensor.Float64))
	yv, err := op.Do(vals...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := diff.UsePreallocDo(gpre, append(vals, yv, gy)...); err != nil {
		t.Fatal(err)
	}
	want, err := diff.Do(append(vals, yv, gy)...)
	if err != nil {
		t.Fatal(err)
	}
	assertClose(t, "UsePreallocDo gradient", gpre.Float64s(), want.(*tensor.Dense).Float64s(), 0)
}

// TestOutputBeforeGrad: outputs may be registered before gorgonia.Grad adds
// the backward nodes.
func TestOutputBeforeGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	sp := denseSpec(rng, 6, 3, 2, true, Tanh)
	g := G.NewGraph()
	var in []*G.Node
	for _, p := range sp.params {
		in = append(in, newInput(g, p.name, p.shape, p.data))
	}
	y := G.Must(Dense(in[0], in[1], in[2], Tanh))
	yOut, err := NewOutput(y)
	if err != nil {
		t.Fatal(err)
	}
	loss := G.Must(G.Sum(y))
	grads, err := G.Grad(loss, in[1])
	if err != nil {
		t.Fatal(err)
	}
	gOut, err := NewOutput(grads[0])
	if err != nil {
		t.Fatal(err)
	}
	m := G.NewTapeMachine(g)
	defer m.Close()
	if err := m.RunAll(); err != nil {
		t.Fatal(err)
	}
	want := make([]float64, 12)
	if err := sp.fwd(want, sp.data()); err != nil {
		t.Fatal(err)
	}
	assertClose(t, "output", yOut.Float64s(), want, 0)
	if len(gOut.Float64s()) != 6 {
		t.Fatalf("gradient has %d values, want 6", len(gOut.Float64s()))
	}
}
