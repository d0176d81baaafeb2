package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Test sizes: B samples of an N-node graph.
const (
	testN = 5
	testB = 3
)

// testEdges is a small call graph: 0 -> 1, 0 -> 2, 1 -> 3, 2 -> 3, 3 -> 4
// and a 1 <-> 4 cycle. Node 0 (the "frontend") has no in-edges, and the
// pair 1 <-> 4 checks that mutual calls are not double-counted.
var testEdges = [][2]int{{0, 1}, {0, 2}, {1, 3}, {2, 3}, {3, 4}, {4, 1}, {1, 4}}

func testGraph(t testing.TB) *Graph {
	t.Helper()
	g, err := NewGraph(testN, testEdges)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func randSlice(rng *rand.Rand, n int, scale float64) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = (2*rng.Float64() - 1) * scale
	}
	return s
}

// param is one input of a layer under test.
type param struct {
	name  string
	shape tensor.Shape
	data  []float64
}

// spec describes a layer under test: its gorgonia builder and the plain
// forward function that must compute the same thing.
type spec struct {
	name   string
	params []param
	out    tensor.Shape
	build  func(in []*G.Node) (*G.Node, error)
	fwd    func(dst []float64, in [][]float64) error
	// noGrad marks inputs the layer is built with NoGrad for: they get no
	// gradient.
	noGrad []bool
}

func (sp spec) wantsGrad(i int) bool { return i >= len(sp.noGrad) || !sp.noGrad[i] }

func (sp spec) data() [][]float64 {
	d := make([][]float64, len(sp.params))
	for i, p := range sp.params {
		d[i] = append([]float64(nil), p.data...)
	}
	return d
}

func newInput(g *G.ExprGraph, name string, shape tensor.Shape, data []float64) *G.Node {
	v := tensor.New(tensor.WithShape(shape.Clone()...), tensor.WithBacking(append([]float64(nil), data...)))
	if shape.Dims() == 1 {
		return G.NewVector(g, tensor.Float64, G.WithShape(shape.Clone()...), G.WithName(name), G.WithValue(v))
	}
	return G.NewMatrix(g, tensor.Float64, G.WithShape(shape.Clone()...), G.WithName(name), G.WithValue(v))
}

// graphRun is a compiled loss = Σ layer(params) ⊙ R with its gradients.
type graphRun struct {
	m      G.VM
	inputs []*G.Node
	y      *Output
	loss   *Output
	grads  []*Output
}

func buildRun(t testing.TB, sp spec, data [][]float64, r []float64) *graphRun {
	t.Helper()
	g := G.NewGraph()
	run := &graphRun{}
	for i, p := range sp.params {
		run.inputs = append(run.inputs, newInput(g, p.name, p.shape, data[i]))
	}
	y, err := sp.build(run.inputs)
	if err != nil {
		t.Fatalf("%s: build: %v", sp.name, err)
	}
	if !y.Shape().Eq(sp.out) {
		t.Fatalf("%s: output shape %v, want %v", sp.name, y.Shape(), sp.out)
	}
	rn := newInput(g, "R", sp.out, r)
	loss := G.Must(G.Sum(G.Must(G.HadamardProd(y, rn))))
	var wrt G.Nodes
	for i, n := range run.inputs {
		if sp.wantsGrad(i) {
			wrt = append(wrt, n)
		}
	}
	grads, err := G.Grad(loss, wrt...)
	if err != nil {
		t.Fatalf("%s: Grad: %v", sp.name, err)
	}
	if run.y, err = NewOutput(y); err != nil {
		t.Fatal(err)
	}
	if run.loss, err = NewOutput(loss); err != nil {
		t.Fatal(err)
	}
	for _, gn := range grads {
		o, err := NewOutput(gn)
		if err != nil {
			t.Fatal(err)
		}
		run.grads = append(run.grads, o)
	}
	run.m = G.NewTapeMachine(g)
	t.Cleanup(func() { run.m.Close() })
	return run
}

func (run *graphRun) exec(t testing.TB) {
	t.Helper()
	run.m.Reset()
	if err := run.m.RunAll(); err != nil {
		t.Fatal(err)
	}
}

func (run *graphRun) gradData(i int) []float64 { return run.grads[i].Float64s() }

// lossAt evaluates Σ fwd(in) ⊙ R with the plain forward function.
func lossAt(t testing.TB, sp spec, in [][]float64, r, dst []float64) float64 {
	t.Helper()
	if err := sp.fwd(dst, in); err != nil {
		t.Fatalf("%s: forward: %v", sp.name, err)
	}
	var l float64
	for i, v := range dst {
		l += v * r[i]
	}
	return l
}

// gradErr compares an analytic gradient with a central difference and
// returns whether they agree: relative error <= relTol, or absolute error
// <= absTol for gradients that are ~0 (where relative error is noise).
const (
	fdStep = 1e-6
	relTol = 1e-6
	absTol = 1e-8
)

func agree(a, n float64) (rel float64, ok bool) {
	d := math.Abs(a - n)
	scale := math.Max(math.Abs(a), math.Abs(n))
	if scale > 0 {
		rel = d / scale
	}
	return rel, rel <= relTol || d <= absTol
}

// checkGradients runs the layer through a TapeMachine, checks its output
// against the plain forward function, and every input gradient against
// central finite differences of the plain forward function.
func checkGradients(t *testing.T, sp spec, seed uint64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	r := randSlice(rng, sp.out.TotalSize(), 1)
	data := sp.data()
	run := buildRun(t, sp, data, r)
	run.exec(t)

	dst := make([]float64, sp.out.TotalSize())
	if err := sp.fwd(dst, data); err != nil {
		t.Fatal(err)
	}
	for i, v := range run.y.Float64s() {
		if v != dst[i] {
			t.Fatalf("%s: graph output[%d] = %v, forward function gives %v", sp.name, i, v, dst[i])
		}
	}

	worst := 0.0
	gi := 0
	for pi, p := range sp.params {
		if !sp.wantsGrad(pi) {
			continue
		}
		got := run.gradData(gi)
		gi++
		if len(got) != len(p.data) {
			t.Fatalf("%s: gradient of %s has %d values, want %d", sp.name, p.name, len(got), len(p.data))
		}
		for k := range p.data {
			orig := data[pi][k]
			data[pi][k] = orig + fdStep
			lp := lossAt(t, sp, data, r, dst)
			data[pi][k] = orig - fdStep
			lm := lossAt(t, sp, data, r, dst)
			data[pi][k] = orig
			num := (lp - lm) / (2 * fdStep)
			rel, ok := agree(got[k], num)
			if !ok {
				t.Errorf("%s: d loss/d %s[%d] = %.12g, finite difference %.12g (rel err %.3g)", sp.name, p.name, k, got[k], num, rel)
			}
			if math.Abs(num) > 1e-4 {
				worst = max(worst, rel)
			}
		}
	}
	t.Logf("%s: %d gradients checked, max relative error %.2g (gradients > 1e-4)", sp.name, countParams(sp), worst)
}

func countParams(sp spec) int {
	n := 0
	for _, p := range sp.params {
		n += len(p.data)
	}
	return n
}

// Layer specs with B = testB samples of the testN-node graph.

func denseSpec(rng *rand.Rand, m, in, out int, bias bool, act Activation) spec {
	ps := []param{
		{"x", tensor.Shape{m, in}, randSlice(rng, m*in, 1)},
		{"W", tensor.Shape{in, out}, randSlice(rng, in*out, 1)},
	}
	if bias {
		ps = append(ps, param{"b", tensor.Shape{out}, randSlice(rng, out, 0.5)})
	}
	return spec{
		name:   "Dense/" + act.String(),
		params: ps,
		out:    tensor.Shape{m, out},
		build: func(n []*G.Node) (*G.Node, error) {
			var b *G.Node
			if bias {
				b = n[2]
			}
			return Dense(n[0], n[1], b, act)
		},
		fwd: func(dst []float64, d [][]float64) error {
			var b []float64
			if bias {
				b = d[2]
			}
			return DenseForward(dst, d[0], m, d[1], b, in, out, act)
		},
	}
}

func gcnSpec(rng *rand.Rand, g *Graph, batch, in, out int, bias bool, act Activation) spec {
	rows := g.Nodes() * batch
	ps := []param{
		{"x", tensor.Shape{rows, in}, randSlice(rng, rows*in, 1)},
		{"W", tensor.Shape{in, out}, randSlice(rng, in*out, 1)},
	}
	if bias {
		ps = append(ps, param{"b", tensor.Shape{out}, randSlice(rng, out, 0.5)})
	}
	return spec{
		name:   "GCN",
		params: ps,
		out:    tensor.Shape{rows, out},
		build: func(n []*G.Node) (*G.Node, error) {
			var b *G.Node
			if bias {
				b = n[2]
			}
			return GCN(n[0], n[1], b, g.Adjacency(), act)
		},
		fwd: func(dst []float64, d [][]float64) error {
			var b []float64
			if bias {
				b = d[2]
			}
			return GCNForward(dst, d[0], batch, d[1], b, in, out, g.Adjacency(), act, nil)
		},
	}
}

func gatSpec(rng *rand.Rand, g *Graph, batch, in, heads, out int, concat, bias bool, act Activation) spec {
	rows := g.Nodes() * batch
	width := out
	if concat {
		width = heads * out
	}
	ps := []param{
		{"x", tensor.Shape{rows, in}, randSlice(rng, rows*in, 1)},
		{"W", tensor.Shape{in, heads * out}, randSlice(rng, in*heads*out, 1)},
		{"aSrc", tensor.Shape{heads * out}, randSlice(rng, heads*out, 1)},
		{"aDst", tensor.Shape{heads * out}, randSlice(rng, heads*out, 1)},
	}
	if bias {
		ps = append(ps, param{"b", tensor.Shape{width}, randSlice(rng, width, 0.5)})
	}
	return spec{
		name:   "GAT",
		params: ps,
		out:    tensor.Shape{rows, width},
		build: func(n []*G.Node) (*G.Node, error) {
			var b *G.Node
			if bias {
				b = n[4]
			}
			return GAT(n[0], n[1], n[2], n[3], b, g, heads, out, concat, act)
		},
		fwd: func(dst []float64, d [][]float64) error {
			var b []float64
			if bias {
				b = d[4]
			}
			return GATForward(dst, d[0], batch, d[1], d[2], d[3], b, in, g, heads, out, concat, act, nil)
		},
	}
}

func meanPoolSpec(rng *rand.Rand, nodes, batch, h int) spec {
	return spec{
		name:   "MeanPool",
		params: []param{{"x", tensor.Shape{nodes * batch, h}, randSlice(rng, nodes*batch*h, 1)}},
		out:    tensor.Shape{batch, h},
		build:  func(n []*G.Node) (*G.Node, error) { return MeanPool(n[0], nodes) },
		fwd: func(dst []float64, d [][]float64) error {
			return MeanPoolForward(dst, d[0], nodes, batch, h)
		},
	}
}

func logSoftmaxSpec(rng *rand.Rand, shape tensor.Shape) spec {
	m, k := 1, shape[0]
	if shape.Dims() == 2 {
		m, k = shape[0], shape[1]
	}
	return spec{
		name:   "LogSoftmax",
		params: []param{{"x", shape, randSlice(rng, m*k, 3)}},
		out:    shape,
		build:  func(n []*G.Node) (*G.Node, error) { return LogSoftmax(n[0]) },
		fwd: func(dst []float64, d [][]float64) error {
			return LogSoftmaxForward(dst, d[0], m, k)
		},
	}
}

// sampleRows extracts sample s of a node-major (nodes*batch) x k matrix.
func sampleRows(x []float64, nodes, batch, k, s int) []float64 {
	out := make([]float64, 0, nodes*k)
	for n := 0; n < nodes; n++ {
		r := n*batch + s
		out = append(out, x[r*k:r*k+k]...)
	}
	return out
}

func newTestExprGraph() *G.ExprGraph { return G.NewGraph() }
