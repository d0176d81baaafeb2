package model

import (
	"fmt"
	"io"

	"gorgonia.org/tensor"
)

// concatLayer joins a b x p and a b x q matrix side by side. It replaces
// gorgonia.Concat in the trunk because gorgonia's concat and the slice ops
// of its gradient walk element iterators, which cost more than the trunk's
// matrix products at these sizes (BenchmarkUpdate64's profile).
type concatLayer struct {
	b, p, q int
	out     []float64
}

func newConcatLayer(b, p, q int) *concatLayer {
	return &concatLayer{b: b, p: p, q: q, out: make([]float64, b*(p+q))}
}

func (l *concatLayer) Kind() string { return "Concat" }

func (l *concatLayer) Describe(w io.Writer) { fmt.Fprintf(w, "b=%d,p=%d,q=%d", l.b, l.p, l.q) }

func (l *concatLayer) InShapes() []tensor.Shape { return []tensor.Shape{{l.b, l.p}, {l.b, l.q}} }

func (l *concatLayer) OutShape() tensor.Shape { return tensor.Shape{l.b, l.p + l.q} }

func (l *concatLayer) Forward(in [][]float64) []float64 {
	w := l.p + l.q
	for r := range l.b {
		copy(l.out[r*w:r*w+l.p], in[0][r*l.p:(r+1)*l.p])
		copy(l.out[r*w+l.p:(r+1)*w], in[1][r*l.q:(r+1)*l.q])
	}
	return l.out
}

func (l *concatLayer) Backward(_ [][]float64, gy []float64, gin [][]float64) {
	w := l.p + l.q
	for r := range l.b {
		copy(gin[0][r*l.p:(r+1)*l.p], gy[r*w:r*w+l.p])
		copy(gin[1][r*l.q:(r+1)*l.q], gy[r*w+l.p:(r+1)*w])
	}
}
