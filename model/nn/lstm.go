package nn

import (
	"fmt"
	"io"
	"math"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/grlscaler/grlscaler/model/kernel"
)

// LSTM runs a one-layer LSTM (Hochreiter and Schmidhuber 1997, with the
// forget gate of Gers et al. 2000, as PyTorch's nn.LSTM computes it) over
// sequences: x is (S*T) x in, S sequences of T steps, sequence-major (row
// s*T+t is step t of sequence s); every sequence starts from a zero state.
// wx is in x 4H, wh is H x 4H and b a vector of 4H, the gates in the order
// input, forget, cell, output. The result is the hidden states, (S*T) x H.
// Backward is backpropagation through time over each whole sequence.
//
// Rows after the end of a shorter sequence may be padding: they come after
// its real steps, so they never change them, and a loss that ignores them
// gives them no gradient.
func LSTM(x, wx, wh, b *G.Node, steps int, opts ...Option) (*G.Node, error) {
	rows, in, err := matrixShape(x, "x")
	if err != nil {
		return nil, fmt.Errorf("nn.LSTM: %w", err)
	}
	win, g4, err := matrixShape(wx, "Wx")
	if err != nil {
		return nil, fmt.Errorf("nn.LSTM: %w", err)
	}
	if win != in || g4%4 != 0 {
		return nil, fmt.Errorf("nn.LSTM: Wx is %d x %d, want %d x 4H", win, g4, in)
	}
	h := g4 / 4
	hr, hc, err := matrixShape(wh, "Wh")
	if err != nil {
		return nil, fmt.Errorf("nn.LSTM: %w", err)
	}
	if hr != h || hc != g4 {
		return nil, fmt.Errorf("nn.LSTM: Wh is %d x %d, want %d x %d", hr, hc, h, g4)
	}
	if err := checkVector(b, "b", g4); err != nil {
		return nil, fmt.Errorf("nn.LSTM: %w", err)
	}
	if steps < 1 || rows%steps != 0 {
		return nil, fmt.Errorf("nn.LSTM: %d rows are not whole sequences of %d steps", rows, steps)
	}
	return apply(newLSTMLayer(rows/steps, steps, in, h), []*G.Node{x, wx, wh, b}, opts...)
}

// LSTMStep advances one sequence by one step: from state (h, c) (H each,
// updated in place) and input x (in), with zx scratch of 4H. It is the
// step the LSTM op takes, so acting step by step computes the op's bits.
func LSTMStep(h, c, x []float64, wx, wh, b []float64, in int, zx []float64) error {
	hn := len(h)
	if err := positive("in, H", in, hn); err != nil {
		return fmt.Errorf("nn.LSTMStep: %w", err)
	}
	if len(c) != hn || len(x) != in || len(wx) != in*4*hn || len(wh) != hn*4*hn || len(b) != 4*hn || len(zx) != 4*hn {
		return fmt.Errorf("nn.LSTMStep: sizes h %d c %d x %d wx %d wh %d b %d zx %d do not fit in %d, H %d",
			len(h), len(c), len(x), len(wx), len(wh), len(b), len(zx), in, hn)
	}
	kernel.Gemm(false, false, 1, 4*hn, in, 1, x, in, wx, 4*hn, 0, zx, 4*hn)
	lstmCell(zx, h, c, wh, b, hn, nil, nil)
	return nil
}

func sigmoid(z float64) float64 { return 1 / (1 + math.Exp(-z)) }

// lstmCell finishes a step whose input projection is in z (4H, x·Wx; it
// is overwritten): z += h·Wh + b, the gates, then c and h in place. If
// gates is not nil it receives i, f, g, o (4H) and tc tanh(c) (H), for
// backpropagation.
func lstmCell(z, h, c, wh, b []float64, hn int, gates, tc []float64) {
	kernel.Gemm(false, false, 1, 4*hn, hn, 1, h, hn, wh, 4*hn, 1, z, 4*hn)
	for j := range 4 * hn {
		z[j] += b[j]
	}
	for j := range hn {
		i, f, g, o := sigmoid(z[j]), sigmoid(z[hn+j]), math.Tanh(z[2*hn+j]), sigmoid(z[3*hn+j])
		c[j] = f*c[j] + i*g
		t := math.Tanh(c[j])
		h[j] = o * t
		if gates != nil {
			gates[j], gates[hn+j], gates[2*hn+j], gates[3*hn+j] = i, f, g, o
			tc[j] = t
		}
	}
}

type lstmLayer struct {
	seqs, steps, in, h int
	// Per row: the hidden state (the output), the cell state, tanh of it,
	// and the gates; scratch for a step's state and gradients.
	y, cs, tc, gates []float64
	hs, c, z         []float64
	dz, dh, dc, hp   []float64
}

func newLSTMLayer(seqs, steps, in, h int) *lstmLayer {
	rows := seqs * steps
	return &lstmLayer{
		seqs: seqs, steps: steps, in: in, h: h,
		y: make([]float64, rows*h), cs: make([]float64, rows*h), tc: make([]float64, rows*h), gates: make([]float64, rows*4*h),
		hs: make([]float64, h), c: make([]float64, h), z: make([]float64, rows*4*h),
		dz: make([]float64, rows*4*h), dh: make([]float64, h), dc: make([]float64, h), hp: make([]float64, rows*h),
	}
}

func (l *lstmLayer) kind() string { return "LSTM" }

func (l *lstmLayer) describe(w io.Writer) {
	fmt.Fprintf(w, "%dx%d steps, %d->%d", l.seqs, l.steps, l.in, l.h)
}

func (l *lstmLayer) inShapes() []tensor.Shape {
	return []tensor.Shape{{l.seqs * l.steps, l.in}, {l.in, 4 * l.h}, {l.h, 4 * l.h}, {4 * l.h}}
}

func (l *lstmLayer) outShape() tensor.Shape { return tensor.Shape{l.seqs * l.steps, l.h} }

func (l *lstmLayer) forward(in [][]float64) []float64 {
	x, wx, wh, b := in[0], in[1], in[2], in[3]
	hn, g4 := l.h, 4*l.h
	rows := l.seqs * l.steps
	// The input projections of every row at once, each row's the same
	// bits as LSTMStep's one-row product.
	for r := range rows {
		kernel.Gemm(false, false, 1, g4, l.in, 1, x[r*l.in:(r+1)*l.in], l.in, wx, g4, 0, l.z[r*g4:(r+1)*g4], g4)
	}
	for s := range l.seqs {
		clear(l.hs)
		clear(l.c)
		for t := range l.steps {
			r := s*l.steps + t
			copy(l.hp[r*hn:(r+1)*hn], l.hs)
			lstmCell(l.z[r*g4:(r+1)*g4], l.hs, l.c, wh, b, hn, l.gates[r*g4:(r+1)*g4], l.tc[r*hn:(r+1)*hn])
			copy(l.y[r*hn:(r+1)*hn], l.hs)
			copy(l.cs[r*hn:(r+1)*hn], l.c)
		}
	}
	return l.y
}

// backward is backpropagation through time, sequence by sequence from its
// last step: with dh the output's gradient plus the next step's,
// dc = dh·o·(1-tanh²c) + the next step's dc·f, the pre-activation
// gradients dz of the four gates, then dWx = Xᵀ·dZ, dWh = H₋₁ᵀ·dZ,
// db = Σ dZ and dx = dZ·Wxᵀ.
func (l *lstmLayer) backward(in [][]float64, gy []float64, gin [][]float64) {
	x, wx, wh := in[0], in[1], in[2]
	hn, g4 := l.h, 4*l.h
	rows := l.seqs * l.steps
	for s := range l.seqs {
		clear(l.dh)
		clear(l.dc)
		for t := l.steps - 1; t >= 0; t-- {
			r := s*l.steps + t
			gt := l.gates[r*g4 : (r+1)*g4]
			dz := l.dz[r*g4 : (r+1)*g4]
			for j := range hn {
				i, f, g, o := gt[j], gt[hn+j], gt[2*hn+j], gt[3*hn+j]
				tcj := l.tc[r*hn+j]
				dh := gy[r*hn+j] + l.dh[j]
				dc := dh*o*(1-tcj*tcj) + l.dc[j]
				cPrev := 0.0
				if t > 0 {
					cPrev = l.cs[(r-1)*hn+j]
				}
				dz[j] = dc * g * i * (1 - i)
				dz[hn+j] = dc * cPrev * f * (1 - f)
				dz[2*hn+j] = dc * i * (1 - g*g)
				dz[3*hn+j] = dh * tcj * o * (1 - o)
				l.dc[j] = dc * f
			}
			// The previous step's hidden state gets dz·Whᵀ.
			kernel.Gemm(false, true, 1, hn, g4, 1, dz, g4, wh, g4, 0, l.dh, hn)
		}
	}
	if gin[0] != nil {
		kernel.Gemm(false, true, rows, l.in, g4, 1, l.dz, g4, wx, g4, 0, gin[0], l.in)
	}
	if gin[1] != nil {
		kernel.Gemm(true, false, l.in, g4, rows, 1, x, l.in, l.dz, g4, 0, gin[1], g4)
	}
	if gin[2] != nil {
		kernel.Gemm(true, false, hn, g4, rows, 1, l.hp, hn, l.dz, g4, 0, gin[2], g4)
	}
	if gin[3] != nil {
		db := gin[3]
		clear(db)
		for r := range rows {
			for j, v := range l.dz[r*g4 : (r+1)*g4] {
				db[j] += v
			}
		}
	}
}

// LSTMForward runs the op's forward into dst ((S*T) x H) without
// gorgonia, step by step with LSTMStep: for tests and one-off use.
func LSTMForward(dst, x []float64, seqs, steps int, wx, wh, b []float64, in, h int) error {
	if err := needLen("dst", dst, seqs*steps*h); err != nil {
		return fmt.Errorf("nn.LSTMForward: %w", err)
	}
	if err := needLen("x", x, seqs*steps*in); err != nil {
		return fmt.Errorf("nn.LSTMForward: %w", err)
	}
	hs, c, z := make([]float64, h), make([]float64, h), make([]float64, 4*h)
	for s := range seqs {
		clear(hs)
		clear(c)
		for t := range steps {
			r := s*steps + t
			if err := LSTMStep(hs, c, x[r*in:(r+1)*in], wx, wh, b, in, z); err != nil {
				return fmt.Errorf("nn.LSTMForward: %w", err)
			}
			copy(dst[r*h:(r+1)*h], hs)
		}
	}
	return nil
}
