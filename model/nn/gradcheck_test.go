package nn

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"gorgonia.org/tensor"
)

// Gradient checks: every op, every differentiable input, through a full
// gorgonia graph (loss = Σ op(...) ⊙ R, gorgonia.Grad, TapeMachine.RunAll)
// against central finite differences (step 1e-6) of the plain forward
// functions, B = 3 samples of the 5-node test graph.

func TestGradDense(t *testing.T) {
	for i, act := range []Activation{Identity, Tanh, ReLU, ELU} {
		t.Run(act.String(), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(i), 1))
			checkGradients(t, denseSpec(rng, testN*testB, 4, 3, true, act), uint64(i))
		})
	}
	t.Run("nobias", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(9, 1))
		checkGradients(t, denseSpec(rng, testN*testB, 4, 3, false, Tanh), 9)
	})
}

func TestGradGCN(t *testing.T) {
	g := testGraph(t)
	cases := []struct {
		in, out int
		bias    bool
		act     Activation
	}{
		{3, 4, true, Tanh},     // in < out: aggregate first
		{4, 3, true, Tanh},     // in >= out: transform first
		{4, 4, false, ReLU},    // equal sizes, no bias
		{2, 6, true, ELU},      // aggregate first
		{5, 2, true, Identity}, // transform first
	}
	for i, c := range cases {
		t.Run(fmt.Sprintf("%d->%d/%v/bias=%t", c.in, c.out, c.act, c.bias), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(i), 2))
			checkGradients(t, gcnSpec(rng, g, testB, c.in, c.out, c.bias, c.act), uint64(i))
		})
	}
}

func TestGradGAT(t *testing.T) {
	g := testGraph(t)
	cases := []struct {
		heads  int
		concat bool
		bias   bool
		act    Activation
	}{
		{1, true, true, ELU},
		{4, true, true, ELU},
		{1, false, true, ELU},
		{4, false, true, ELU},
		{4, true, false, Identity},
		{2, false, true, Tanh},
	}
	for i, c := range cases {
		t.Run(fmt.Sprintf("heads=%d/concat=%t/%v/bias=%t", c.heads, c.concat, c.act, c.bias), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(i), 3))
			checkGradients(t, gatSpec(rng, g, testB, 4, c.heads, 3, c.concat, c.bias, c.act), uint64(i))
		})
	}
}

func TestGradMeanPool(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 4))
	checkGradients(t, meanPoolSpec(rng, testN, testB, 4), 1)
}

func TestGradLogSoftmax(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 5))
	t.Run("matrix", func(t *testing.T) { checkGradients(t, logSoftmaxSpec(rng, tensor.Shape{testB, 6}), 1) })
	t.Run("vector", func(t *testing.T) { checkGradients(t, logSoftmaxSpec(rng, tensor.Shape{6}), 2) })
}
