package nn

import (
	"fmt"
	"io"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/grlscaler/grlscaler/model/kernel"
)

// GCNMeanPool is a GCN layer without activation followed by MeanPool, as
// one op: for every sample of a node-major batch x ((N*B) x in) it gives
// the B x out matrix
//
//	y_s = (1/N) Σ_i (Â·x_s·W + b)_i = (cᵀ·x_s)·W + b,  c_j = (1/N) Σ_i Â_ij,
//
// the graph embedding of the usual "GCN, then mean readout" encoder. The
// mean of a linear layer is the linear layer of the weighted mean, so the
// op never forms the (N*B) x out node embeddings: it costs N*B*in +
// B*in*out multiply-adds instead of N*B*in*out + N*N*B*out (about 12x less
// for the seed network's second layer), and its backward likewise. b is a
// vector of length out or nil. It equals MeanPool(GCN(x, w, b, adj,
// Identity), N) up to rounding.
func GCNMeanPool(x, w, b *G.Node, adj *Adjacency, opts ...Option) (*G.Node, error) {
	if adj == nil {
		return nil, fmt.Errorf("nn.GCNMeanPool: adjacency is nil")
	}
	rows, in, err := matrixShape(x, "x")
	if err != nil {
		return nil, fmt.Errorf("nn.GCNMeanPool: %w", err)
	}
	if rows%adj.n != 0 {
		return nil, fmt.Errorf("nn.GCNMeanPool: x has %d rows, not a multiple of %d nodes", rows, adj.n)
	}
	win, out, err := matrixShape(w, "W")
	if err != nil {
		return nil, fmt.Errorf("nn.GCNMeanPool: %w", err)
	}
	if win != in {
		return nil, fmt.Errorf("nn.GCNMeanPool: W is %d x %d but x has %d columns", win, out, in)
	}
	children := []*G.Node{x, w}
	if b != nil {
		if err := checkVector(b, "b", out); err != nil {
			return nil, fmt.Errorf("nn.GCNMeanPool: %w", err)
		}
		children = append(children, b)
	}
	return apply(newGCNPoolLayer(adj, rows/adj.n, in, out, b != nil), children, opts...)
}

// GCNMeanPoolScratchLen is the scratch length GCNMeanPoolForward needs to
// run without allocating.
func GCNMeanPoolScratchLen(batch, in int) int { return batch * in }

// GCNMeanPoolForward computes dst (batch x out) = the node mean of
// Â·x·w + b for a node-major batch x ((N*batch) x in), see GCNMeanPool; b
// has length out or is nil. It does not allocate if scratch holds
// GCNMeanPoolScratchLen values. The GCNMeanPool op's forward is this
// function.
func GCNMeanPoolForward(dst, x []float64, batch int, w, b []float64, in, out int, adj *Adjacency, scratch []float64) error {
	if adj == nil {
		return fmt.Errorf("nn.GCNMeanPoolForward: adjacency is nil")
	}
	if err := positive("batch, in, out", batch, in, out); err != nil {
		return fmt.Errorf("nn.GCNMeanPoolForward: %w", err)
	}
	if err := needLen("dst", dst, batch*out); err != nil {
		return fmt.Errorf("nn.GCNMeanPoolForward: %w", err)
	}
	if err := needLen("x", x, adj.n*batch*in); err != nil {
		return fmt.Errorf("nn.GCNMeanPoolForward: %w", err)
	}
	if err := needLen("w", w, in*out); err != nil {
		return fmt.Errorf("nn.GCNMeanPoolForward: %w", err)
	}
	if b != nil {
		if err := needLen("b", b, out); err != nil {
			return fmt.Errorf("nn.GCNMeanPoolForward: %w", err)
		}
	}
	gcnPoolForward(dst, x, batch, w, b, in, out, adj, scratchOf(scratch, GCNMeanPoolScratchLen(batch, in)))
	return nil
}

// gcnPoolForward leaves s = cᵀ·x (batch x in) in s for backward. In the
// N x (B*in) view of x, s is the row vector cᵀ times that matrix.
func gcnPoolForward(dst, x []float64, batch int, w, b []float64, in, out int, adj *Adjacency, s []float64) {
	n := adj.n
	kernel.Gemm(false, false, 1, batch*in, n, 1, adj.colMean, n, x, batch*in, 0, s, batch*in)
	kernel.Gemm(false, false, batch, out, in, 1, s, in, w, out, 0, dst, out)
	if b != nil {
		kernel.AddRowVector(dst, batch, out, b)
	}
}

type gcnPoolLayer struct {
	adj            *Adjacency
	batch, in, out int
	bias           bool
	y, s, ds       []float64
}

func newGCNPoolLayer(adj *Adjacency, batch, in, out int, bias bool) *gcnPoolLayer {
	return &gcnPoolLayer{adj: adj, batch: batch, in: in, out: out, bias: bias,
		y:  make([]float64, batch*out),
		s:  make([]float64, batch*in),
		ds: make([]float64, batch*in),
	}
}

func (l *gcnPoolLayer) kind() string { return "GCNMeanPool" }

func (l *gcnPoolLayer) describe(w io.Writer) {
	fmt.Fprintf(w, "N=%d, B=%d, %d->%d, bias=%t, adj=%x", l.adj.n, l.batch, l.in, l.out, l.bias, l.adj.fingerprint)
}

func (l *gcnPoolLayer) inShapes() []tensor.Shape {
	return withBias([]tensor.Shape{{l.adj.n * l.batch, l.in}, {l.in, l.out}}, l.bias, l.out)
}

func (l *gcnPoolLayer) outShape() tensor.Shape { return tensor.Shape{l.batch, l.out} }

func (l *gcnPoolLayer) forward(in [][]float64) []float64 {
	var b []float64
	if l.bias {
		b = in[2]
	}
	gcnPoolForward(l.y, in[0], l.batch, in[1], b, l.in, l.out, l.adj, l.s)
	return l.y
}

// backward: dW = sᵀ·G, db = Σ_rows G, and with dS = G·Wᵀ node i of sample
// s gets dx = c_i dS_s: the outer product c·dS in the N x (B*in) view.
func (l *gcnPoolLayer) backward(in [][]float64, gy []float64, gin [][]float64) {
	w := in[1]
	n, bt := l.adj.n, l.batch
	if gin[1] != nil {
		kernel.Gemm(true, false, l.in, l.out, bt, 1, l.s, l.in, gy, l.out, 0, gin[1], l.out)
	}
	if l.bias && gin[2] != nil {
		clear(gin[2])
		kernel.SumRows(gin[2], gy, bt, l.out)
	}
	if gin[0] != nil {
		kernel.Gemm(false, true, bt, l.in, l.out, 1, gy, l.out, w, l.out, 0, l.ds, l.in)
		kernel.Gemm(false, false, n, bt*l.in, 1, 1, l.adj.colMean, 1, l.ds, bt*l.in, 0, gin[0], bt*l.in)
	}
}
