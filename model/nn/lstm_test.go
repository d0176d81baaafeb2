package nn

import (
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

func lstmSpec(rng *rand.Rand, seqs, steps, in, h int, noGradX bool) spec {
	rows := seqs * steps
	sp := spec{
		name: "LSTM",
		params: []param{
			{"x", tensor.Shape{rows, in}, randSlice(rng, rows*in, 1)},
			{"Wx", tensor.Shape{in, 4 * h}, randSlice(rng, in*4*h, 0.7)},
			{"Wh", tensor.Shape{h, 4 * h}, randSlice(rng, h*4*h, 0.7)},
			{"b", tensor.Shape{4 * h}, randSlice(rng, 4*h, 0.5)},
		},
		out: tensor.Shape{rows, h},
		fwd: func(dst []float64, d [][]float64) error {
			return LSTMForward(dst, d[0], seqs, steps, d[1], d[2], d[3], in, h)
		},
	}
	sp.build = func(n []*G.Node) (*G.Node, error) {
		if noGradX {
			return LSTM(n[0], n[1], n[2], n[3], steps, NoGrad(n[0]))
		}
		return LSTM(n[0], n[1], n[2], n[3], steps)
	}
	if noGradX {
		sp.noGrad = []bool{true}
	}
	return sp
}

// TestGradLSTM checks backpropagation through time against finite
// differences, for every input, over 3 sequences of 5 steps; and that the
// op's output equals acting step by step (LSTMStep).
func TestGradLSTM(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 11))
	checkGradients(t, lstmSpec(rng, 3, 5, 4, 3, false), 1)
	t.Run("observations are data", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(2, 11))
		checkGradients(t, lstmSpec(rng, 2, 4, 3, 2, true), 2)
	})
}

func TestLSTMRejectsBadShapes(t *testing.T) {
	g := G.NewGraph()
	mk := func(shape ...int) *G.Node {
		if len(shape) == 1 {
			return G.NewVector(g, tensor.Float64, G.WithShape(shape...))
		}
		return G.NewMatrix(g, tensor.Float64, G.WithShape(shape...))
	}
	x, wx, wh, b := mk(6, 4), mk(4, 12), mk(3, 12), mk(12)
	if _, err := LSTM(x, wx, wh, b, 4); err == nil {
		t.Error("6 rows accepted as sequences of 4 steps")
	}
	if _, err := LSTM(x, mk(4, 10), wh, b, 3); err == nil {
		t.Error("a Wx whose width is not 4H accepted")
	}
	if _, err := LSTM(x, wx, mk(2, 12), b, 3); err == nil {
		t.Error("a Wh of the wrong height accepted")
	}
	if _, err := LSTM(x, wx, wh, b, 3); err != nil {
		t.Errorf("2 sequences of 3 steps: %v", err)
	}
}
