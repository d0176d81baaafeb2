// Package nn holds the fused graph-neural-network layers of grlscaler's
// actor-critic: Dense, GCN, GAT, MeanPool and LogSoftmax, each a gorgonia Op
// with a hand-written backward pass, plus plain forward functions that run the
// same math without gorgonia for single-observation inference. Fused
// compositions of them serve the seed network's hot path: GCNMeanPool and
// GCNEncoder (GCN layers with a mean readout, which exploit the linearity of
// the last layer), DenseCat (Dense over a concatenation) and Heads (several
// linear heads over one input).
//
// # Why fused ops
//
// The networks are tiny (an app has ~11 services, hidden sizes 32-128), so
// gorgonia's per-node overhead (type dispatch, register bookkeeping, one
// allocation per intermediate) costs more than the arithmetic. Each layer is
// therefore one gorgonia node whose forward and backward call the dense
// kernels of model/kernel directly. Every op's gradient is checked against
// central finite differences in the tests.
//
// # Batch layout
//
// A minibatch of B graphs with N nodes and F features per node is stored
// node-major: an (N*B) x F matrix whose row n*B+b is node n of sample b. The
// same memory viewed as N x (B*F) lets a single Gemm apply an N x N
// adjacency to every sample at once, and viewed as (N*B) x F lets a single
// Gemm apply a weight matrix to every node of every sample. Outputs of GCN
// and GAT keep the layout, MeanPool turns it into an ordinary B x H matrix.
//
// # Running the ops
//
// The ops target gorgonia's TapeMachine (v0.9.18): they implement Op, SDOp
// and UsePreallocDoer, but not ADOp, so the LispMachine is not supported.
// Forward Do writes into op-owned buffers and hands the machine an op-owned
// tensor over them (no copy; the gradient nodes keep the output live so
// the machine cannot overwrite what backward reads, see fusedOp), so a
// compiled machine that is Reset and re-run does not allocate inside the
// layers. The backward of an op with several differentiable inputs computes
// all input gradients once per forward run (the first gradient node to run
// does the work, keyed by a generation counter the forward bumps) and each
// gradient node hands out its own buffer. Inputs that are data rather than
// functions of parameters (observations) can be marked NoGrad: the op is
// then not differentiable with respect to them and skips their gradient.
//
// An op instance holds per-run state, so a graph (and its machine) must not
// be run from several goroutines at once; build one graph per goroutine. The
// forward functions and Graph are safe for concurrent use (with separate
// dst and scratch).
//
// Read results after RunAll through Output (a gorgonia.Read binding), never
// through Node.Value(): the TapeMachine overwrites intermediate values in
// place (see Output).
//
// # Upstream defects worked around here (each has a regression test)
//
//  1. go4.org/unsafe/assume-no-moving-gc versions before 2023-11 panic at
//     init on Go >= 1.20 (untested.go); go.mod pins v0.0.0-20231121144256-b99613f794b6.
//  2. tensor v0.9.24 (Log)SoftMax uses the first element of the whole tensor
//     as every row's "max" (defaultengine_softmax.go softMaxLastDimF64:
//     maxInput := xArr[0]), which yields +Inf/-Inf for rows far below it,
//     and it starts one goroutine per row. LogSoftmax here is per-row stable.
//  3. gorgonia v0.9.18 LogSumExp (operations.go) subtracts the reduced max
//     without broadcasting (a shape error for matrices) and adds the max
//     before the log (wrong for vectors). LogSumExpForward is stable.
//  4. TapeMachine register reuse overwrites intermediate node values after
//     RunAll; Output binds gorgonia.Read before compilation.
//
// References: T. N. Kipf and M. Welling, "Semi-Supervised Classification with
// Graph Convolutional Networks", ICLR 2017; P. Veličković et al., "Graph
// Attention Networks", ICLR 2018; X. Glorot and Y. Bengio, "Understanding the
// difficulty of training deep feedforward neural networks", AISTATS 2010;
// D.-A. Clevert et al., "Fast and Accurate Deep Network Learning by
// Exponential Linear Units (ELUs)", ICLR 2016.
package nn
