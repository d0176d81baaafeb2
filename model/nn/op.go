package nn

import (
	"fmt"
	"hash"
	"hash/fnv"
	"io"
	"strings"
	"sync/atomic"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// layer is the gorgonia-free math of one fused op. Shapes are fixed when the
// node is built (a network is one expression graph per batch size), so the
// layer sizes its buffers once and forward/backward never allocate.
type layer interface {
	// kind names the op ("Dense", "GCN", ...).
	kind() string
	// describe writes the op's parameters (sizes, activation, graph
	// fingerprint) for String and WriteHash.
	describe(w io.Writer)
	// inShapes are the expected input shapes, in argument order.
	inShapes() []tensor.Shape
	// outShape is the output shape.
	outShape() tensor.Shape
	// forward computes the output from the input data into a layer-owned
	// buffer (which backward may read) and returns it. Inputs are validated.
	forward(in [][]float64) []float64
	// backward overwrites gin[i] with dL/d(input i) given the same inputs
	// as the last forward and gy = dL/d(output). gin[i] is nil for an input
	// marked NoGrad: its gradient is not wanted and need not be computed.
	// backward may read the buffer forward returned (the op keeps it
	// intact until then, see fusedOp) but must not write it.
	backward(in [][]float64, gy []float64, gin [][]float64)
}

// opSeq numbers op instances. The number goes into WriteHash because ops
// carry per-instance state (stashed activations, generation counters):
// gorgonia's ExprGraph.AddNode merges nodes with equal hashes and children
// (graph.go), which must never happen to two stateful ops.
var opSeq atomic.Uint64

// fusedOp adapts a layer to gorgonia's Op, SDOp and UsePreallocDoer.
//
// Buffer ownership: forward writes into the layer's buffers and Do hands
// the machine outT, an op-owned tensor over the very buffer forward
// returned, without copying it. What backward reads of that buffer (the
// activations it stashes) must survive until backward runs, although the
// TapeMachine lets a later element-wise op overwrite a node's value in
// place once its register is dead (see Output). So every gradient node
// takes the forward node as an argument: that keeps the output's register
// live until the last gradient node of the op has run, and the compiler
// never hands a live register to an in-place op. After backward, an
// in-place op may scribble on the buffer; the next forward rewrites it.
//
// Inputs marked NoGrad (data such as observations) are not differentiable
// (DiffWRT), get no gradient node, and backward is told not to compute
// their gradient.
type fusedOp struct {
	l      layer
	id     uint64
	ins    []tensor.Shape
	out    tensor.Shape
	noGrad []bool

	// fwdGen counts forward runs; bwdGen is the fwdGen whose gradients are
	// in gradD. The first gradient node to run after a forward computes
	// every input gradient, the others only hand out their buffer.
	fwdGen, bwdGen uint64

	inData [][]float64 // reused argument slice for layer calls
	outT   *tensor.Dense
	outD   []float64
	gradT  []*tensor.Dense
	gradD  [][]float64
	gin    [][]float64 // gradD with nil for NoGrad inputs, for backward
}

func newFusedOp(l layer) *fusedOp {
	ins := l.inShapes()
	return &fusedOp{
		l:      l,
		id:     opSeq.Add(1),
		ins:    ins,
		out:    l.outShape(),
		noGrad: make([]bool, len(ins)),
		inData: make([][]float64, len(ins)),
		gradT:  make([]*tensor.Dense, len(ins)),
		gradD:  make([][]float64, len(ins)),
		gin:    make([][]float64, len(ins)),
	}
}

// Option configures a layer op when it is built.
type Option func(*options)

type options struct {
	noGrad []*G.Node
}

// NoGrad marks the given argument nodes of a layer (typically its data
// input x: observations, not functions of parameters) as constants: the
// op is not differentiable with respect to them, so gorgonia.Grad builds
// no gradient node for them and backward skips their gradient (for the
// first layer of a network, a whole matrix product). gorgonia.Grad with
// respect to such a node then fails, as for any non-differentiable input.
func NoGrad(nodes ...*G.Node) Option {
	return func(o *options) { o.noGrad = append(o.noGrad, nodes...) }
}

// apply builds the node of a fresh op instance over children.
func apply(l layer, children []*G.Node, opts ...Option) (*G.Node, error) {
	op := newFusedOp(l)
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	for i, c := range children {
		for _, ng := range o.noGrad {
			if ng != nil && c == ng {
				op.noGrad[i] = true
			}
		}
	}
	n, err := G.ApplyOp(op, children...)
	if err != nil {
		return nil, fmt.Errorf("nn.%s: %w", l.kind(), err)
	}
	return n, nil
}

func tensorTypes(shapes ...tensor.Shape) []hm.Type {
	a := hm.TypeVariable('a')
	ts := make([]hm.Type, len(shapes))
	for i, s := range shapes {
		ts[i] = G.TensorType{Dims: s.Dims(), Of: a}
	}
	return ts
}

// Arity implements gorgonia.Op.
func (op *fusedOp) Arity() int { return len(op.ins) }

// Type implements gorgonia.Op: Tensor a -> ... -> Tensor a, with each
// tensor's rank fixed.
func (op *fusedOp) Type() hm.Type {
	return hm.NewFnType(tensorTypes(append(append([]tensor.Shape(nil), op.ins...), op.out)...)...)
}

// InferShape implements gorgonia.Op. The layer's shapes were fixed at build
// time, so this only checks them.
func (op *fusedOp) InferShape(ds ...G.DimSizer) (tensor.Shape, error) {
	if err := checkShapes(op.ins, ds); err != nil {
		return nil, fmt.Errorf("%v: %w", op, err)
	}
	return op.out.Clone(), nil
}

func checkShapes(want []tensor.Shape, ds []G.DimSizer) error {
	if len(ds) != len(want) {
		return fmt.Errorf("got %d inputs, want %d", len(ds), len(want))
	}
	for i, d := range ds {
		s, ok := d.(tensor.Shape)
		if !ok || !s.Eq(want[i]) {
			return fmt.Errorf("input %d has shape %v, want %v", i, d, want[i])
		}
	}
	return nil
}

// Do implements gorgonia.Op. It returns an op-owned tensor over the
// layer's output buffer (no copy; see fusedOp) that the next Do
// overwrites; it allocates only on the first call.
func (op *fusedOp) Do(vals ...G.Value) (G.Value, error) {
	y, err := op.run(vals)
	if err != nil {
		return nil, err
	}
	wrapDense(&op.outT, &op.outD, y, op.out)
	return op.outT, nil
}

// UsePreallocDo implements gorgonia.UsePreallocDoer: the TapeMachine calls
// it when the destination register already holds a value (vm_tape_nocuda.go
// execOp.exec) and falls back to Do if it returns an error, which it does
// when prealloc is not a contiguous float64 tensor of the output shape.
func (op *fusedOp) UsePreallocDo(prealloc G.Value, vals ...G.Value) (G.Value, error) {
	dst, err := float64Data(prealloc, op.out, false)
	if err != nil {
		return nil, fmt.Errorf("%v: prealloc: %w", op, err)
	}
	y, err := op.run(vals)
	if err != nil {
		return nil, err
	}
	copy(dst, y)
	return prealloc, nil
}

func (op *fusedOp) run(vals []G.Value) ([]float64, error) {
	if err := op.load(vals); err != nil {
		return nil, err
	}
	y := op.l.forward(op.inData)
	clear(op.inData) // do not keep the machine's tensors alive
	op.fwdGen++
	return y, nil
}

func (op *fusedOp) load(vals []G.Value) error {
	if len(vals) < len(op.ins) {
		return fmt.Errorf("%v: got %d inputs, want %d", op, len(vals), len(op.ins))
	}
	for i, s := range op.ins {
		d, err := float64Data(vals[i], s, true)
		if err != nil {
			clear(op.inData)
			return fmt.Errorf("%v: input %d: %w", op, i, err)
		}
		op.inData[i] = d
	}
	return nil
}

// ReturnsPtr implements gorgonia.Op. false: the result is a value the
// machine may keep, not an alias of an input.
func (op *fusedOp) ReturnsPtr() bool { return false }

// CallsExtern implements gorgonia.Op. false, so the compiler inserts no
// Alloc instruction: after Reset the machine would re-allocate that output
// on every run (vm_tape.go alloc.exec), while Do reuses its own.
func (op *fusedOp) CallsExtern() bool { return false }

// OverwritesInput implements gorgonia.Op: inputs are never written.
func (op *fusedOp) OverwritesInput() int { return -1 }

// WriteHash implements gorgonia.Op; see opSeq for why the instance number
// is part of it.
func (op *fusedOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "nn.%s#%d{", op.l.kind(), op.id)
	op.l.describe(h)
	fmt.Fprint(h, "}")
}

// Hashcode implements gorgonia.Op.
func (op *fusedOp) Hashcode() uint32 {
	h := fnv.New32a()
	op.WriteHash(h)
	return h.Sum32()
}

// String implements fmt.Stringer.
func (op *fusedOp) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "nn.%s{", op.l.kind())
	op.l.describe(&b)
	b.WriteString("}")
	return b.String()
}

// DiffWRT implements gorgonia.SDOp: every input is differentiable except
// those marked NoGrad (graph structure is captured in the op, not an
// input).
func (op *fusedOp) DiffWRT(inputs int) []bool {
	d := make([]bool, inputs)
	for i := range d {
		d[i] = i >= len(op.noGrad) || !op.noGrad[i]
	}
	return d
}

// SymDiff implements gorgonia.SDOp. Gradient node i takes the forward
// inputs, the forward output (to keep it live, see fusedOp) and the output
// gradient and yields dL/d(input i); all of them share one backward
// computation per forward run. NoGrad inputs get no gradient node (nil).
func (op *fusedOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	if len(inputs) != len(op.ins) {
		return nil, fmt.Errorf("%v: SymDiff got %d inputs, want %d", op, len(inputs), len(op.ins))
	}
	children := make(G.Nodes, 0, len(inputs)+2)
	children = append(children, inputs...)
	children = append(children, output, grad)
	grads := make(G.Nodes, len(inputs))
	for i := range inputs {
		if op.noGrad[i] {
			continue
		}
		n, err := G.ApplyOp(&fusedDiffOp{fwd: op, wrt: i}, children...)
		if err != nil {
			return nil, fmt.Errorf("%v: gradient of input %d: %w", op, i, err)
		}
		grads[i] = n
	}
	return grads, nil
}

// fusedDiffOp yields the gradient of one input of a fusedOp.
type fusedDiffOp struct {
	fwd *fusedOp
	wrt int
}

// Arity implements gorgonia.Op: the forward inputs, the forward output and
// the output gradient.
func (op *fusedDiffOp) Arity() int { return len(op.fwd.ins) + 2 }

// Type implements gorgonia.Op.
func (op *fusedDiffOp) Type() hm.Type {
	f := op.fwd
	shapes := append(append([]tensor.Shape(nil), f.ins...), f.out, f.out, f.ins[op.wrt])
	return hm.NewFnType(tensorTypes(shapes...)...)
}

// InferShape implements gorgonia.Op.
func (op *fusedDiffOp) InferShape(ds ...G.DimSizer) (tensor.Shape, error) {
	f := op.fwd
	if err := checkShapes(append(append([]tensor.Shape(nil), f.ins...), f.out, f.out), ds); err != nil {
		return nil, fmt.Errorf("%v: %w", op, err)
	}
	return f.ins[op.wrt].Clone(), nil
}

// Do implements gorgonia.Op; it returns an op-owned tensor.
func (op *fusedDiffOp) Do(vals ...G.Value) (G.Value, error) {
	if err := op.compute(vals); err != nil {
		return nil, err
	}
	return op.fwd.gradT[op.wrt], nil
}

// UsePreallocDo implements gorgonia.UsePreallocDoer.
func (op *fusedDiffOp) UsePreallocDo(prealloc G.Value, vals ...G.Value) (G.Value, error) {
	dst, err := float64Data(prealloc, op.fwd.ins[op.wrt], false)
	if err != nil {
		return nil, fmt.Errorf("%v: prealloc: %w", op, err)
	}
	if err := op.compute(vals); err != nil {
		return nil, err
	}
	copy(dst, op.fwd.gradD[op.wrt])
	return prealloc, nil
}

// compute runs the layer's backward unless it already ran for the current
// forward generation. The forward output (vals[len(ins)]) is only an
// argument for liveness; backward reads the layer's own buffer.
func (op *fusedDiffOp) compute(vals []G.Value) error {
	f := op.fwd
	if len(vals) != len(f.ins)+2 {
		return fmt.Errorf("%v: got %d inputs, want %d", op, len(vals), len(f.ins)+2)
	}
	if f.fwdGen == 0 {
		return fmt.Errorf("%v: backward before any forward run", op)
	}
	if f.bwdGen == f.fwdGen {
		return nil
	}
	if err := f.load(vals); err != nil {
		return fmt.Errorf("gradient of input %d: %w", op.wrt, err)
	}
	gy, err := float64Data(vals[len(f.ins)+1], f.out, true)
	if err != nil {
		clear(f.inData)
		return fmt.Errorf("%v: output gradient: %w", op, err)
	}
	for i, s := range f.ins {
		if f.noGrad[i] {
			f.gin[i] = nil
			continue
		}
		ensureDense(&f.gradT[i], &f.gradD[i], s)
		f.gin[i] = f.gradD[i]
	}
	f.l.backward(f.inData, gy, f.gin)
	clear(f.inData)
	f.bwdGen = f.fwdGen
	return nil
}

// ReturnsPtr implements gorgonia.Op.
func (op *fusedDiffOp) ReturnsPtr() bool { return false }

// CallsExtern implements gorgonia.Op; see fusedOp.CallsExtern.
func (op *fusedDiffOp) CallsExtern() bool { return false }

// OverwritesInput implements gorgonia.Op.
func (op *fusedDiffOp) OverwritesInput() int { return -1 }

// WriteHash implements gorgonia.Op.
func (op *fusedDiffOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "nn.%sGrad#%d/%d{", op.fwd.l.kind(), op.fwd.id, op.wrt)
	op.fwd.l.describe(h)
	fmt.Fprint(h, "}")
}

// Hashcode implements gorgonia.Op.
func (op *fusedDiffOp) Hashcode() uint32 {
	h := fnv.New32a()
	op.WriteHash(h)
	return h.Sum32()
}

// String implements fmt.Stringer.
func (op *fusedDiffOp) String() string {
	return fmt.Sprintf("∂%v/∂in%d", op.fwd, op.wrt)
}

// float64Data returns the row-major data of a float64 tensor of the given
// shape without copying. A view (sliced or transposed tensor) is
// materialised, which allocates; the machine's own values never are views.
// Preallocated destinations must not be views (allowView false), since
// writing into a materialised copy would be lost.
func float64Data(v G.Value, want tensor.Shape, allowView bool) ([]float64, error) {
	t, ok := v.(*tensor.Dense)
	if !ok {
		return nil, fmt.Errorf("got %T, want *tensor.Dense", v)
	}
	if t.Dtype() != tensor.Float64 {
		return nil, fmt.Errorf("got dtype %v, want float64", t.Dtype())
	}
	if !t.Shape().Eq(want) {
		return nil, fmt.Errorf("got shape %v, want %v", t.Shape(), want)
	}
	if t.IsMaterializable() {
		if !allowView {
			return nil, fmt.Errorf("got a view, want a contiguous tensor")
		}
		m, ok := t.Materialize().(*tensor.Dense)
		if !ok {
			return nil, fmt.Errorf("cannot materialise view %v", t.Shape())
		}
		t = m
	}
	n := want.TotalSize()
	d := t.Float64s()
	if len(d) < n {
		return nil, fmt.Errorf("backing array holds %d values, shape %v needs %d", len(d), want, n)
	}
	return d[:n], nil
}

// ensureDense makes *t an op-owned tensor of the given shape backed by *d,
// allocating only the first time or if someone changed it behind our back
// (gorgonia may Reshape a value in place, or return it to tensor's pool in
// Node.unbind, which zeroes its header).
func ensureDense(t **tensor.Dense, d *[]float64, shape tensor.Shape) {
	n := shape.TotalSize()
	if cur := *t; cur != nil && len(*d) == n && n > 0 && cur.Dtype() == tensor.Float64 && cur.Shape().Eq(shape) && !cur.IsMaterializable() {
		if td := cur.Float64s(); len(td) == n && &td[0] == &(*d)[0] {
			return
		}
	}
	*d = make([]float64, n)
	*t = tensor.New(tensor.WithShape(shape.Clone()...), tensor.WithBacking(*d))
}

// wrapDense makes *t an op-owned tensor of the given shape over data,
// allocating a tensor header only the first time or if someone changed it
// behind our back (see ensureDense).
func wrapDense(t **tensor.Dense, d *[]float64, data []float64, shape tensor.Shape) {
	n := shape.TotalSize()
	data = data[:n]
	if cur := *t; cur != nil && len(*d) == n && n > 0 && &(*d)[0] == &data[0] && cur.Dtype() == tensor.Float64 && cur.Shape().Eq(shape) && !cur.IsMaterializable() {
		if td := cur.Float64s(); len(td) == n && &td[0] == &data[0] {
			return
		}
	}
	*d = data
	*t = tensor.New(tensor.WithShape(shape.Clone()...), tensor.WithBacking(data))
}

// nodeShape returns n's shape, or an error naming the argument if n is nil.
func nodeShape(n *G.Node, what string) (tensor.Shape, error) {
	if n == nil {
		return nil, fmt.Errorf("%s is nil", what)
	}
	return n.Shape(), nil
}
