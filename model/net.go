package model

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/grlscaler/grlscaler/envs"
	"github.com/grlscaler/grlscaler/model/nn"
)

// param is one named parameter tensor: a window of the flat vector.
type param struct {
	name  string
	shape []int
	off   int
	// gain scales the Glorot-uniform initialisation; 0 means zeros
	// (biases). Action heads start at 0.01 so the first policy is near
	// uniform, as SB3's orthogonal init with gain 0.01 does.
	gain float64
}

func (p param) size() int {
	n := 1
	for _, d := range p.shape {
		n *= d
	}
	return n
}

// layout lists a network's parameters in a fixed order; the flat vector,
// the gradients, Adam's moments and checkpoints all follow it.
type layout struct {
	params []param
	byName map[string]int
	total  int
}

func (l *layout) add(name string, gain float64, shape ...int) {
	p := param{name: name, shape: shape, off: l.total, gain: gain}
	l.byName[name] = len(l.params)
	l.params = append(l.params, p)
	l.total += p.size()
}

func (l *layout) get(theta []float64, name string) []float64 {
	p := l.params[l.byName[name]]
	return theta[p.off : p.off+p.size()]
}

// Gains: hidden layers sqrt(2)-free Glorot (gain 1), policy heads 0.01,
// value head 1, as SB3 scales its heads.
const (
	gainHidden = 1.0
	gainPolicy = 0.01
	gainValue  = 1.0
)

// newLayout declares the parameters of a spec.
func newLayout(s NetSpec) *layout {
	l := &layout{byName: map[string]int{}}
	f, d, t, m := s.NodeFeatures, s.FlatSize, s.Trunk, s.Moves
	if s.Policy == MLPLSTM {
		l.add("lstm.wx", gainHidden, d, 4*t)
		l.add("lstm.wh", gainHidden, t, 4*t)
		l.add("lstm.b", 0, 4*t)
		l.addPolicyHeads(s)
		l.add("value.w", gainValue, t, s.valueOuts())
		l.add("value.b", 0, s.valueOuts())
		return l
	}
	if s.Policy == MLP {
		l.add("pi.w1", gainHidden, d, t)
		l.add("pi.b1", 0, t)
		l.add("pi.w2", gainHidden, t, t)
		l.add("pi.b2", 0, t)
		l.add("vf.w1", gainHidden, d, t)
		l.add("vf.b1", 0, t)
		l.add("vf.w2", gainHidden, t, t)
		l.add("vf.b2", 0, t)
		l.addPolicyHeads(s)
		l.add("value.w", gainValue, t, s.valueOuts())
		l.add("value.b", 0, s.valueOuts())
		return l
	}
	switch s.Policy {
	case TGN:
		l.add("tgn.w", gainHidden, s.inputFeatures(), s.Hidden)
		l.add("tgn.b", 0, s.Hidden)
		l.add("gnn.w1", gainHidden, s.Hidden, s.Hidden)
		l.add("gnn.b1", 0, s.Hidden)
		l.add("gnn.w2", gainHidden, s.Hidden, s.Embed)
		l.add("gnn.b2", 0, s.Embed)
	case GCN:
		l.add("gnn.w1", gainHidden, f, s.Hidden)
		l.add("gnn.b1", 0, s.Hidden)
		l.add("gnn.w2", gainHidden, s.Hidden, s.Embed)
		l.add("gnn.b2", 0, s.Embed)
	case GAT:
		h1 := s.GATHeads * s.Hidden
		l.add("gnn.w1", gainHidden, f, h1)
		l.add("gnn.asrc1", gainHidden, h1)
		l.add("gnn.adst1", gainHidden, h1)
		l.add("gnn.b1", 0, h1)
		l.add("gnn.w2", gainHidden, h1, s.Embed)
		l.add("gnn.asrc2", gainHidden, s.Embed)
		l.add("gnn.adst2", gainHidden, s.Embed)
		l.add("gnn.b2", 0, s.Embed)
	}
	if s.Head == PerNodeHead {
		l.add("node.w", gainHidden, s.Embed, t)
		l.add("node.b", 0, t)
		if !s.factored() {
			l.add("score.w", gainPolicy, t, 1)
			l.add("score.b", 0, 1)
		}
		l.add("move.w", gainPolicy, t, m)
		l.add("move.b", 0, m)
		if s.ServiceValues {
			l.add("own.w", gainValue, t, 1)
			l.add("own.b", 0, 1)
		}
		l.add("vf.w1", gainHidden, s.Embed, t)
		l.add("vf.b1", 0, t)
		l.add("value.w", gainValue, t, 1)
		l.add("value.b", 0, 1)
		return l
	}
	l.add("trunk.w", gainHidden, s.Embed+d, t)
	l.add("trunk.b", 0, t)
	l.addPolicyHeads(s)
	l.add("value.w", gainValue, t, s.valueOuts())
	l.add("value.b", 0, s.valueOuts())
	return l
}

// addPolicyHeads declares the policy heads over a trunk of width Trunk:
// the seed's deployment and move heads, or, in a factored space, one head
// of Nodes x Moves logits (every service's choices, as SB3's
// MultiCategorical over MultiDiscrete([Moves]*Nodes)).
func (l *layout) addPolicyHeads(s NetSpec) {
	t, m := s.Trunk, s.Moves
	if s.factored() {
		l.add("act.w", gainPolicy, t, s.Nodes*m)
		l.add("act.b", 0, s.Nodes*m)
		return
	}
	l.add("dep.w", gainPolicy, t, s.Nodes)
	l.add("dep.b", 0, s.Nodes)
	l.add("move.w", gainPolicy, t, m)
	l.add("move.b", 0, m)
}

// keepBias is the initial logit of choice 0 (keep the replicas, or the
// base HPA's target) in the factored spaces: with it an untrained agent
// keeps about half of its services as they are at every step (7 or 10
// choices), so exploration moves a few services at a time instead of
// random-walking all of them, and its greedy choice is choice 0 (for
// hpa-residual: it is the base HPA).
const keepBias = 2.0

// initLSTMForgetBias starts an LSTM's forget gates open (bias 1), as
// Jozefowicz, Zaremba and Sutskever (2015) recommend, so that its state
// carries information from the first updates on.
func (l *layout) initLSTMForgetBias(s NetSpec, theta []float64) {
	if s.Policy != MLPLSTM {
		return
	}
	b := l.get(theta, "lstm.b")
	for j := s.Trunk; j < 2*s.Trunk; j++ {
		b[j] = 1
	}
}

// initKeepBias sets the factored heads' bias of choice 0 to keepBias.
func (l *layout) initKeepBias(s NetSpec, theta []float64) {
	if !s.factored() {
		return
	}
	for _, name := range []string{"act.b", "move.b"} {
		if _, ok := l.byName[name]; !ok {
			continue
		}
		b := l.get(theta, name)
		for k := 0; k < len(b); k += s.Moves {
			b[k] = keepBias
		}
	}
}

// init fills theta: Glorot uniform scaled by each parameter's gain (a
// vector parameter, like an attention vector, counts as 1 x n), zeros
// for biases.
func (l *layout) init(theta []float64, rng *rand.Rand) {
	for _, p := range l.params {
		w := theta[p.off : p.off+p.size()]
		if p.gain == 0 {
			clear(w)
			continue
		}
		fanIn, fanOut := 1, p.shape[0]
		if len(p.shape) == 2 {
			fanIn, fanOut = p.shape[0], p.shape[1]
		}
		nn.GlorotUniform(w, fanIn, fanOut, rng)
		for i := range w {
			w[i] *= p.gain
		}
	}
}

// prepareFlat maps the raw gym-hpa vector (replica counts, millicores,
// MiB, kB/s: 0 to 20000, never normalised by the seed, seed-spec 8 S2) to
// sign(x)·log1p(|x|), a fixed transform that needs no running statistics
// and keeps every value within about [-10, 10].
func prepareFlat(dst, raw []float64) {
	for i, x := range raw {
		dst[i] = math.Copysign(math.Log1p(math.Abs(x)), x)
	}
}

// forwardOut is one observation's network output.
type forwardOut struct {
	dep   []float64 // logits over deployments (nodes)
	move  []float64 // logits over moves: one row, or one row per node (per-node head)
	value float64
	own   []float64 // each service's own value (NetSpec.ServiceValues)
}

// inference runs a network on single observations without gorgonia: the
// same fused forward functions the graph ops call, over preallocated
// buffers, so it does not allocate and computes the same bits as the
// training graph.
type inference struct {
	spec  NetSpec
	lay   *layout
	theta []float64
	nodes int
	graph *nn.Graph
	h0    []float64 // a TGN's temporal layer's output
	// An LSTM's state (hidden and cell) through the episode, and scratch
	// for its gates.
	hs, cs, zx []float64
	h1, h2     []float64 // node embeddings after each GNN layer
	pool       []float64
	t1, t2     []float64 // trunk activations
	v1, v2     []float64 // value trunk
	heads      []float64 // the Heads op's output: logits (and the value) side by side
	vout       []float64 // the MLP critic's output: the value (and the services' own values)
	out        forwardOut
	scr        []float64
	// Parameters by role, bound once.
	w      map[string][]float64
	hw, hb [][]float64 // the policy heads' weights and biases
	houts  []int
	xs     [2][]float64 // DenseCat's inputs
	xw     []int        // and their widths
}

// newInference binds a network to a graph of nodes with edges (which may
// differ from the spec's for the per-node head).
func newInference(spec NetSpec, lay *layout, theta []float64, nodes int, edges [][2]int) (*inference, error) {
	in := &inference{spec: spec, lay: lay, theta: theta, nodes: nodes, w: map[string][]float64{}, xw: []int{spec.Embed, spec.FlatSize}}
	for _, p := range lay.params {
		in.w[p.name] = lay.get(theta, p.name)
	}
	t, m := spec.Trunk, spec.Moves
	in.out = forwardOut{dep: make([]float64, nodes)}
	fac := spec.factored()
	vo := spec.valueOuts()
	switch {
	case spec.flatOnly() && fac:
		in.bindHeads([]string{"act"}, []int{nodes * m})
	case spec.flatOnly():
		in.bindHeads([]string{"dep", "move"}, []int{nodes, m})
	case spec.Head == PerNodeHead && fac && spec.ServiceValues:
		in.bindHeads([]string{"move", "own"}, []int{m, 1})
	case spec.Head == PerNodeHead && fac:
		in.bindHeads([]string{"move"}, []int{m})
	case spec.Head == PerNodeHead:
		in.bindHeads([]string{"score", "move"}, []int{1, m})
	case fac:
		in.bindHeads([]string{"act", "value"}, []int{nodes * m, vo})
	default:
		in.bindHeads([]string{"dep", "move", "value"}, []int{nodes, m, 1})
	}
	if spec.Policy == MLP {
		in.t1, in.t2 = make([]float64, t), make([]float64, t)
		in.v1, in.v2 = make([]float64, t), make([]float64, t)
	}
	if spec.recurrent() {
		in.hs, in.cs, in.zx = make([]float64, t), make([]float64, t), make([]float64, 4*t)
	}
	if spec.Head == PerNodeHead || fac {
		in.out.move = make([]float64, nodes*m)
	}
	if spec.ServiceValues {
		in.out.own = make([]float64, nodes)
	}
	in.vout = make([]float64, vo)
	in.scr = make([]float64, nn.HeadsScratchLen(t, in.houts))
	in.heads = make([]float64, nodes*(2+m)+nodes*m+2*nodes+m+1)
	if spec.flatOnly() {
		return in, nil
	}
	g, err := nn.NewGraph(nodes, edges)
	if err != nil {
		return nil, fmt.Errorf("bind network to a %d-node graph: %w", nodes, err)
	}
	in.graph = g
	w1 := spec.Hidden
	scr := nn.GCNScratchLen(nodes, 1, max(spec.gnnIn(), spec.Hidden), max(spec.Hidden, spec.Embed))
	if spec.Policy == GAT {
		w1 = spec.GATHeads * spec.Hidden
		scr = max(nn.GATScratchLen(nodes, 1, spec.GATHeads, spec.Hidden), nn.GATScratchLen(nodes, 1, 1, spec.Embed))
	}
	scr = max(scr, nn.GCNEncoderScratchLen(nodes, 1, spec.gnnIn(), spec.Hidden), len(in.scr))
	if spec.Policy == TGN {
		in.h0 = make([]float64, nodes*spec.Hidden)
	}
	in.scr = make([]float64, scr)
	in.h1, in.h2 = make([]float64, nodes*w1), make([]float64, nodes*spec.Embed)
	in.pool = make([]float64, spec.Embed)
	in.t1 = make([]float64, max(t, nodes*t))
	in.v1 = make([]float64, t)
	return in, nil
}

// bindHeads records the weights of the Heads op named prefix.w/prefix.b.
func (in *inference) bindHeads(names []string, outs []int) {
	for _, n := range names {
		in.hw = append(in.hw, in.w[n+".w"])
		in.hb = append(in.hb, in.w[n+".b"])
	}
	in.houts = outs
}

func (in *inference) p(name string) []float64 { return in.w[name] }

// forward evaluates the network on one prepared observation: nodeX is
// nodes x NodeFeatures, flat the prepared flat vector (ignored by the
// per-node head). Errors only on shape mismatches, which callers check
// beforehand, so they are programming errors.
func (in *inference) forward(nodeX, flat []float64) (*forwardOut, error) {
	s := in.spec
	t, m, n := s.Trunk, s.Moves, in.nodes
	o := &in.out
	fac := s.factored()
	if s.recurrent() {
		w := n + m
		if fac {
			w = n * m
		}
		heads := in.heads[:w]
		v := in.vout
		err := firstErr(
			nn.LSTMStep(in.hs, in.cs, flat, in.p("lstm.wx"), in.p("lstm.wh"), in.p("lstm.b"), s.FlatSize, in.zx),
			nn.HeadsForward(heads, in.hs, 1, in.hw, in.hb, t, in.houts, in.scr),
			nn.DenseForward(v, in.hs, 1, in.p("value.w"), in.p("value.b"), t, len(v), nn.Identity),
		)
		if err != nil {
			return nil, err
		}
		return in.flatOut(heads, v), nil
	}
	if s.Policy == MLP {
		w := n + m
		if fac {
			w = n * m
		}
		heads := in.heads[:w]
		err := firstErr(
			nn.DenseForward(in.t1, flat, 1, in.p("pi.w1"), in.p("pi.b1"), s.FlatSize, t, nn.Tanh),
			nn.DenseForward(in.t2, in.t1, 1, in.p("pi.w2"), in.p("pi.b2"), t, t, nn.Tanh),
			nn.HeadsForward(heads, in.t2, 1, in.hw, in.hb, t, in.houts, in.scr),
			nn.DenseForward(in.v1, flat, 1, in.p("vf.w1"), in.p("vf.b1"), s.FlatSize, t, nn.Tanh),
			nn.DenseForward(in.v2, in.v1, 1, in.p("vf.w2"), in.p("vf.b2"), t, t, nn.Tanh),
		)
		if err != nil {
			return nil, err
		}
		v := in.vout
		if err := nn.DenseForward(v, in.v2, 1, in.p("value.w"), in.p("value.b"), t, len(v), nn.Identity); err != nil {
			return nil, err
		}
		return in.flatOut(heads, v), nil
	}
	var err error
	pooled := false
	if s.Policy == TGN {
		// The temporal layer over every node's window, then the GCN.
		if err := nn.DenseForward(in.h0, nodeX, n, in.p("tgn.w"), in.p("tgn.b"), s.inputFeatures(), s.Hidden, nn.ReLU); err != nil {
			return nil, err
		}
		nodeX = in.h0
	}
	switch s.Policy {
	case GCN, TGN:
		adj := in.graph.Adjacency()
		if s.Head != PerNodeHead {
			err = nn.GCNEncoderForward(in.pool, nodeX, 1, in.p("gnn.w1"), in.p("gnn.b1"), in.p("gnn.w2"), in.p("gnn.b2"), s.gnnIn(), s.Hidden, s.Embed, adj, nn.ReLU, in.scr)
			pooled = true
		} else {
			err = firstErr(
				nn.GCNForward(in.h1, nodeX, 1, in.p("gnn.w1"), in.p("gnn.b1"), s.gnnIn(), s.Hidden, adj, nn.ReLU, in.scr),
				nn.GCNForward(in.h2, in.h1, 1, in.p("gnn.w2"), in.p("gnn.b2"), s.Hidden, s.Embed, adj, nn.Identity, in.scr),
			)
		}
	case GAT:
		err = firstErr(
			nn.GATForward(in.h1, nodeX, 1, in.p("gnn.w1"), in.p("gnn.asrc1"), in.p("gnn.adst1"), in.p("gnn.b1"), s.NodeFeatures, in.graph, s.GATHeads, s.Hidden, true, nn.ELU, in.scr),
			nn.GATForward(in.h2, in.h1, 1, in.p("gnn.w2"), in.p("gnn.asrc2"), in.p("gnn.adst2"), in.p("gnn.b2"), s.GATHeads*s.Hidden, in.graph, 1, s.Embed, false, nn.Identity, in.scr),
		)
	}
	if err == nil && !pooled {
		err = nn.MeanPoolForward(in.pool, in.h2, n, 1, s.Embed)
	}
	if err != nil {
		return nil, err
	}
	if s.Head == PerNodeHead {
		w := 1 + m
		if fac {
			w = m
			if s.ServiceValues {
				w = m + 1
			}
		}
		heads := in.heads[:n*w]
		err = firstErr(
			nn.DenseForward(in.t1[:n*t], in.h2, n, in.p("node.w"), in.p("node.b"), s.Embed, t, nn.Tanh),
			nn.HeadsForward(heads, in.t1[:n*t], n, in.hw, in.hb, t, in.houts, in.scr),
			nn.DenseForward(in.v1, in.pool, 1, in.p("vf.w1"), in.p("vf.b1"), s.Embed, t, nn.Tanh),
		)
		if err != nil {
			return nil, err
		}
		var v [1]float64
		if err := nn.DenseForward(v[:], in.v1, 1, in.p("value.w"), in.p("value.b"), t, 1, nn.Identity); err != nil {
			return nil, err
		}
		switch {
		case fac && s.ServiceValues:
			for i := range n {
				copy(o.move[i*m:(i+1)*m], heads[i*w:i*w+m])
				o.own[i] = heads[i*w+m]
			}
		case fac:
			copy(o.move, heads)
		default:
			for i := range n {
				row := heads[i*(1+m) : (i+1)*(1+m)]
				o.dep[i] = row[0]
				copy(o.move[i*m:(i+1)*m], row[1:])
			}
		}
		o.value = v[0]
		return o, nil
	}
	if fac {
		vo := s.valueOuts()
		heads := in.heads[:n*m+vo]
		in.xs = [2][]float64{in.pool, flat}
		err = firstErr(
			nn.DenseCatForward(in.t1[:t], in.xs[:], 1, in.p("trunk.w"), in.p("trunk.b"), in.xw, t, nn.Tanh),
			nn.HeadsForward(heads, in.t1[:t], 1, in.hw, in.hb, t, in.houts, in.scr),
		)
		if err != nil {
			return nil, err
		}
		copy(o.move, heads[:n*m])
		o.value = heads[n*m]
		copy(o.own, heads[n*m+1:])
		return o, nil
	}
	heads := in.heads[:n+m+1]
	in.xs = [2][]float64{in.pool, flat}
	err = firstErr(
		nn.DenseCatForward(in.t1[:t], in.xs[:], 1, in.p("trunk.w"), in.p("trunk.b"), in.xw, t, nn.Tanh),
		nn.HeadsForward(heads, in.t1[:t], 1, in.hw, in.hb, t, in.houts, in.scr),
	)
	if err != nil {
		return nil, err
	}
	copy(o.dep, heads[:n])
	o.move, o.value = heads[n:n+m], heads[n+m]
	return o, nil
}

// flatOut fills the output of a flat network (mlp, mlp-lstm) from its
// policy heads' logits and its critic's values.
func (in *inference) flatOut(heads, v []float64) *forwardOut {
	o := &in.out
	n, m := in.nodes, in.spec.Moves
	if in.spec.factored() {
		copy(o.move, heads)
	} else {
		copy(o.dep, heads[:n])
		o.move = heads[n : n+m]
	}
	o.value = v[0]
	copy(o.own, v[1:])
	return o
}

// resetState starts a new episode: a recurrent network's state goes back
// to zero.
func (in *inference) resetState() {
	clear(in.hs)
	clear(in.cs)
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// actScratch is actionFrom's scratch: the log-softmax and softmax of the
// deployment and move logits.
type actScratch struct {
	lsDep, pDep, lsMove, pMove []float64
	mx                         [1]float64
	rows                       []float64
}

func newActScratch(nodes, moves int) *actScratch {
	return &actScratch{lsDep: make([]float64, nodes), pDep: make([]float64, nodes), lsMove: make([]float64, nodes*moves), pMove: make([]float64, nodes*moves)}
}

// maskedLogit replaces the logit of an invalid choice: low enough that its
// probability is exactly 0 after the softmax, finite so that no infinity
// meets another in the arithmetic (the masking of Huang and Ontañón,
// arXiv 2006.14171, with -inf made finite).
const maskedLogit = -1e9

// applyMask overwrites the logits of masked choices (mask nil: none).
func applyMask(logits []float64, mask []bool) {
	for j, ok := range mask {
		if !ok {
			logits[j] = maskedLogit
		}
	}
}

// factoredActionFrom samples (or takes the argmax of) every service's
// choice from the forward output's n x moves logits, with masked choices
// excluded, writes them into choices and returns the joint
// log-probability: the sum over services, as SB3's MultiCategorical,
// and, if svcLogp is not nil, each service's into it. It masks o.move in
// place.
func factoredActionFrom(o *forwardOut, n, moves int, mask []bool, greedy bool, rng *rand.Rand, sc *actScratch, choices []int, svcLogp []float64) float64 {
	logits := o.move[:n*moves]
	if mask != nil {
		applyMask(logits, mask)
	}
	softmaxRows(sc.lsMove[:n*moves], sc.pMove[:n*moves], logits, n, moves, sc.mxRows(n))
	var logp float64
	for i := range n {
		ls, p := sc.lsMove[i*moves:(i+1)*moves], sc.pMove[i*moves:(i+1)*moves]
		k := pick(ls, p, greedy, rng)
		choices[i] = k
		logp += ls[k]
		if svcLogp != nil {
			svcLogp[i] = ls[k]
		}
	}
	return logp
}

// mxRows returns scratch for n row maxima.
func (sc *actScratch) mxRows(n int) []float64 {
	if len(sc.rows) < n {
		sc.rows = make([]float64, n)
	}
	return sc.rows[:n]
}

// actionFrom samples (or, if greedy, takes the argmax of) an action from a
// forward output and returns it with its log-probability, computed as the
// loss computes it (softmaxRows).
func actionFrom(o *forwardOut, moves int, perNode, greedy bool, rng *rand.Rand, sc *actScratch) (envs.Action, float64) {
	n := len(o.dep)
	softmaxRows(sc.lsDep[:n], sc.pDep[:n], o.dep, 1, n, sc.mx[:])
	d := pick(sc.lsDep[:n], sc.pDep[:n], greedy, rng)
	row := o.move[:moves]
	if perNode {
		row = o.move[d*moves : d*moves+moves]
	}
	softmaxRows(sc.lsMove[:moves], sc.pMove[:moves], row, 1, moves, sc.mx[:])
	mv := pick(sc.lsMove[:moves], sc.pMove[:moves], greedy, rng)
	return envs.Action{Deployment: d, Move: mv}, sc.lsDep[d] + sc.lsMove[mv]
}

// pick samples an index from probabilities p by inverse CDF, or takes the
// most likely one by its log-probability (the lowest index on ties).
func pick(logp, p []float64, greedy bool, rng *rand.Rand) int {
	if greedy {
		best := 0
		for i, v := range logp {
			if v > logp[best] {
				best = i
			}
		}
		return best
	}
	u := rng.Float64()
	var c float64
	last := 0
	for i, v := range p {
		c += v
		if u < c {
			return i
		}
		if v > 0 {
			last = i
		}
	}
	// Rounding left u above the total: the last choice that can happen
	// (never a masked one).
	return last
}
