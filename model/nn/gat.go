package nn

import (
	"fmt"
	"io"
	"math"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/grlscaler/grlscaler/model/kernel"
)

// leakySlope is the negative slope of the LeakyReLU applied to attention
// logits (Veličković et al. 2018, eq. 3).
const leakySlope = 0.2

// GAT applies one multi-head graph attention layer (Veličković et al. 2018)
// to every sample of a node-major batch. For head h, z = x·W_h (W_h is
// columns h*out..(h+1)*out of W), and for every edge j -> i of the
// symmetrised, self-looped graph g (see Graph)
//
//	e_ij = LeakyReLU_0.2(aDst_hᵀ z_i + aSrc_hᵀ z_j)
//	α_ij = softmax over j in N(i) of e_ij
//	o_i  = Σ_j α_ij z_j
//
// Attention is within each sample. The heads' o_i are concatenated
// (concat, output width heads*out) or averaged (output width out), the bias
// is added and act applied. x is (N*B) x in, W is in x heads*out, aSrc and
// aDst are vectors of length heads*out (head h's vector is the h-th slice),
// b is a vector of the output width or nil. The result is node-major.
func GAT(x, w, aSrc, aDst, b *G.Node, g *Graph, heads, out int, concat bool, act Activation, opts ...Option) (*G.Node, error) {
	if g == nil {
		return nil, fmt.Errorf("nn.GAT: graph is nil")
	}
	if err := positive("heads, out", heads, out); err != nil {
		return nil, fmt.Errorf("nn.GAT: %w", err)
	}
	rows, in, err := matrixShape(x, "x")
	if err != nil {
		return nil, fmt.Errorf("nn.GAT: %w", err)
	}
	if rows%g.n != 0 {
		return nil, fmt.Errorf("nn.GAT: x has %d rows, not a multiple of %d nodes", rows, g.n)
	}
	win, wout, err := matrixShape(w, "W")
	if err != nil {
		return nil, fmt.Errorf("nn.GAT: %w", err)
	}
	if win != in || wout != heads*out {
		return nil, fmt.Errorf("nn.GAT: W is %d x %d, want %d x %d (%d heads x %d)", win, wout, in, heads*out, heads, out)
	}
	if err := checkVector(aSrc, "aSrc", heads*out); err != nil {
		return nil, fmt.Errorf("nn.GAT: %w", err)
	}
	if err := checkVector(aDst, "aDst", heads*out); err != nil {
		return nil, fmt.Errorf("nn.GAT: %w", err)
	}
	if err := act.check(); err != nil {
		return nil, fmt.Errorf("nn.GAT: %w", err)
	}
	l := newGATLayer(g, gatDims{n: g.n, batch: rows / g.n, in: in, heads: heads, out: out, concat: concat}, b != nil, act)
	children := []*G.Node{x, w, aSrc, aDst}
	if b != nil {
		if err := checkVector(b, "b", l.d.width()); err != nil {
			return nil, fmt.Errorf("nn.GAT: %w", err)
		}
		children = append(children, b)
	}
	return apply(l, children, opts...)
}

// gatDims are the sizes of a GAT layer.
type gatDims struct {
	n, batch, in, heads, out int
	concat                   bool
}

func (d gatDims) rows() int { return d.n * d.batch }
func (d gatDims) ho() int   { return d.heads * d.out }

// width is the output width: heads*out if concatenating, else out.
func (d gatDims) width() int {
	if d.concat {
		return d.ho()
	}
	return d.out
}

// GATScratchLen is the scratch length GATForward needs to run without
// allocating: z, the two per-head score columns and the dense per-sample,
// per-head attention matrices.
func GATScratchLen(nodes, batch, heads, out int) int {
	rows := nodes * batch
	return rows*heads*out + 2*rows*heads + batch*heads*nodes*nodes
}

// gatScratch is GATForward's scratch, split.
type gatScratch struct {
	z     []float64 // (N*B) x heads*out: x·W
	sSrc  []float64 // (N*B) x heads: aSrc_hᵀ z_j
	sDst  []float64 // (N*B) x heads: aDst_hᵀ z_i
	alpha []float64 // B x heads x N x N: α, zero off the edges
}

func splitGATScratch(s []float64, d gatDims) gatScratch {
	rows, ho, h, n := d.rows(), d.ho(), d.heads, d.n
	var g gatScratch
	g.z, s = s[:rows*ho], s[rows*ho:]
	g.sSrc, s = s[:rows*h], s[rows*h:]
	g.sDst, s = s[:rows*h], s[rows*h:]
	g.alpha = s[:d.batch*h*n*n]
	return g
}

// GATForward computes the GAT layer (see GAT) for a node-major batch
// without gorgonia: x is (N*batch) x in, w is in x heads*out, aSrc and aDst
// have heads*out values, b has the output width (heads*out if concat, else
// out) or is nil, and dst is (N*batch) x width. It does not allocate if
// scratch holds GATScratchLen values (a shorter scratch is replaced by a
// fresh one). The GAT op's forward is this function.
func GATForward(dst, x []float64, batch int, w, aSrc, aDst, b []float64, in int, g *Graph, heads, out int, concat bool, act Activation, scratch []float64) error {
	if g == nil {
		return fmt.Errorf("nn.GATForward: graph is nil")
	}
	if err := positive("batch, in, heads, out", batch, in, heads, out); err != nil {
		return fmt.Errorf("nn.GATForward: %w", err)
	}
	if err := act.check(); err != nil {
		return fmt.Errorf("nn.GATForward: %w", err)
	}
	d := gatDims{n: g.n, batch: batch, in: in, heads: heads, out: out, concat: concat}
	if err := needLen("dst", dst, d.rows()*d.width()); err != nil {
		return fmt.Errorf("nn.GATForward: %w", err)
	}
	if err := needLen("x", x, d.rows()*in); err != nil {
		return fmt.Errorf("nn.GATForward: %w", err)
	}
	if err := needLen("w", w, in*d.ho()); err != nil {
		return fmt.Errorf("nn.GATForward: %w", err)
	}
	if err := needLen("aSrc", aSrc, d.ho()); err != nil {
		return fmt.Errorf("nn.GATForward: %w", err)
	}
	if err := needLen("aDst", aDst, d.ho()); err != nil {
		return fmt.Errorf("nn.GATForward: %w", err)
	}
	if b != nil {
		if err := needLen("b", b, d.width()); err != nil {
			return fmt.Errorf("nn.GATForward: %w", err)
		}
	}
	s := splitGATScratch(scratchOf(scratch, GATScratchLen(g.n, batch, heads, out)), d)
	gatForward(dst, x, w, aSrc, aDst, b, g, d, act, s)
	return nil
}

func gatForward(dst, x, w, aSrc, aDst, b []float64, g *Graph, d gatDims, act Activation, s gatScratch) {
	n, bt, hs, o := d.n, d.batch, d.heads, d.out
	rows, ho := d.rows(), d.ho()

	// z = x·W for every node of every sample at once.
	kernel.Gemm(false, false, rows, ho, d.in, 1, x, d.in, w, ho, 0, s.z, ho)

	// Per-node halves of the attention logit, one matrix-vector product per
	// head: sSrc[:, h] = z_h·aSrc_h, sDst[:, h] = z_h·aDst_h.
	for h := 0; h < hs; h++ {
		kernel.Gemm(false, false, rows, 1, o, 1, s.z[h*o:], ho, aSrc[h*o:], 1, 0, s.sSrc[h:], hs)
		kernel.Gemm(false, false, rows, 1, o, 1, s.z[h*o:], ho, aDst[h*o:], 1, 0, s.sDst[h:], hs)
	}

	// α row by row over each node's neighbours, max-subtracted so exp
	// cannot overflow (softmax is shift invariant).
	for smp := 0; smp < bt; smp++ {
		for h := 0; h < hs; h++ {
			al := s.alpha[(smp*hs+h)*n*n : (smp*hs+h+1)*n*n]
			for i := 0; i < n; i++ {
				row := al[i*n : i*n+n]
				clear(row)
				di := s.sDst[(i*bt+smp)*hs+h]
				nb := g.Neighbors(i)
				mx := math.Inf(-1)
				for _, j := range nb {
					u := di + s.sSrc[(j*bt+smp)*hs+h]
					if u < 0 {
						u *= leakySlope
					}
					row[j] = u
					mx = max(mx, u)
				}
				var sum float64
				for _, j := range nb {
					e := math.Exp(row[j] - mx)
					row[j] = e
					sum += e
				}
				inv := 1 / sum
				for _, j := range nb {
					row[j] *= inv
				}
			}
		}
	}

	// o = α·z per sample and head. Sample smp's head-h block of an
	// (N*B) x k node-major matrix starts at smp*k + h*out with row stride
	// B*k, so each product is one strided Gemm; averaged heads accumulate
	// with beta = 1.
	for smp := 0; smp < bt; smp++ {
		for h := 0; h < hs; h++ {
			al := s.alpha[(smp*hs+h)*n*n:]
			zb := s.z[smp*ho+h*o:]
			if d.concat {
				kernel.Gemm(false, false, n, o, n, 1, al, n, zb, bt*ho, 0, dst[smp*ho+h*o:], bt*ho)
			} else {
				beta := 1.0
				if h == 0 {
					beta = 0
				}
				kernel.Gemm(false, false, n, o, n, 1/float64(hs), al, n, zb, bt*ho, beta, dst[smp*o:], bt*o)
			}
		}
	}
	if b != nil {
		kernel.AddRowVector(dst, rows, d.width(), b)
	}
	applyAct(act, dst[:rows*d.width()])
}

type gatLayer struct {
	g    *Graph
	d    gatDims
	bias bool
	act  Activation

	s gatScratch
	// backward buffers
	y, dpre, dz, da, dsSrc, dsDst []float64
}

func newGATLayer(g *Graph, d gatDims, bias bool, act Activation) *gatLayer {
	rows := d.rows()
	return &gatLayer{g: g, d: d, bias: bias, act: act,
		s:     splitGATScratch(make([]float64, GATScratchLen(d.n, d.batch, d.heads, d.out)), d),
		y:     make([]float64, rows*d.width()),
		dpre:  make([]float64, rows*d.width()),
		dz:    make([]float64, rows*d.ho()),
		da:    make([]float64, d.n*d.n),
		dsSrc: make([]float64, rows*d.heads),
		dsDst: make([]float64, rows*d.heads),
	}
}

func (l *gatLayer) kind() string { return "GAT" }

func (l *gatLayer) describe(w io.Writer) {
	fmt.Fprintf(w, "N=%d, B=%d, %d->%dx%d, concat=%t, bias=%t, %v, adj=%x",
		l.d.n, l.d.batch, l.d.in, l.d.heads, l.d.out, l.d.concat, l.bias, l.act, l.g.adj.fingerprint)
}

func (l *gatLayer) inShapes() []tensor.Shape {
	d := l.d
	return withBias([]tensor.Shape{{d.rows(), d.in}, {d.in, d.ho()}, {d.ho()}, {d.ho()}}, l.bias, d.width())
}

func (l *gatLayer) outShape() tensor.Shape { return tensor.Shape{l.d.rows(), l.d.width()} }

func (l *gatLayer) forward(in [][]float64) []float64 {
	var b []float64
	if l.bias {
		b = in[4]
	}
	gatForward(l.y, in[0], in[1], in[2], in[3], b, l.g, l.d, l.act, l.s)
	return l.y
}

// backward reverses gatForward step by step. With dP = G ⊙ act'(y) and,
// per sample and head, dO = dP's head block (concat) or dP/heads (mean):
//
//	dz    = αᵀ·dO                      (through o = α·z)
//	dα    = dO·zᵀ                      (only edge entries are used)
//	de_ij = α_ij (dα_ij - Σ_k α_ik dα_ik)  (softmax)
//	du_ij = de_ij · LeakyReLU'(u_ij)
//	dsDst_i += Σ_j du_ij, dsSrc_j += Σ_i du_ij
//	daDst_h = Σ_rows dsDst·z_h, dz_h += dsDst ⊗ aDst_h (same for src)
//	dW = xᵀ·dz, dx = dz·Wᵀ, db = Σ_rows dP
func (l *gatLayer) backward(in [][]float64, gy []float64, gin [][]float64) {
	x, w, aSrc, aDst := in[0], in[1], in[2], in[3]
	d := l.d
	n, bt, hs, o := d.n, d.batch, d.heads, d.out
	rows, ho, wd := d.rows(), d.ho(), d.width()
	s := l.s

	actBackward(l.act, l.dpre, gy, l.y)
	if l.bias && gin[4] != nil {
		clear(gin[4])
		kernel.SumRows(gin[4], l.dpre, rows, wd)
	}
	clear(l.dsSrc)
	clear(l.dsDst)
	for smp := 0; smp < bt; smp++ {
		for h := 0; h < hs; h++ {
			al := s.alpha[(smp*hs+h)*n*n : (smp*hs+h+1)*n*n]
			zb := s.z[smp*ho+h*o:]
			var dO []float64
			var ldo int
			scale := 1.0
			if d.concat {
				dO, ldo = l.dpre[smp*ho+h*o:], bt*ho
			} else {
				dO, ldo, scale = l.dpre[smp*o:], bt*o, 1/float64(hs)
			}
			kernel.Gemm(true, false, n, o, n, scale, al, n, dO, ldo, 0, l.dz[smp*ho+h*o:], bt*ho)
			kernel.Gemm(false, true, n, n, o, scale, dO, ldo, zb, bt*ho, 0, l.da, n)
			for i := 0; i < n; i++ {
				arow, drow := al[i*n:i*n+n], l.da[i*n:i*n+n]
				nb := l.g.Neighbors(i)
				var t float64
				for _, j := range nb {
					t += arow[j] * drow[j]
				}
				di := s.sDst[(i*bt+smp)*hs+h]
				var acc float64
				for _, j := range nb {
					du := arow[j] * (drow[j] - t)
					if di+s.sSrc[(j*bt+smp)*hs+h] < 0 {
						du *= leakySlope
					}
					acc += du
					l.dsSrc[(j*bt+smp)*hs+h] += du
				}
				l.dsDst[(i*bt+smp)*hs+h] += acc
			}
		}
	}
	gaSrc, gaDst := gin[2], gin[3]
	for h := 0; h < hs; h++ {
		if gaSrc != nil {
			kernel.Gemm(true, false, 1, o, rows, 1, l.dsSrc[h:], hs, s.z[h*o:], ho, 0, gaSrc[h*o:], o)
		}
		if gaDst != nil {
			kernel.Gemm(true, false, 1, o, rows, 1, l.dsDst[h:], hs, s.z[h*o:], ho, 0, gaDst[h*o:], o)
		}
		kernel.Gemm(false, false, rows, o, 1, 1, l.dsSrc[h:], hs, aSrc[h*o:], o, 1, l.dz[h*o:], ho)
		kernel.Gemm(false, false, rows, o, 1, 1, l.dsDst[h:], hs, aDst[h*o:], o, 1, l.dz[h*o:], ho)
	}
	if gin[1] != nil {
		kernel.Gemm(true, false, d.in, ho, rows, 1, x, d.in, l.dz, ho, 0, gin[1], ho)
	}
	if gin[0] != nil {
		kernel.Gemm(false, true, rows, d.in, ho, 1, l.dz, ho, w, ho, 0, gin[0], d.in)
	}
}
