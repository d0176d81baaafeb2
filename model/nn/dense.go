package nn

import (
	"fmt"
	"io"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/grlscaler/grlscaler/model/kernel"
)

// Dense applies y = act(x·W + b) to a batch of rows: x is m x in, W is
// in x out and b, which may be nil, is a vector of length out (a 1-D tensor,
// not a 1 x out matrix, so it can be created with gorgonia.NewVector and
// broadcast over rows without a gorgonia broadcast op). The result is
// m x out.
func Dense(x, w, b *G.Node, act Activation, opts ...Option) (*G.Node, error) {
	m, in, err := matrixShape(x, "x")
	if err != nil {
		return nil, fmt.Errorf("nn.Dense: %w", err)
	}
	win, out, err := matrixShape(w, "W")
	if err != nil {
		return nil, fmt.Errorf("nn.Dense: %w", err)
	}
	if win != in {
		return nil, fmt.Errorf("nn.Dense: W is %d x %d but x has %d columns", win, out, in)
	}
	if err := act.check(); err != nil {
		return nil, fmt.Errorf("nn.Dense: %w", err)
	}
	children := []*G.Node{x, w}
	if b != nil {
		if err := checkVector(b, "b", out); err != nil {
			return nil, fmt.Errorf("nn.Dense: %w", err)
		}
		children = append(children, b)
	}
	return apply(newDenseLayer(m, in, out, b != nil, act), children, opts...)
}

// DenseForward computes dst = act(x·w + b) for row-major x (m x in),
// w (in x out) and b (length out, or nil); dst is m x out. It does not
// allocate. The Dense op's forward is this function.
func DenseForward(dst, x []float64, m int, w, b []float64, in, out int, act Activation) error {
	if err := positive("m, in, out", m, in, out); err != nil {
		return fmt.Errorf("nn.DenseForward: %w", err)
	}
	if err := act.check(); err != nil {
		return fmt.Errorf("nn.DenseForward: %w", err)
	}
	if err := needLen("dst", dst, m*out); err != nil {
		return fmt.Errorf("nn.DenseForward: %w", err)
	}
	if err := needLen("x", x, m*in); err != nil {
		return fmt.Errorf("nn.DenseForward: %w", err)
	}
	if err := needLen("w", w, in*out); err != nil {
		return fmt.Errorf("nn.DenseForward: %w", err)
	}
	if b != nil {
		if err := needLen("b", b, out); err != nil {
			return fmt.Errorf("nn.DenseForward: %w", err)
		}
	}
	denseForward(dst, x, m, w, b, in, out, act)
	return nil
}

func denseForward(dst, x []float64, m int, w, b []float64, in, out int, act Activation) {
	kernel.Gemm(false, false, m, out, in, 1, x, in, w, out, 0, dst, out)
	biasAct(act, dst[:m*out], m, out, b)
}

type denseLayer struct {
	m, in, out int
	bias       bool
	act        Activation
	y, dz      []float64
}

func newDenseLayer(m, in, out int, bias bool, act Activation) *denseLayer {
	return &denseLayer{m: m, in: in, out: out, bias: bias, act: act,
		y: make([]float64, m*out), dz: make([]float64, m*out)}
}

func (l *denseLayer) kind() string { return "Dense" }

func (l *denseLayer) describe(w io.Writer) {
	fmt.Fprintf(w, "%dx%d->%d, bias=%t, %v", l.m, l.in, l.out, l.bias, l.act)
}

func (l *denseLayer) inShapes() []tensor.Shape {
	return withBias([]tensor.Shape{{l.m, l.in}, {l.in, l.out}}, l.bias, l.out)
}

func (l *denseLayer) outShape() tensor.Shape { return tensor.Shape{l.m, l.out} }

func (l *denseLayer) forward(in [][]float64) []float64 {
	var b []float64
	if l.bias {
		b = in[2]
	}
	denseForward(l.y, in[0], l.m, in[1], b, l.in, l.out, l.act)
	return l.y
}

// backward: with dZ = G ⊙ act'(y), dx = dZ·Wᵀ, dW = xᵀ·dZ, db = Σ_rows dZ.
func (l *denseLayer) backward(in [][]float64, gy []float64, gin [][]float64) {
	x, w := in[0], in[1]
	var db []float64
	if l.bias {
		db = gin[2]
	}
	dz := actGrad(l.act, l.dz, gy, l.y, l.m, l.out, db)
	if gin[0] != nil {
		kernel.Gemm(false, true, l.m, l.in, l.out, 1, dz, l.out, w, l.out, 0, gin[0], l.in)
	}
	if gin[1] != nil {
		kernel.Gemm(true, false, l.in, l.out, l.m, 1, x, l.in, dz, l.out, 0, gin[1], l.out)
	}
}
