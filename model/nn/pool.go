package nn

import (
	"fmt"
	"io"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/grlscaler/grlscaler/model/kernel"
)

// MeanPool averages a node-major (N*B) x H batch over its N = nodes nodes,
// giving the B x H matrix of per-sample graph embeddings (the readout of the
// critic and of graph-level policy heads).
func MeanPool(x *G.Node, nodes int) (*G.Node, error) {
	if err := positive("nodes", nodes); err != nil {
		return nil, fmt.Errorf("nn.MeanPool: %w", err)
	}
	rows, h, err := matrixShape(x, "x")
	if err != nil {
		return nil, fmt.Errorf("nn.MeanPool: %w", err)
	}
	if rows%nodes != 0 {
		return nil, fmt.Errorf("nn.MeanPool: x has %d rows, not a multiple of %d nodes", rows, nodes)
	}
	l := &poolLayer{n: nodes, batch: rows / nodes, h: h}
	l.y = make([]float64, l.batch*h)
	return apply(l, []*G.Node{x})
}

// MeanPoolForward sets dst (batch x h) to the mean over nodes of the
// node-major x ((nodes*batch) x h). It does not allocate. The MeanPool op's
// forward is this function.
func MeanPoolForward(dst, x []float64, nodes, batch, h int) error {
	if err := positive("nodes, batch, h", nodes, batch, h); err != nil {
		return fmt.Errorf("nn.MeanPoolForward: %w", err)
	}
	if err := needLen("dst", dst, batch*h); err != nil {
		return fmt.Errorf("nn.MeanPoolForward: %w", err)
	}
	if err := needLen("x", x, nodes*batch*h); err != nil {
		return fmt.Errorf("nn.MeanPoolForward: %w", err)
	}
	meanPoolForward(dst, x, nodes, batch, h)
	return nil
}

// meanPoolForward: in the N x (B*H) view of x, the B x H result is the sum
// of the N rows, scaled.
func meanPoolForward(dst, x []float64, nodes, batch, h int) {
	dst = dst[:batch*h]
	clear(dst)
	kernel.SumRows(dst, x, nodes, batch*h)
	inv := 1 / float64(nodes)
	for i := range dst {
		dst[i] *= inv
	}
}

type poolLayer struct {
	n, batch, h int
	y           []float64
}

func (l *poolLayer) kind() string { return "MeanPool" }

func (l *poolLayer) describe(w io.Writer) {
	fmt.Fprintf(w, "N=%d, B=%d, H=%d", l.n, l.batch, l.h)
}

func (l *poolLayer) inShapes() []tensor.Shape { return []tensor.Shape{{l.n * l.batch, l.h}} }

func (l *poolLayer) outShape() tensor.Shape { return tensor.Shape{l.batch, l.h} }

func (l *poolLayer) forward(in [][]float64) []float64 {
	meanPoolForward(l.y, in[0], l.n, l.batch, l.h)
	return l.y
}

// backward: every node of sample s receives dy_s / N.
func (l *poolLayer) backward(_ [][]float64, gy []float64, gin [][]float64) {
	bh := l.batch * l.h
	inv := 1 / float64(l.n)
	gx := gin[0]
	if gx == nil {
		return
	}
	for i, g := range gy[:bh] {
		gx[i] = g * inv
	}
	for n := 1; n < l.n; n++ {
		copy(gx[n*bh:(n+1)*bh], gx[:bh])
	}
}
