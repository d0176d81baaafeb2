package nn

import (
	"io"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Layer is a fused op defined outside this package (for example a loss):
// its math, with shapes fixed at build time. Forward returns the output in a
// buffer the layer owns; Backward overwrites gin[i] with dL/d(input i) given
// the inputs of the last Forward and gy = dL/d(output).
type Layer interface {
	Kind() string
	Describe(w io.Writer)
	InShapes() []tensor.Shape
	OutShape() tensor.Shape
	Forward(in [][]float64) []float64
	Backward(in [][]float64, gy []float64, gin [][]float64)
}

// Custom applies a Layer as a fused gorgonia op over children, with the
// same buffer ownership, once-per-run backward and preallocation as the
// built-in ops.
func Custom(l Layer, children ...*G.Node) (*G.Node, error) {
	return apply(customLayer{l}, children)
}

type customLayer struct{ l Layer }

func (c customLayer) kind() string                     { return c.l.Kind() }
func (c customLayer) describe(w io.Writer)             { c.l.Describe(w) }
func (c customLayer) inShapes() []tensor.Shape         { return c.l.InShapes() }
func (c customLayer) outShape() tensor.Shape           { return c.l.OutShape() }
func (c customLayer) forward(in [][]float64) []float64 { return c.l.Forward(in) }
func (c customLayer) backward(in [][]float64, gy []float64, gin [][]float64) {
	c.l.Backward(in, gy, gin)
}
