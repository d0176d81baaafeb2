package nn

import (
	"fmt"
	"io"
	"math"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// LogSoftmax returns log(softmax(x)) over the last axis of an m x k matrix
// (or of a vector, as one row), for categorical policy heads.
//
// It replaces gorgonia.LogSoftMax, whose tensor kernel (tensor v0.9.24
// defaultengine_softmax.go softMaxLastDimF64) seeds every row's max with
// the first element of the whole tensor (maxInput := xArr[0]) and skips the
// row's own first element: a row whose logits all lie ~745 below that value
// has every exp underflow to 0 and comes out as +Inf, and in general the
// result loses precision. It also starts one goroutine per row. Here each
// row uses its own max: y = x - max - log Σ exp(x - max).
func LogSoftmax(x *G.Node) (*G.Node, error) {
	s, err := nodeShape(x, "x")
	if err != nil {
		return nil, fmt.Errorf("nn.LogSoftmax: %w", err)
	}
	if err := float64Node(x, "x"); err != nil {
		return nil, fmt.Errorf("nn.LogSoftmax: %w", err)
	}
	var m, k int
	switch s.Dims() {
	case 1:
		m, k = 1, s[0]
	case 2:
		m, k = s[0], s[1]
	default:
		return nil, fmt.Errorf("nn.LogSoftmax: x must be a vector or matrix, has shape %v", s)
	}
	if err := positive("rows, columns", m, k); err != nil {
		return nil, fmt.Errorf("nn.LogSoftmax: %w", err)
	}
	l := &logSoftmaxLayer{shape: s.Clone(), m: m, k: k, y: make([]float64, m*k)}
	return apply(l, []*G.Node{x})
}

// LogSoftmaxForward sets dst (m x k) to the row-wise log-softmax of x. dst
// may be x. It does not allocate. The LogSoftmax op's forward is this
// function.
func LogSoftmaxForward(dst, x []float64, m, k int) error {
	if err := positive("m, k", m, k); err != nil {
		return fmt.Errorf("nn.LogSoftmaxForward: %w", err)
	}
	if err := needLen("dst", dst, m*k); err != nil {
		return fmt.Errorf("nn.LogSoftmaxForward: %w", err)
	}
	if err := needLen("x", x, m*k); err != nil {
		return fmt.Errorf("nn.LogSoftmaxForward: %w", err)
	}
	logSoftmaxForward(dst, x, m, k)
	return nil
}

func logSoftmaxForward(dst, x []float64, m, k int) {
	for i := 0; i < m; i++ {
		row := x[i*k : i*k+k]
		lse := logSumExp(row)
		out := dst[i*k : i*k+k]
		for j, v := range row {
			out[j] = v - lse
		}
	}
}

// LogSumExpForward sets dst[i] = log Σ_j exp(x[i][j]) for each row of the
// m x k matrix x, computed as max + log Σ exp(x - max) so it neither
// overflows nor underflows (all terms are <= 1 and one is exactly 1).
//
// gorgonia v0.9.18's LogSumExp (operations.go) is unusable: it subtracts
// the reduced max from the unreduced input without broadcasting (a shape
// error for any matrix) and computes log(Σ exp(x - max) + max) instead of
// log Σ exp(x - max) + max (wrong for vectors). It does not allocate.
func LogSumExpForward(dst, x []float64, m, k int) error {
	if err := positive("m, k", m, k); err != nil {
		return fmt.Errorf("nn.LogSumExpForward: %w", err)
	}
	if err := needLen("dst", dst, m); err != nil {
		return fmt.Errorf("nn.LogSumExpForward: %w", err)
	}
	if err := needLen("x", x, m*k); err != nil {
		return fmt.Errorf("nn.LogSumExpForward: %w", err)
	}
	for i := 0; i < m; i++ {
		dst[i] = logSumExp(x[i*k : i*k+k])
	}
	return nil
}

// logSumExp is the stable log Σ exp(row). A row containing +Inf gives +Inf,
// an all -Inf row gives -Inf (not NaN).
func logSumExp(row []float64) float64 {
	mx := math.Inf(-1)
	for _, v := range row {
		mx = max(mx, v)
	}
	if math.IsInf(mx, 0) {
		return mx
	}
	var sum float64
	for _, v := range row {
		sum += math.Exp(v - mx)
	}
	return mx + math.Log(sum)
}

type logSoftmaxLayer struct {
	shape tensor.Shape
	m, k  int
	y     []float64
}

func (l *logSoftmaxLayer) kind() string { return "LogSoftmax" }

func (l *logSoftmaxLayer) describe(w io.Writer) { fmt.Fprintf(w, "%v", l.shape) }

func (l *logSoftmaxLayer) inShapes() []tensor.Shape { return []tensor.Shape{l.shape} }

func (l *logSoftmaxLayer) outShape() tensor.Shape { return l.shape.Clone() }

func (l *logSoftmaxLayer) forward(in [][]float64) []float64 {
	logSoftmaxForward(l.y, in[0], l.m, l.k)
	return l.y
}

// backward: dx_j = g_j - softmax_j Σ_k g_k, with softmax = exp(y).
func (l *logSoftmaxLayer) backward(_ [][]float64, gy []float64, gin [][]float64) {
	gx := gin[0]
	if gx == nil {
		return
	}
	for i := 0; i < l.m; i++ {
		g := gy[i*l.k : i*l.k+l.k]
		var sum float64
		for _, v := range g {
			sum += v
		}
		y := l.y[i*l.k : i*l.k+l.k]
		out := gx[i*l.k : i*l.k+l.k]
		for j, v := range g {
			out[j] = v - math.Exp(y[j])*sum
		}
	}
}
