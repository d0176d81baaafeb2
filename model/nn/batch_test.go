package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	"gorgonia.org/tensor"
)

// batchCase builds a layer spec for a given batch size; x is params[0] and
// the other parameters do not depend on the batch size.
type batchCase struct {
	name      string
	mk        func(rng *rand.Rand, batch int) spec
	xCols     int
	nodeMajor bool // output is node-major (N*B rows) rather than B rows
}

func batchCases(g *Graph) []batchCase {
	return []batchCase{
		{"GCN/aggregate-first", func(rng *rand.Rand, b int) spec { return gcnSpec(rng, g, b, 3, 5, true, Tanh) }, 3, true},
		{"GCN/transform-first", func(rng *rand.Rand, b int) spec { return gcnSpec(rng, g, b, 5, 3, true, ELU) }, 5, true},
		{"GAT/4x3-concat", func(rng *rand.Rand, b int) spec { return gatSpec(rng, g, b, 4, 4, 3, true, true, ELU) }, 4, true},
		{"GAT/4x3-mean", func(rng *rand.Rand, b int) spec { return gatSpec(rng, g, b, 4, 4, 3, false, true, ELU) }, 4, true},
		{"Dense", func(rng *rand.Rand, b int) spec { return denseSpec(rng, testN*b, 4, 3, true, Tanh) }, 4, true},
		{"MeanPool", func(rng *rand.Rand, b int) spec { return meanPoolSpec(rng, testN, b, 4) }, 4, false},
	}
}

// TestBatchingIsPerSample checks that a batched op is B independent
// single-sample ops: each sample's output and input gradient equal those of
// a B = 1 run on that sample alone, parameter gradients are the sum of the
// per-sample ones, and different samples get different gradients (nothing
// is shared or broadcast across the batch).
func TestBatchingIsPerSample(t *testing.T) {
	g := testGraph(t)
	for ci, c := range batchCases(g) {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(ci), 11))
			full := c.mk(rng, testB)
			width := full.out[1]
			r := randSlice(rng, full.out.TotalSize(), 1)
			run := buildRun(t, full, full.data(), r)
			run.exec(t)
			y, gx := run.y.Float64s(), run.gradData(0)

			paramSum := make([][]float64, len(full.params))
			for i, p := range full.params {
				paramSum[i] = make([]float64, len(p.data))
			}
			var gxSamples [][]float64
			for s := 0; s < testB; s++ {
				one := c.mk(rand.New(rand.NewPCG(1, 1)), 1)
				one.params[0].data = sampleRows(full.params[0].data, testN, testB, c.xCols, s)
				for i := 1; i < len(one.params); i++ {
					one.params[i].data = full.params[i].data
				}
				var rs, ys []float64
				if c.nodeMajor {
					rs = sampleRows(r, testN, testB, width, s)
					ys = sampleRows(y, testN, testB, width, s)
				} else {
					rs = r[s*width : (s+1)*width]
					ys = y[s*width : (s+1)*width]
				}
				single := buildRun(t, one, one.data(), rs)
				single.exec(t)
				assertClose(t, "output of sample", ys, single.y.Float64s(), 1e-12)
				gxs := sampleRows(gx, testN, testB, c.xCols, s)
				assertClose(t, "x gradient of sample", gxs, single.gradData(0), 1e-12)
				gxSamples = append(gxSamples, gxs)
				for i := 1; i < len(one.params); i++ {
					for k, v := range single.gradData(i) {
						paramSum[i][k] += v
					}
				}
			}
			for i := 1; i < len(full.params); i++ {
				assertClose(t, full.params[i].name+" gradient vs sum over samples", run.gradData(i), paramSum[i], 1e-10)
			}
			if d := maxAbsDiff(gxSamples[0], gxSamples[1]); d < 1e-3 {
				t.Errorf("x gradients of samples 0 and 1 differ by only %g", d)
			}
		})
	}
}

func assertClose(t *testing.T, what string, got, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if d := math.Abs(got[i] - want[i]); d > tol*math.Max(1, math.Abs(want[i])) || math.IsNaN(got[i]) {
			t.Fatalf("%s: [%d] = %.15g, want %.15g", what, i, got[i], want[i])
		}
	}
}

func maxAbsDiff(a, b []float64) float64 {
	d := 0.0
	for i := range a {
		d = max(d, math.Abs(a[i]-b[i]))
	}
	return d
}

// TestGraphStructure checks Â and the neighbour lists of the test graph.
func TestGraphStructure(t *testing.T) {
	g := testGraph(t)
	// Symmetric closure with self-loops: degrees 0:3 1:4 2:3 3:4 4:3.
	wantNbr := [][]int{{0, 1, 2}, {0, 1, 3, 4}, {0, 2, 3}, {1, 2, 3, 4}, {1, 3, 4}}
	deg := []float64{3, 4, 3, 4, 3}
	for i, want := range wantNbr {
		got := g.Neighbors(i)
		if len(got) != len(want) {
			t.Fatalf("Neighbors(%d) = %v, want %v", i, got, want)
		}
		for k := range got {
			if got[k] != want[k] {
				t.Fatalf("Neighbors(%d) = %v, want %v", i, got, want)
			}
		}
	}
	a := g.Adjacency()
	for i := 0; i < testN; i++ {
		for j := 0; j < testN; j++ {
			want := 0.0
			for _, k := range wantNbr[i] {
				if k == j {
					want = 1 / math.Sqrt(deg[i]*deg[j])
				}
			}
			if got := a.At(i, j); math.Abs(got-want) > 1e-15 || a.At(j, i) != got {
				t.Errorf("Â[%d][%d] = %v, want %v (and symmetric)", i, j, got, want)
			}
		}
	}
	for _, bad := range [][][2]int{{{0, 5}}, {{-1, 2}}} {
		if _, err := NewGraph(testN, bad); err == nil {
			t.Errorf("NewGraph accepted out-of-range edge %v", bad)
		}
	}
	if _, err := NewGraph(0, nil); err == nil {
		t.Error("NewGraph accepted 0 nodes")
	}
	// A graph with no edges is N isolated self-loops: Â = I.
	iso, err := NewGraph(2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if iso.Adjacency().At(0, 0) != 1 || iso.Adjacency().At(0, 1) != 0 {
		t.Error("edgeless graph: Â is not the identity")
	}
}

// TestBuilderErrors checks that shape mistakes are reported at build time.
func TestBuilderErrors(t *testing.T) {
	g := testGraph(t)
	rng := rand.New(rand.NewPCG(1, 1))
	sp := gcnSpec(rng, g, testB, 3, 4, true, Tanh)
	gg := newTestExprGraph()
	x := newInput(gg, "x", tensor.Shape{testN*testB + 1, 3}, make([]float64, (testN*testB+1)*3))
	w := newInput(gg, "W", sp.params[1].shape, sp.params[1].data)
	b := newInput(gg, "b", tensor.Shape{5}, make([]float64, 5))
	if _, err := GCN(x, w, nil, g.Adjacency(), Tanh); err == nil {
		t.Error("GCN accepted rows not a multiple of N")
	}
	if _, err := Dense(w, w, nil, Tanh); err == nil {
		t.Error("Dense accepted mismatched W")
	}
	x2 := newInput(gg, "x2", tensor.Shape{testN * testB, 3}, make([]float64, testN*testB*3))
	if _, err := GCN(x2, w, b, g.Adjacency(), Tanh); err == nil {
		t.Error("GCN accepted a bias of the wrong length")
	}
	if _, err := GAT(x2, w, b, b, nil, g, 2, 2, true, ELU); err == nil {
		t.Error("GAT accepted W of the wrong width")
	}
	if _, err := MeanPool(x, testN); err == nil {
		t.Error("MeanPool accepted rows not a multiple of N")
	}
	if _, err := Dense(x2, w, nil, Activation(99)); err == nil {
		t.Error("Dense accepted an unknown activation")
	}
}
