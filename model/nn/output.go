package nn

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Output reads a node's value safely after TapeMachine.RunAll.
//
// Node.Value() is not safe for intermediate nodes: the v0.9.18 compiler
// gives an element-wise op the register of its first input once that input
// is dead (regalloc.go allocMutableOp, OverwritesInput() == 0) and the
// machine then computes into the input's tensor (vm_tape_nocuda.go: a
// non-nil destination register takes the UsePreallocDo path). The earlier
// node stays bound to that tensor, so after RunAll its Value() shows a later
// node's result. E.g. z := x ⊙ y; w := z + 10: z.Value() reads x⊙y + 10.
//
// NewOutput binds gorgonia.Read(n, ...), a statement the compiler schedules
// right after n and which keeps n's register live until it has copied the
// value out. It must be called before the machine is compiled. The first
// run clones the value; later runs copy into the same clone, so steady-state
// reads do not allocate.
type Output struct {
	node *G.Node
	val  G.Value
}

// NewOutput registers a read of n. Call it before gorgonia.NewTapeMachine.
func NewOutput(n *G.Node) (*Output, error) {
	if n == nil {
		return nil, fmt.Errorf("nn.NewOutput: node is nil")
	}
	if n.Graph() == nil {
		return nil, fmt.Errorf("nn.NewOutput: node %v has no graph", n)
	}
	o := &Output{node: n}
	G.Read(n, &o.val)
	return o, nil
}

// NewOutputInto registers a read of n that copies its value into dst
// (row-major, at least as long as n's shape; it must not be shorter) after
// every run, so a caller can collect results (say, every parameter's
// gradient) in one buffer of its own without a further copy. Float64s and
// Value then return that tensor over dst. Call it before
// gorgonia.NewTapeMachine.
func NewOutputInto(n *G.Node, dst []float64) (*Output, error) {
	if n == nil {
		return nil, fmt.Errorf("nn.NewOutputInto: node is nil")
	}
	if n.Graph() == nil {
		return nil, fmt.Errorf("nn.NewOutputInto: node %v has no graph", n)
	}
	if n.Dtype() != tensor.Float64 {
		return nil, fmt.Errorf("nn.NewOutputInto: node %v has dtype %v, want float64", n, n.Dtype())
	}
	shape := n.Shape()
	size := shape.TotalSize()
	if len(dst) < size {
		return nil, fmt.Errorf("nn.NewOutputInto: node %v has %d values, dst holds %d", n, size, len(dst))
	}
	o := &Output{node: n, val: tensor.New(tensor.WithShape(shape.Clone()...), tensor.WithBacking(dst[:size]))}
	G.Read(n, &o.val)
	return o, nil
}

// Node returns the node being read.
func (o *Output) Node() *G.Node { return o.node }

// Value returns the value copied out by the last run, or nil before the
// first run. The value is owned by o and overwritten by the next run.
func (o *Output) Value() G.Value { return o.val }

// Float64s returns the data of the last value if it is a float64 tensor,
// else nil. The slice is owned by o and overwritten by the next run.
func (o *Output) Float64s() []float64 {
	if t, ok := o.val.(*tensor.Dense); ok && t.Dtype() == tensor.Float64 {
		return t.Float64s()[:t.Shape().TotalSize()]
	}
	return nil
}

// Scalar returns the last value as a float64: a float64 scalar, or a
// float64 tensor holding one element.
func (o *Output) Scalar() (float64, error) {
	switch v := o.val.(type) {
	case nil:
		return 0, fmt.Errorf("nn.Output %v: no value yet (machine not run?)", o.node)
	case *G.F64:
		return float64(*v), nil
	}
	if d := o.Float64s(); len(d) == 1 {
		return d[0], nil
	}
	return 0, fmt.Errorf("nn.Output %v: value %T of shape %v is not a float64 scalar", o.node, o.val, o.val.Shape())
}
