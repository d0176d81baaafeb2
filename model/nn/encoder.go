package nn

import (
	"fmt"
	"io"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/grlscaler/grlscaler/model/kernel"
)

// GCNEncoder is a two-layer GCN encoder with a mean readout, as one op:
// for a node-major batch x ((N*B) x in) it gives the B x out graph
// embeddings
//
//	MeanPool(GCN(GCN(x, w1, b1, adj, act), w2, b2, adj, Identity), N)
//
// (up to rounding): w1 is in x hidden, w2 hidden x out, b1 and b2 are
// vectors of length hidden and out or nil.
//
// Fusing the layers saves memory traffic rather than arithmetic: the
// linear second layer is averaged as GCNMeanPool does, and the first
// layer is run one node (B rows) at a time, so its output is read while it
// is in cache, and, in backward, the (N*B) x hidden gradients of the first
// layer's output and pre-activation are never formed in memory (when
// in < hidden and x is marked NoGrad, the case of an encoder over raw
// observations). Each node's block of the weight gradient is accumulated
// in turn instead.
func GCNEncoder(x, w1, b1, w2, b2 *G.Node, adj *Adjacency, act Activation, opts ...Option) (*G.Node, error) {
	if adj == nil {
		return nil, fmt.Errorf("nn.GCNEncoder: adjacency is nil")
	}
	rows, in, err := matrixShape(x, "x")
	if err != nil {
		return nil, fmt.Errorf("nn.GCNEncoder: %w", err)
	}
	if rows%adj.n != 0 {
		return nil, fmt.Errorf("nn.GCNEncoder: x has %d rows, not a multiple of %d nodes", rows, adj.n)
	}
	w1in, hid, err := matrixShape(w1, "W1")
	if err != nil {
		return nil, fmt.Errorf("nn.GCNEncoder: %w", err)
	}
	if w1in != in {
		return nil, fmt.Errorf("nn.GCNEncoder: W1 is %d x %d but x has %d columns", w1in, hid, in)
	}
	w2in, out, err := matrixShape(w2, "W2")
	if err != nil {
		return nil, fmt.Errorf("nn.GCNEncoder: %w", err)
	}
	if w2in != hid {
		return nil, fmt.Errorf("nn.GCNEncoder: W2 is %d x %d but W1 gives %d columns", w2in, out, hid)
	}
	if err := act.check(); err != nil {
		return nil, fmt.Errorf("nn.GCNEncoder: %w", err)
	}
	children := []*G.Node{x, w1}
	if b1 != nil {
		if err := checkVector(b1, "b1", hid); err != nil {
			return nil, fmt.Errorf("nn.GCNEncoder: %w", err)
		}
		children = append(children, b1)
	}
	children = append(children, w2)
	if b2 != nil {
		if err := checkVector(b2, "b2", out); err != nil {
			return nil, fmt.Errorf("nn.GCNEncoder: %w", err)
		}
		children = append(children, b2)
	}
	d := encDims{n: adj.n, batch: rows / adj.n, in: in, hid: hid, out: out}
	return apply(newEncoderLayer(adj, d, b1 != nil, b2 != nil, act), children, opts...)
}

// encDims are the sizes of a GCNEncoder.
type encDims struct{ n, batch, in, hid, out int }

func (d encDims) rows() int { return d.n * d.batch }

// GCNEncoderScratchLen is the scratch length GCNEncoderForward needs to
// run without allocating.
func GCNEncoderScratchLen(nodes, batch, in, hidden int) int {
	d := encDims{n: nodes, batch: batch, in: in, hid: hidden}
	return d.rows()*min(in, hidden) + d.rows()*hidden + batch*hidden
}

// GCNEncoderForward computes the GCNEncoder (see there) without gorgonia:
// dst (batch x out) from the node-major x ((N*batch) x in); b1 and b2 may
// be nil. It does not allocate if scratch holds GCNEncoderScratchLen
// values. The GCNEncoder op's forward is this function.
func GCNEncoderForward(dst, x []float64, batch int, w1, b1, w2, b2 []float64, in, hidden, out int, adj *Adjacency, act Activation, scratch []float64) error {
	if adj == nil {
		return fmt.Errorf("nn.GCNEncoderForward: adjacency is nil")
	}
	if err := positive("batch, in, hidden, out", batch, in, hidden, out); err != nil {
		return fmt.Errorf("nn.GCNEncoderForward: %w", err)
	}
	if err := act.check(); err != nil {
		return fmt.Errorf("nn.GCNEncoderForward: %w", err)
	}
	d := encDims{n: adj.n, batch: batch, in: in, hid: hidden, out: out}
	if err := firstLenErr(
		needLen("dst", dst, batch*out), needLen("x", x, d.rows()*in),
		needLen("w1", w1, in*hidden), needLen("w2", w2, hidden*out),
	); err != nil {
		return fmt.Errorf("nn.GCNEncoderForward: %w", err)
	}
	if b1 != nil {
		if err := needLen("b1", b1, hidden); err != nil {
			return fmt.Errorf("nn.GCNEncoderForward: %w", err)
		}
	}
	if b2 != nil {
		if err := needLen("b2", b2, out); err != nil {
			return fmt.Errorf("nn.GCNEncoderForward: %w", err)
		}
	}
	s := scratchOf(scratch, GCNEncoderScratchLen(adj.n, batch, in, hidden))
	tmp, s := s[:d.rows()*min(in, hidden)], s[d.rows()*min(in, hidden):]
	y1, s := s[:d.rows()*hidden], s[d.rows()*hidden:]
	encoderForward(dst, x, w1, b1, w2, b2, d, adj, act, tmp, y1, s[:batch*hidden])
	return nil
}

func firstLenErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// encoderForward leaves for backward: in tmp P = Â·x if in < hidden (else
// x·W1), in y1 the first layer's output, in s = cᵀ·y1 (the per-sample
// weighted node sums, c = adj.colMean).
//
// If in < hidden, node n's block of the first layer, y1_n = act(P_n·W1 +
// b1), is computed, activated and added into s while it is in cache (the
// rows of node n are contiguous in the node-major layout). Otherwise the
// layer is computed as GCN does. s is accumulated node by node with the
// same chain of multiply-adds a product cᵀ·y1 would use.
func encoderForward(dst, x, w1, b1, w2, b2 []float64, d encDims, adj *Adjacency, act Activation, tmp, y1, s []float64) {
	n, bt, in, hid := d.n, d.batch, d.in, d.hid
	if in < hid {
		kernel.Gemm(false, false, n, bt*in, n, 1, adj.norm, n, x, bt*in, 0, tmp, bt*in)
		clear(s)
		blk := bt * hid
		for i := 0; i < n; i++ {
			yi := y1[i*blk : (i+1)*blk]
			kernel.Gemm(false, false, bt, hid, in, 1, tmp[i*bt*in:], in, w1, hid, 0, yi, hid)
			if act == ReLU {
				kernel.AddBiasReLUAxpy(yi, bt, hid, b1, adj.colMean[i], s)
				continue
			}
			biasAct(act, yi, bt, hid, b1)
			kernel.Axpy(adj.colMean[i], yi, s)
		}
	} else {
		gcnForward(y1, x, bt, w1, b1, in, hid, adj, act, tmp)
		kernel.Gemm(false, false, 1, bt*hid, n, 1, adj.colMean, n, y1, bt*hid, 0, s, bt*hid)
	}
	kernel.Gemm(false, false, bt, d.out, hid, 1, s, hid, w2, d.out, 0, dst, d.out)
	if b2 != nil {
		kernel.AddRowVector(dst, bt, d.out, b2)
	}
}

type encoderLayer struct {
	adj          *Adjacency
	d            encDims
	bias1, bias2 bool
	act          Activation
	// indices of the inputs
	iW1, iB1, iW2, iB2 int

	y, tmp, y1, s []float64
	ds, dz, db    []float64 // B x hidden, B x hidden, hidden
	// Only if dx is wanted or in >= hidden: dZ1 ((N*B) x hidden) and the
	// first layer as a GCN layer for its backward.
	dz1 []float64
	l1  *gcnLayer
}

func newEncoderLayer(adj *Adjacency, d encDims, bias1, bias2 bool, act Activation) *encoderLayer {
	l := &encoderLayer{adj: adj, d: d, bias1: bias1, bias2: bias2, act: act,
		iW1: 1, iB1: -1,
		y:   make([]float64, d.batch*d.out),
		tmp: make([]float64, d.rows()*min(d.in, d.hid)),
		y1:  make([]float64, d.rows()*d.hid),
		s:   make([]float64, d.batch*d.hid),
		ds:  make([]float64, d.batch*d.hid),
		dz:  make([]float64, d.batch*d.hid),
		db:  make([]float64, d.hid),
	}
	i := 2
	if bias1 {
		l.iB1, i = i, i+1
	}
	l.iW2, i = i, i+1
	l.iB2 = -1
	if bias2 {
		l.iB2 = i
	}
	return l
}

func (l *encoderLayer) kind() string { return "GCNEncoder" }

func (l *encoderLayer) describe(w io.Writer) {
	fmt.Fprintf(w, "N=%d, B=%d, %d->%d->%d, bias=%t/%t, %v, adj=%x", l.d.n, l.d.batch, l.d.in, l.d.hid, l.d.out, l.bias1, l.bias2, l.act, l.adj.fingerprint)
}

func (l *encoderLayer) inShapes() []tensor.Shape {
	s := []tensor.Shape{{l.d.rows(), l.d.in}, {l.d.in, l.d.hid}}
	if l.bias1 {
		s = append(s, tensor.Shape{l.d.hid})
	}
	s = append(s, tensor.Shape{l.d.hid, l.d.out})
	if l.bias2 {
		s = append(s, tensor.Shape{l.d.out})
	}
	return s
}

func (l *encoderLayer) outShape() tensor.Shape { return tensor.Shape{l.d.batch, l.d.out} }

func (l *encoderLayer) opt(in [][]float64, i int) []float64 {
	if i < 0 {
		return nil
	}
	return in[i]
}

func (l *encoderLayer) forward(in [][]float64) []float64 {
	encoderForward(l.y, in[0], in[l.iW1], l.opt(in, l.iB1), in[l.iW2], l.opt(in, l.iB2), l.d, l.adj, l.act, l.tmp, l.y1, l.s)
	return l.y
}

// backward: the second layer as GCNMeanPool's backward gives dW2, db2 and
// dS = G·W2ᵀ; node i's block of the first layer's output gradient is
// c_i·dS, so dZ1_i = act'(y1_i) ⊙ c_i·dS and db1 = Σ_i Σ_rows dZ1_i. If
// in < hidden, dW1 = Σ_i P_iᵀ·dZ1_i, one node at a time; otherwise, or if
// dx is wanted, dZ1 is formed and the rest is GCN's backward.
func (l *encoderLayer) backward(in [][]float64, gy []float64, gin [][]float64) {
	d := l.d
	n, bt, hid, out := d.n, d.batch, d.hid, d.out
	w1, w2 := in[l.iW1], in[l.iW2]
	gx, gw1, gb1, gw2, gb2 := gin[0], gin[l.iW1], l.opt(gin, l.iB1), gin[l.iW2], l.opt(gin, l.iB2)
	if gw2 != nil {
		kernel.Gemm(true, false, hid, out, bt, 1, l.s, hid, gy, out, 0, gw2, out)
	}
	if gb2 != nil {
		clear(gb2)
		kernel.SumRows(gb2, gy, bt, out)
	}
	if gx == nil && gw1 == nil && gb1 == nil {
		return
	}
	kernel.Gemm(false, true, bt, hid, out, 1, gy, out, w2, out, 0, l.ds, hid)
	if gb1 != nil {
		clear(gb1)
	}
	blk := bt * hid
	perNode := d.in < hid && gx == nil
	if !perNode && l.dz1 == nil {
		l.dz1 = make([]float64, d.rows()*hid)
		l.l1 = &gcnLayer{adj: l.adj, batch: bt, in: d.in, out: hid, act: Identity, tmp: l.tmp,
			back: make([]float64, d.rows()*min(d.in, hid))}
	}
	for i := 0; i < n; i++ {
		// dZ1_i = c_i·(act'(y1_i) ⊙ dS): c_i is applied as the products'
		// alpha and to the bias sums, not to the block.
		c := l.adj.colMean[i]
		dz := l.dz
		if !perNode {
			dz = l.dz1[i*blk : (i+1)*blk]
		}
		var sum []float64
		if gb1 != nil {
			clear(l.db)
			sum = l.db
		}
		dz = actGradAcc(l.act, dz, l.ds, l.y1[i*blk:(i+1)*blk], bt, hid, sum)
		if gb1 != nil {
			kernel.Axpy(c, l.db, gb1)
		}
		if perNode {
			if gw1 != nil {
				beta := 1.0
				if i == 0 {
					beta = 0
				}
				kernel.Gemm(true, false, d.in, hid, bt, c, l.tmp[i*bt*d.in:], d.in, dz, hid, beta, gw1, hid)
			}
			continue
		}
		blkDst := l.dz1[i*blk : (i+1)*blk]
		copy(blkDst, dz) // a no-op unless dz is dS itself (Identity)
		kernel.Scale(c, blkDst)
	}
	if perNode {
		return
	}
	// dZ1 is in l.dz1: the rest is GCN's backward without the activation.
	l.l1.backward([][]float64{in[0], w1}, l.dz1, [][]float64{gx, gw1})
}
