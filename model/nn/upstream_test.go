package nn

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Regression tests for the gorgonia v0.9.18 / tensor v0.9.24 defects this
// package works around. Tests named TestUpstreamStillBroken_* document the
// defect itself: if one starts failing, upstream was fixed (or changed) and
// the workaround and the test can be revisited. The other tests fail if the
// workaround is removed.

// Defect 1: go4.org/unsafe/assume-no-moving-gc before v0.0.0-20231121...
// panics in init on any Go release it does not know (untested.go in
// v0.0.0-20220617031537-928513b29760, which gorgonia v0.9.18 requires, knows
// up to go1.19), so merely importing gorgonia kills the program on Go 1.26.
// go.mod pins the 2023-11 version, which no longer checks the runtime
// version. If the pin is dropped this test binary panics before running.
func TestGorgoniaStartsOnThisGo(t *testing.T) {
	// Test binaries carry no dependency list in their build info, so read
	// the requirement from go.mod (two levels up from model/nn).
	const mod, pinned = "go4.org/unsafe/assume-no-moving-gc", "v0.0.0-20231121144256-b99613f794b6"
	gomod, err := os.ReadFile(filepath.Join("..", "..", "go.mod"))
	if err != nil {
		t.Fatalf("reading go.mod: %v", err)
	}
	version := ""
	for _, line := range strings.Split(string(gomod), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == mod {
			version = f[1]
		} else if len(f) >= 3 && f[0] == "require" && f[1] == mod {
			version = f[2]
		}
	}
	// Pseudo-versions v0.0.0-YYYYMMDDhhmmss-hash order by date.
	if version < pinned {
		t.Errorf("go.mod requires %s %q, want >= %s (older versions panic at init on Go >= 1.20)", mod, version, pinned)
	}

	g := G.NewGraph()
	x := G.NewScalar(g, tensor.Float64, G.WithName("x"), G.WithValue(2.0))
	y := G.Must(G.Mul(x, x))
	out, err := NewOutput(y)
	if err != nil {
		t.Fatal(err)
	}
	m := G.NewTapeMachine(g)
	defer m.Close()
	if err := m.RunAll(); err != nil {
		t.Fatal(err)
	}
	if v, err := out.Scalar(); err != nil || v != 4 {
		t.Fatalf("x*x at x=2 = %v (%v), want 4", v, err)
	}
}

// extremeRows has a second row far below the first row's values.
var extremeRows = []float64{1000, 1010, 1020, 1, 2, 3}

// exactLogSoftmax3 is log softmax of (a, a+d1, a+d2) computed analytically.
func exactLogSoftmaxRows() []float64 {
	// Row 0 = 1000 + (0, 10, 20), row 1 = 1 + (0, 1, 2): log softmax is
	// shift invariant, so both are logsoftmax of the offsets.
	lse := func(a, b, c float64) float64 { return math.Log(math.Exp(a) + math.Exp(b) + math.Exp(c)) }
	l0, l1 := lse(0, 10, 20), lse(0, 1, 2)
	return []float64{0 - l0, 10 - l0, 20 - l0, 0 - l1, 1 - l1, 2 - l1}
}

// Defect 2, workaround: our LogSoftmax (graph op and forward function) is
// per-row stable.
func TestLogSoftmaxExtremeRows(t *testing.T) {
	want := exactLogSoftmaxRows()
	dst := make([]float64, 6)
	if err := LogSoftmaxForward(dst, extremeRows, 2, 3); err != nil {
		t.Fatal(err)
	}
	assertFiniteClose(t, "LogSoftmaxForward", dst, want)

	g := G.NewGraph()
	x := newInput(g, "x", tensor.Shape{2, 3}, extremeRows)
	y, err := LogSoftmax(x)
	if err != nil {
		t.Fatal(err)
	}
	out, err := NewOutput(y)
	if err != nil {
		t.Fatal(err)
	}
	m := G.NewTapeMachine(g)
	defer m.Close()
	if err := m.RunAll(); err != nil {
		t.Fatal(err)
	}
	assertFiniteClose(t, "LogSoftmax op", out.Float64s(), want)
}

func assertFiniteClose(t *testing.T, what string, got, want []float64) {
	t.Helper()
	for i := range want {
		if math.IsInf(got[i], 0) || math.IsNaN(got[i]) || math.Abs(got[i]-want[i]) > 1e-12*math.Max(1, math.Abs(want[i])) {
			t.Fatalf("%s: [%d] = %v, want %v (all: %v)", what, i, got[i], want[i], got)
		}
	}
}

// Defect 2, upstream: gorgonia.LogSoftMax seeds every row's max with the
// first element of the whole tensor (tensor/defaultengine_softmax.go
// softMaxLastDimF64: maxInput := xArr[0]), so row [1 2 3] is shifted by 1000,
// every exp underflows to 0, and log(0) = -Inf turns the row into +Inf.
func TestUpstreamStillBroken_GorgoniaLogSoftMax(t *testing.T) {
	g := G.NewGraph()
	x := newInput(g, "x", tensor.Shape{2, 3}, extremeRows)
	y, err := G.LogSoftMax(x)
	if err != nil {
		t.Fatal(err)
	}
	out, err := NewOutput(y)
	if err != nil {
		t.Fatal(err)
	}
	m := G.NewTapeMachine(g)
	defer m.Close()
	if err := m.RunAll(); err != nil {
		t.Fatal(err)
	}
	got, want := out.Float64s(), exactLogSoftmaxRows()
	broken := false
	for i := range want {
		if math.IsInf(got[i], 0) || math.IsNaN(got[i]) || math.Abs(got[i]-want[i]) > 1e-9 {
			broken = true
		}
	}
	if !broken {
		t.Fatalf("gorgonia.LogSoftMax now gives %v = exact values: upstream fixed, revisit nn.LogSoftmax", got)
	}
	t.Logf("gorgonia.LogSoftMax(%v) = %v, want %v", extremeRows, got, want)
}

// Defect 3, workaround: stable log-sum-exp per row.
func TestLogSumExpStable(t *testing.T) {
	dst := make([]float64, 3)
	x := []float64{1000, 1010, 1020, 1, 2, 3, -1e4, -1e4, -1e4}
	if err := LogSumExpForward(dst, x, 3, 3); err != nil {
		t.Fatal(err)
	}
	l := func(a, b, c float64) float64 { return math.Log(math.Exp(a) + math.Exp(b) + math.Exp(c)) }
	want := []float64{1000 + l(0, 10, 20), l(1, 2, 3), -1e4 + math.Log(3)}
	assertFiniteClose(t, "LogSumExpForward", dst, want)
}

// Defect 3, upstream: gorgonia.LogSumExp (operations.go) computes
// Sub(a, Max(a, axis)) without broadcasting and log(Σ exp(a-max) + max).
func TestUpstreamStillBroken_GorgoniaLogSumExp(t *testing.T) {
	g := G.NewGraph()
	mat := newInput(g, "m", tensor.Shape{2, 3}, extremeRows)
	if _, err := G.LogSumExp(mat, 1); err == nil {
		t.Error("gorgonia.LogSumExp over a matrix axis now builds: upstream fixed the broadcast, revisit nn.LogSumExpForward")
	} else if !strings.Contains(err.Error(), "hape") {
		t.Logf("LogSumExp(matrix) error changed: %v", err)
	}

	v := newInput(g, "v", tensor.Shape{3}, []float64{1, 2, 3})
	lse, err := G.LogSumExp(v, 0)
	if err != nil {
		t.Logf("gorgonia.LogSumExp(vector) fails to build: %v", err)
		return
	}
	out, err := NewOutput(lse)
	if err != nil {
		t.Fatal(err)
	}
	m := G.NewTapeMachine(g)
	defer m.Close()
	if err := m.RunAll(); err != nil {
		t.Logf("gorgonia.LogSumExp(vector) fails to run: %v", err)
		return
	}
	got, err := out.Scalar()
	if err != nil {
		t.Fatal(err)
	}
	want := math.Log(math.Exp(1) + math.Exp(2) + math.Exp(3))
	if math.Abs(got-want) < 1e-9 {
		t.Fatalf("gorgonia.LogSumExp([1 2 3]) = %v = exact: upstream fixed, revisit nn.LogSumExpForward", got)
	}
	t.Logf("gorgonia.LogSumExp([1 2 3]) = %v, want %v", got, want)
}

// overwriteGraph builds z = x ⊙ y; w = z + 10; s = Σ tanh(w). The compiler
// gives w (and then tanh) z's register, since z is dead after w.
func overwriteGraph(t *testing.T, readZ bool) (z *G.Node, out *Output, m G.VM) {
	t.Helper()
	g := G.NewGraph()
	x := newInput(g, "x", tensor.Shape{2, 2}, []float64{1, 2, 3, 4})
	y := newInput(g, "y", tensor.Shape{2, 2}, []float64{1, 1, 1, 1})
	z = G.Must(G.HadamardProd(x, y))
	w := G.Must(G.Add(z, G.NewConstant(10.0)))
	G.Must(G.Sum(G.Must(G.Tanh(w))))
	if readZ {
		var err error
		if out, err = NewOutput(z); err != nil {
			t.Fatal(err)
		}
	}
	m = G.NewTapeMachine(g)
	t.Cleanup(func() { m.Close() })
	if err := m.RunAll(); err != nil {
		t.Fatal(err)
	}
	return z, out, m
}

// Defect 4, upstream: after RunAll an intermediate node's Value() holds a
// later node's result. Observed with v0.9.18: z.Value() = [11 12 13 14]
// (that is w = z + 10), not x ⊙ y = [1 2 3 4]: the + op runs in place
// (UsePreallocDo into z's tensor).
func TestUpstreamStillBroken_TapeMachineOverwritesIntermediates(t *testing.T) {
	z, _, _ := overwriteGraph(t, false)
	got := z.Value().(*tensor.Dense).Float64s()
	if got[0] == 1 && got[1] == 2 && got[2] == 3 && got[3] == 4 {
		t.Fatal("z.Value() is now correct after RunAll: upstream no longer overwrites in place, Output is merely a convenience")
	}
	t.Logf("z = x ⊙ y reads %v after RunAll, want [1 2 3 4]", got)
}

// Defect 4, workaround: Output reads the right value, on every run.
func TestOutputReadsIntermediates(t *testing.T) {
	_, out, m := overwriteGraph(t, true)
	for run := 0; run < 2; run++ {
		if run > 0 {
			m.Reset()
			if err := m.RunAll(); err != nil {
				t.Fatal(err)
			}
		}
		assertFiniteClose(t, "Output(z)", out.Float64s(), []float64{1, 2, 3, 4})
	}
}

// The same overwrite hits our layers' outputs when an element-wise op
// follows them (the op's output tensor is handed to the machine, which lets
// y + 100 run in place in it), and Output protects them the same way.
func TestOutputReadsLayerOutputs(t *testing.T) {
	want := exactLogSoftmaxRows()
	for _, withOutput := range []bool{false, true} {
		g := G.NewGraph()
		x := newInput(g, "x", tensor.Shape{2, 3}, extremeRows)
		y, err := LogSoftmax(x)
		if err != nil {
			t.Fatal(err)
		}
		G.Must(G.Sum(G.Must(G.Add(y, G.NewConstant(100.0)))))
		var out *Output
		if withOutput {
			if out, err = NewOutput(y); err != nil {
				t.Fatal(err)
			}
		}
		m := G.NewTapeMachine(g)
		if err := m.RunAll(); err != nil {
			t.Fatal(err)
		}
		m.Close()
		if withOutput {
			assertFiniteClose(t, "Output(LogSoftmax)", out.Float64s(), want)
			continue
		}
		v := y.Value().(*tensor.Dense).Float64s()
		if math.Abs(v[0]-want[0]-100) > 1e-9 {
			t.Fatalf("without Output, y.Value() = %v; expected the in-place y + 100 (upstream changed?)", v)
		}
		t.Logf("without Output, LogSoftmax node's Value() after RunAll = %v (that is y + 100)", v)
	}
}
