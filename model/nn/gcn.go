package nn

import (
	"fmt"
	"io"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/grlscaler/grlscaler/model/kernel"
)

// GCN applies one graph convolution (Kipf & Welling 2017, eq. 2) to every
// sample of a node-major batch: y = act(Â·x·W + b) per sample, where x is
// (N*B) x in (row n*B+s is node n of sample s), W is in x out, b is a vector
// of length out or nil, and Â = adj. B is x's rows / N. The result is
// (N*B) x out, node-major.
func GCN(x, w, b *G.Node, adj *Adjacency, act Activation, opts ...Option) (*G.Node, error) {
	if adj == nil {
		return nil, fmt.Errorf("nn.GCN: adjacency is nil")
	}
	rows, in, err := matrixShape(x, "x")
	if err != nil {
		return nil, fmt.Errorf("nn.GCN: %w", err)
	}
	if rows%adj.n != 0 {
		return nil, fmt.Errorf("nn.GCN: x has %d rows, not a multiple of %d nodes", rows, adj.n)
	}
	win, out, err := matrixShape(w, "W")
	if err != nil {
		return nil, fmt.Errorf("nn.GCN: %w", err)
	}
	if win != in {
		return nil, fmt.Errorf("nn.GCN: W is %d x %d but x has %d columns", win, out, in)
	}
	if err := act.check(); err != nil {
		return nil, fmt.Errorf("nn.GCN: %w", err)
	}
	children := []*G.Node{x, w}
	if b != nil {
		if err := checkVector(b, "b", out); err != nil {
			return nil, fmt.Errorf("nn.GCN: %w", err)
		}
		children = append(children, b)
	}
	return apply(newGCNLayer(adj, rows/adj.n, in, out, b != nil, act), children, opts...)
}

// GCNScratchLen is the scratch length GCNForward needs to run without
// allocating.
func GCNScratchLen(nodes, batch, in, out int) int { return nodes * batch * min(in, out) }

// GCNForward computes dst = act(Â·x·w + b) for a node-major batch: x is
// (N*batch) x in, w is in x out, b has length out or is nil, dst is
// (N*batch) x out, N = adj.Nodes(). It does not allocate if scratch holds
// GCNScratchLen values (a shorter scratch is replaced by a fresh one). The
// GCN op's forward is this function.
func GCNForward(dst, x []float64, batch int, w, b []float64, in, out int, adj *Adjacency, act Activation, scratch []float64) error {
	if adj == nil {
		return fmt.Errorf("nn.GCNForward: adjacency is nil")
	}
	if err := positive("batch, in, out", batch, in, out); err != nil {
		return fmt.Errorf("nn.GCNForward: %w", err)
	}
	if err := act.check(); err != nil {
		return fmt.Errorf("nn.GCNForward: %w", err)
	}
	rows := adj.n * batch
	if err := needLen("dst", dst, rows*out); err != nil {
		return fmt.Errorf("nn.GCNForward: %w", err)
	}
	if err := needLen("x", x, rows*in); err != nil {
		return fmt.Errorf("nn.GCNForward: %w", err)
	}
	if err := needLen("w", w, in*out); err != nil {
		return fmt.Errorf("nn.GCNForward: %w", err)
	}
	if b != nil {
		if err := needLen("b", b, out); err != nil {
			return fmt.Errorf("nn.GCNForward: %w", err)
		}
	}
	gcnForward(dst, x, batch, w, b, in, out, adj, act, scratchOf(scratch, GCNScratchLen(adj.n, batch, in, out)))
	return nil
}

// gcnForward leaves in tmp what backward needs besides the inputs: Â·x if
// in < out, else x·W (unused by backward).
//
// Â·x·W is evaluated in the cheaper order (matrix products associate): with
// R = N*B rows, (Â·x)·W costs R·N·in + R·in·out multiply-adds and
// Â·(x·W) costs R·in·out + R·N·out, so aggregate first when in < out (the
// first layer, 8 features -> 64 hidden, runs about twice as fast).
//
// In the node-major layout one Gemm does each product for the whole batch:
// the N x (B*k) view of an (N*B) x k matrix has sample s's node n at row n,
// columns s*k..s*k+k, so Â (N x N) times that view applies Â to every sample.
func gcnForward(dst, x []float64, batch int, w, b []float64, in, out int, adj *Adjacency, act Activation, tmp []float64) {
	n := adj.n
	rows := n * batch
	if in < out {
		kernel.Gemm(false, false, n, batch*in, n, 1, adj.norm, n, x, batch*in, 0, tmp, batch*in)
		kernel.Gemm(false, false, rows, out, in, 1, tmp, in, w, out, 0, dst, out)
	} else {
		kernel.Gemm(false, false, rows, out, in, 1, x, in, w, out, 0, tmp, out)
		kernel.Gemm(false, false, n, batch*out, n, 1, adj.norm, n, tmp, batch*out, 0, dst, batch*out)
	}
	biasAct(act, dst[:rows*out], rows, out, b)
}

type gcnLayer struct {
	adj              *Adjacency
	batch, in, out   int
	bias             bool
	act              Activation
	y, dz, tmp, back []float64
}

func newGCNLayer(adj *Adjacency, batch, in, out int, bias bool, act Activation) *gcnLayer {
	rows := adj.n * batch
	return &gcnLayer{adj: adj, batch: batch, in: in, out: out, bias: bias, act: act,
		y:    make([]float64, rows*out),
		dz:   make([]float64, rows*out),
		tmp:  make([]float64, GCNScratchLen(adj.n, batch, in, out)),
		back: make([]float64, rows*min(in, out)),
	}
}

func (l *gcnLayer) kind() string { return "GCN" }

func (l *gcnLayer) describe(w io.Writer) {
	fmt.Fprintf(w, "N=%d, B=%d, %d->%d, bias=%t, %v, adj=%x", l.adj.n, l.batch, l.in, l.out, l.bias, l.act, l.adj.fingerprint)
}

func (l *gcnLayer) inShapes() []tensor.Shape {
	return withBias([]tensor.Shape{{l.adj.n * l.batch, l.in}, {l.in, l.out}}, l.bias, l.out)
}

func (l *gcnLayer) outShape() tensor.Shape { return tensor.Shape{l.adj.n * l.batch, l.out} }

func (l *gcnLayer) forward(in [][]float64) []float64 {
	var b []float64
	if l.bias {
		b = in[2]
	}
	gcnForward(l.y, in[0], l.batch, in[1], b, l.in, l.out, l.adj, l.act, l.tmp)
	return l.y
}

// backward, with dZ = G ⊙ act'(y) and db = Σ_rows dZ:
//
//	in < out (P = Â·x stashed in tmp): dW = Pᵀ·dZ, dP = dZ·Wᵀ, dx = Âᵀ·dP
//	otherwise:                         dH = Âᵀ·dZ, dW = xᵀ·dH, dx = dH·Wᵀ
//
// Âᵀ is computed as Â: an Adjacency is symmetric by construction (see
// Adjacency), and the plain product skips packing the transpose. Without
// dx (x marked NoGrad) the in < out case needs one product instead of
// three.
func (l *gcnLayer) backward(in [][]float64, gy []float64, gin [][]float64) {
	x, w := in[0], in[1]
	n, bt := l.adj.n, l.batch
	rows := n * bt
	var db []float64
	if l.bias {
		db = gin[2]
	}
	dz := actGrad(l.act, l.dz, gy, l.y, rows, l.out, db)
	if l.in < l.out {
		if gin[1] != nil {
			kernel.Gemm(true, false, l.in, l.out, rows, 1, l.tmp, l.in, dz, l.out, 0, gin[1], l.out)
		}
		if gin[0] != nil {
			kernel.Gemm(false, true, rows, l.in, l.out, 1, dz, l.out, w, l.out, 0, l.back, l.in)
			kernel.Gemm(false, false, n, bt*l.in, n, 1, l.adj.norm, n, l.back, bt*l.in, 0, gin[0], bt*l.in)
		}
	} else if gin[0] != nil || gin[1] != nil {
		kernel.Gemm(false, false, n, bt*l.out, n, 1, l.adj.norm, n, dz, bt*l.out, 0, l.back, bt*l.out)
		if gin[1] != nil {
			kernel.Gemm(true, false, l.in, l.out, rows, 1, x, l.in, l.back, l.out, 0, gin[1], l.out)
		}
		if gin[0] != nil {
			kernel.Gemm(false, true, rows, l.in, l.out, 1, l.back, l.out, w, l.out, 0, gin[0], l.in)
		}
	}
}
