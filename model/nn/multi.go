package nn

import (
	"fmt"
	"io"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/grlscaler/grlscaler/model/kernel"
)

// DenseCat is Dense over the column-wise concatenation of xs without
// forming it: y = act([x_1 | x_2 | ...]·W + b) = act(Σ_i x_i·W_i + b),
// where W_i are the consecutive row blocks of W (x_i's columns). Every x_i
// has the same number of rows m; W is (Σ cols) x out; b is a vector of
// length out or nil. It replaces a concatenation followed by Dense (the
// trunk over [graph embedding | flat features]) and, with the data inputs
// marked NoGrad, skips their part of the input gradient.
func DenseCat(xs []*G.Node, w, b *G.Node, act Activation, opts ...Option) (*G.Node, error) {
	if len(xs) == 0 {
		return nil, fmt.Errorf("nn.DenseCat: no inputs")
	}
	ins := make([]int, len(xs))
	m, total := 0, 0
	for i, x := range xs {
		r, c, err := matrixShape(x, fmt.Sprintf("x%d", i))
		if err != nil {
			return nil, fmt.Errorf("nn.DenseCat: %w", err)
		}
		if i > 0 && r != m {
			return nil, fmt.Errorf("nn.DenseCat: x%d has %d rows, x0 has %d", i, r, m)
		}
		m, ins[i] = r, c
		total += c
	}
	win, out, err := matrixShape(w, "W")
	if err != nil {
		return nil, fmt.Errorf("nn.DenseCat: %w", err)
	}
	if win != total {
		return nil, fmt.Errorf("nn.DenseCat: W is %d x %d but the inputs have %d columns", win, out, total)
	}
	if err := act.check(); err != nil {
		return nil, fmt.Errorf("nn.DenseCat: %w", err)
	}
	children := append(append([]*G.Node(nil), xs...), w)
	if b != nil {
		if err := checkVector(b, "b", out); err != nil {
			return nil, fmt.Errorf("nn.DenseCat: %w", err)
		}
		children = append(children, b)
	}
	return apply(&denseCatLayer{m: m, ins: ins, out: out, bias: b != nil, act: act,
		y: make([]float64, m*out), dz: make([]float64, m*out)}, children, opts...)
}

// DenseCatForward computes dst (m x out) = act(Σ_i xs[i]·W_i + b) with
// xs[i] m x ins[i] and W_i rows ins[0]+...+ins[i-1] onward of w
// ((Σ ins) x out); b has length out or is nil. It does not allocate. The
// DenseCat op's forward is this function.
func DenseCatForward(dst []float64, xs [][]float64, m int, w, b []float64, ins []int, out int, act Activation) error {
	if len(xs) == 0 || len(xs) != len(ins) {
		return fmt.Errorf("nn.DenseCatForward: %d inputs, %d widths", len(xs), len(ins))
	}
	if err := positive("m, out", m, out); err != nil {
		return fmt.Errorf("nn.DenseCatForward: %w", err)
	}
	if err := act.check(); err != nil {
		return fmt.Errorf("nn.DenseCatForward: %w", err)
	}
	if err := needLen("dst", dst, m*out); err != nil {
		return fmt.Errorf("nn.DenseCatForward: %w", err)
	}
	total := 0
	for i, x := range xs {
		if err := positive("ins", ins[i]); err != nil {
			return fmt.Errorf("nn.DenseCatForward: %w", err)
		}
		if err := needLen("x", x, m*ins[i]); err != nil {
			return fmt.Errorf("nn.DenseCatForward: %w", err)
		}
		total += ins[i]
	}
	if err := needLen("w", w, total*out); err != nil {
		return fmt.Errorf("nn.DenseCatForward: %w", err)
	}
	if b != nil {
		if err := needLen("b", b, out); err != nil {
			return fmt.Errorf("nn.DenseCatForward: %w", err)
		}
	}
	denseCatForward(dst, xs, m, w, b, ins, out, act)
	return nil
}

func denseCatForward(dst []float64, xs [][]float64, m int, w, b []float64, ins []int, out int, act Activation) {
	off := 0
	for i, x := range xs {
		beta := 1.0
		if i == 0 {
			beta = 0
		}
		kernel.Gemm(false, false, m, out, ins[i], 1, x, ins[i], w[off*out:], out, beta, dst, out)
		off += ins[i]
	}
	biasAct(act, dst[:m*out], m, out, b)
}

type denseCatLayer struct {
	m, out int
	ins    []int
	bias   bool
	act    Activation
	y, dz  []float64
}

func (l *denseCatLayer) kind() string { return "DenseCat" }

func (l *denseCatLayer) describe(w io.Writer) {
	fmt.Fprintf(w, "%dx%v->%d, bias=%t, %v", l.m, l.ins, l.out, l.bias, l.act)
}

func (l *denseCatLayer) inShapes() []tensor.Shape {
	s := make([]tensor.Shape, 0, len(l.ins)+2)
	total := 0
	for _, c := range l.ins {
		s = append(s, tensor.Shape{l.m, c})
		total += c
	}
	return withBias(append(s, tensor.Shape{total, l.out}), l.bias, l.out)
}

func (l *denseCatLayer) outShape() tensor.Shape { return tensor.Shape{l.m, l.out} }

func (l *denseCatLayer) forward(in [][]float64) []float64 {
	k := len(l.ins)
	var b []float64
	if l.bias {
		b = in[k+1]
	}
	denseCatForward(l.y, in[:k], l.m, in[k], b, l.ins, l.out, l.act)
	return l.y
}

// backward: with dZ = G ⊙ act'(y), dx_i = dZ·W_iᵀ, dW_i = x_iᵀ·dZ,
// db = Σ_rows dZ.
func (l *denseCatLayer) backward(in [][]float64, gy []float64, gin [][]float64) {
	k := len(l.ins)
	w, gw := in[k], gin[k]
	var db []float64
	if l.bias {
		db = gin[k+1]
	}
	dz := actGrad(l.act, l.dz, gy, l.y, l.m, l.out, db)
	off := 0
	for i, c := range l.ins {
		if gin[i] != nil {
			kernel.Gemm(false, true, l.m, c, l.out, 1, dz, l.out, w[off*l.out:], l.out, 0, gin[i], c)
		}
		if gw != nil {
			kernel.Gemm(true, false, c, l.out, l.m, 1, in[i], c, dz, l.out, 0, gw[off*l.out:], l.out)
		}
		off += c
	}
}

// Heads applies several linear heads to the same input and returns their
// outputs side by side: x is m x in, ws[i] is in x outs[i], bs is nil or
// holds one bias vector per head (length outs[i]); the result is
// m x Σ outs, head i in columns outs[0]+...+outs[i-1] onward. It is one
// op with one matrix product each way instead of one Dense per head, and
// x gets one gradient instead of a sum of one per head (gorgonia adds
// those with extra Add nodes).
func Heads(x *G.Node, ws, bs []*G.Node, opts ...Option) (*G.Node, error) {
	m, in, err := matrixShape(x, "x")
	if err != nil {
		return nil, fmt.Errorf("nn.Heads: %w", err)
	}
	if len(ws) == 0 {
		return nil, fmt.Errorf("nn.Heads: no heads")
	}
	if bs != nil && len(bs) != len(ws) {
		return nil, fmt.Errorf("nn.Heads: %d weights but %d biases", len(ws), len(bs))
	}
	outs := make([]int, len(ws))
	for i, w := range ws {
		win, out, err := matrixShape(w, fmt.Sprintf("W%d", i))
		if err != nil {
			return nil, fmt.Errorf("nn.Heads: %w", err)
		}
		if win != in {
			return nil, fmt.Errorf("nn.Heads: W%d is %d x %d but x has %d columns", i, win, out, in)
		}
		outs[i] = out
	}
	children := append([]*G.Node{x}, ws...)
	for i, b := range bs {
		if err := checkVector(b, fmt.Sprintf("b%d", i), outs[i]); err != nil {
			return nil, fmt.Errorf("nn.Heads: %w", err)
		}
		children = append(children, b)
	}
	l := newHeadsLayer(m, in, outs, bs != nil)
	return apply(l, children, opts...)
}

// HeadsScratchLen is the scratch length HeadsForward needs to run without
// allocating.
func HeadsScratchLen(in int, outs []int) int {
	t := 0
	for _, o := range outs {
		t += o
	}
	return (in + 1) * t
}

// HeadsForward computes dst (m x Σ outs) = x·[W_0 | W_1 | ...] + [b_0 |
// b_1 | ...] for x (m x in), ws[i] (in x outs[i]) and bs nil or one
// vector per head. It does not allocate if scratch holds HeadsScratchLen
// values. The Heads op's forward is this function.
func HeadsForward(dst, x []float64, m int, ws, bs [][]float64, in int, outs []int, scratch []float64) error {
	if len(ws) == 0 || len(ws) != len(outs) || (bs != nil && len(bs) != len(ws)) {
		return fmt.Errorf("nn.HeadsForward: %d weights, %d biases, %d widths", len(ws), len(bs), len(outs))
	}
	if err := positive("m, in", m, in); err != nil {
		return fmt.Errorf("nn.HeadsForward: %w", err)
	}
	t := 0
	for i, o := range outs {
		if err := positive("outs", o); err != nil {
			return fmt.Errorf("nn.HeadsForward: %w", err)
		}
		if err := needLen("w", ws[i], in*o); err != nil {
			return fmt.Errorf("nn.HeadsForward: %w", err)
		}
		if bs != nil {
			if err := needLen("b", bs[i], o); err != nil {
				return fmt.Errorf("nn.HeadsForward: %w", err)
			}
		}
		t += o
	}
	if err := needLen("dst", dst, m*t); err != nil {
		return fmt.Errorf("nn.HeadsForward: %w", err)
	}
	if err := needLen("x", x, m*in); err != nil {
		return fmt.Errorf("nn.HeadsForward: %w", err)
	}
	s := scratchOf(scratch, HeadsScratchLen(in, outs))
	headsForward(dst, x, m, ws, bs, in, outs, t, s[:in*t], s[in*t:], m >= headsPackRows)
	return nil
}

// headsPackRows is the number of rows from which HeadsForward packs the
// weights for one product; below it (inference of one observation), one
// product per head straight into dst's columns is cheaper than the copy.
// Either way every output is the same chain of multiply-adds, so the
// results are the same bits.
const headsPackRows = 8

// headsForward packs the heads' weights side by side into wcat (in x t)
// and their biases into bcat (if bs is not nil), then does one product, or
// without pack does one product per head.
func headsForward(dst, x []float64, m int, ws, bs [][]float64, in int, outs []int, t int, wcat, bcat []float64, pack bool) {
	if !pack {
		off := 0
		for i, o := range outs {
			kernel.Gemm(false, false, m, o, in, 1, x, in, ws[i], o, 0, dst[off:], t)
			if bs != nil {
				for r := 0; r < m; r++ {
					row := dst[r*t+off : r*t+off+o]
					for j, v := range bs[i][:o] {
						row[j] += v
					}
				}
			}
			off += o
		}
		return
	}
	off := 0
	for i, o := range outs {
		w := ws[i]
		for r := 0; r < in; r++ {
			copy(wcat[r*t+off:r*t+off+o], w[r*o:r*o+o])
		}
		if bs != nil {
			copy(bcat[off:off+o], bs[i][:o])
		}
		off += o
	}
	kernel.Gemm(false, false, m, t, in, 1, x, in, wcat, t, 0, dst, t)
	if bs != nil {
		kernel.AddRowVector(dst, m, t, bcat)
	}
}

type headsLayer struct {
	m, in, t   int
	outs       []int
	bias       bool
	y          []float64
	wcat, bcat []float64 // the packed weights of the last forward
	gwcat, gb  []float64
	ws, bs     [][]float64
}

func newHeadsLayer(m, in int, outs []int, bias bool) *headsLayer {
	t := 0
	for _, o := range outs {
		t += o
	}
	l := &headsLayer{m: m, in: in, t: t, outs: outs, bias: bias,
		y: make([]float64, m*t), wcat: make([]float64, in*t), bcat: make([]float64, t),
		gwcat: make([]float64, in*t), gb: make([]float64, t),
		ws: make([][]float64, len(outs)),
	}
	if bias {
		l.bs = make([][]float64, len(outs))
	}
	return l
}

func (l *headsLayer) kind() string { return "Heads" }

func (l *headsLayer) describe(w io.Writer) {
	fmt.Fprintf(w, "%dx%d->%v, bias=%t", l.m, l.in, l.outs, l.bias)
}

func (l *headsLayer) inShapes() []tensor.Shape {
	s := []tensor.Shape{{l.m, l.in}}
	for _, o := range l.outs {
		s = append(s, tensor.Shape{l.in, o})
	}
	if l.bias {
		for _, o := range l.outs {
			s = append(s, tensor.Shape{o})
		}
	}
	return s
}

func (l *headsLayer) outShape() tensor.Shape { return tensor.Shape{l.m, l.t} }

func (l *headsLayer) forward(in [][]float64) []float64 {
	h := len(l.outs)
	copy(l.ws, in[1:1+h])
	var bs [][]float64
	if l.bias {
		copy(l.bs, in[1+h:1+2*h])
		bs = l.bs
	}
	// Always packed: backward reads wcat.
	headsForward(l.y, in[0], l.m, l.ws, bs, l.in, l.outs, l.t, l.wcat, l.bcat, true)
	clear(l.ws)
	clear(l.bs)
	return l.y
}

// backward: dx = G·Wcatᵀ, dWcat = xᵀ·G and db = Σ_rows G, split by head.
func (l *headsLayer) backward(in [][]float64, gy []float64, gin [][]float64) {
	h, t := len(l.outs), l.t
	if gin[0] != nil {
		kernel.Gemm(false, true, l.m, l.in, t, 1, gy, t, l.wcat, t, 0, gin[0], l.in)
	}
	wantW, wantB := false, false
	for i := range l.outs {
		wantW = wantW || gin[1+i] != nil
		wantB = wantB || (l.bias && gin[1+h+i] != nil)
	}
	if wantW {
		kernel.Gemm(true, false, l.in, t, l.m, 1, in[0], l.in, gy, t, 0, l.gwcat, t)
	}
	if wantB {
		clear(l.gb)
		kernel.SumRows(l.gb, gy, l.m, t)
	}
	off := 0
	for i, o := range l.outs {
		if gw := gin[1+i]; gw != nil {
			for r := 0; r < l.in; r++ {
				copy(gw[r*o:r*o+o], l.gwcat[r*t+off:r*t+off+o])
			}
		}
		if l.bias {
			if gb := gin[1+h+i]; gb != nil {
				copy(gb[:o], l.gb[off:off+o])
			}
		}
		off += o
	}
}
