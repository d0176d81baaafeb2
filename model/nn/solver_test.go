package nn

import (
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
)

// TestTrainsWithGorgoniaSolver: the gradient nodes work with gorgonia's
// dual-value binding (BindDualValues) and solvers, and a few Adam steps on
// the test network reduce a fixed loss.
func TestTrainsWithGorgoniaSolver(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 12))
	gr := testGraph(t)
	sp := netSpec(rng, gr, testB)
	g := G.NewGraph()
	var in []*G.Node
	for _, p := range sp.params {
		in = append(in, newInput(g, p.name, p.shape, p.data))
	}
	logp, err := sp.build(in)
	if err != nil {
		t.Fatal(err)
	}
	// Maximise the log-probability of action 0 in every sample.
	target := newInput(g, "target", sp.out, oneHot(sp.out[0], sp.out[1]))
	loss := G.Must(G.Neg(G.Must(G.Sum(G.Must(G.HadamardProd(logp, target))))))
	params := in[1:]
	if _, err := G.Grad(loss, params...); err != nil {
		t.Fatal(err)
	}
	lossOut, err := NewOutput(loss)
	if err != nil {
		t.Fatal(err)
	}
	m := G.NewTapeMachine(g, G.BindDualValues(params...))
	defer m.Close()
	solver := G.NewAdamSolver(G.WithLearnRate(0.01))
	var first, last float64
	for step := 0; step < 30; step++ {
		m.Reset()
		if err := m.RunAll(); err != nil {
			t.Fatal(err)
		}
		l, err := lossOut.Scalar()
		if err != nil {
			t.Fatal(err)
		}
		if step == 0 {
			first = l
		}
		last = l
		if err := solver.Step(G.NodesToValueGrads(params)); err != nil {
			t.Fatal(err)
		}
	}
	if !(last < 0.8*first) {
		t.Fatalf("loss went from %v to %v in 30 Adam steps", first, last)
	}
	t.Logf("loss %v -> %v", first, last)
}

func oneHot(rows, cols int) []float64 {
	d := make([]float64, rows*cols)
	for r := 0; r < rows; r++ {
		d[r*cols] = 1
	}
	return d
}
