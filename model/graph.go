package model

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/grlscaler/grlscaler/model/kernel"
	"github.com/grlscaler/grlscaler/model/nn"
)

// lossGraph is the training graph for one minibatch size: inputs, the
// network, the fused loss, and its gradient with respect to every
// parameter, compiled once into a TapeMachine that every update reuses.
// Parameter nodes are views of the agent's flat parameter vector, so an
// optimiser step on that vector is what the next run sees.
type lossGraph struct {
	b      int
	g      *G.ExprGraph
	vm     G.VM
	nodesX []float64 // (nodes*b) x features, node-major
	flatX  []float64 // b x flat
	batch  lossBatch
	loss   *policyLoss
	// The factored spaces' loss and batch (loss is nil then); fbatch
	// shares batch's PPO slices.
	fbatch  factoredBatch
	floss   *factoredLoss
	grad    []float64 // every parameter's gradient after a run, in the flat layout
	grads   []*nn.Output
	outs    []*nn.Output // the network's outputs, the loss op's inputs
	lossOut *nn.Output
	// The network's outputs by kind, for tests and diagnostics.
	dep, move, value *logitsView
}

// logitsView reads one kind of network output (deployment logits, move
// logits or values) of the last run as a contiguous rows x width matrix.
type logitsView struct {
	lg          *lossGraph
	slot        logitSlot
	rows, width int
	// choices, if set, reads a factored space's logits: a row is a sample's
	// n services' choices, service-major.
	choices *choiceSlot
	n       int
}

// Float64s returns a fresh copy of the outputs of the last run.
func (v *logitsView) Float64s() []float64 {
	in := make([][]float64, len(v.lg.outs))
	for i, o := range v.lg.outs {
		in[i] = o.Float64s()
	}
	dst := make([]float64, v.rows*v.width)
	for r := range v.rows {
		if v.choices != nil {
			m := v.width / v.n
			for i := range v.n {
				o := v.choices.at(r, i)
				copy(dst[r*v.width+i*m:r*v.width+(i+1)*m], in[v.choices.in][o:o+m])
			}
			continue
		}
		v.slot.gather(dst[r*v.width:], in, r, v.width)
	}
	return dst
}

func newLossGraph(spec NetSpec, lay *layout, theta []float64, graph *nn.Graph, b, steps int, h Hyperparameters) (*lossGraph, error) {
	lg := &lossGraph{b: b, g: G.NewGraph()}
	g := lg.g
	n, f, d, m := spec.Nodes, spec.inputFeatures(), spec.FlatSize, spec.Moves
	lg.nodesX = make([]float64, n*b*f)
	lg.flatX = make([]float64, b*d)
	input := func(name string, backing []float64, shape ...int) *G.Node {
		t := tensor.New(tensor.WithShape(shape...), tensor.WithBacking(backing))
		return G.NewTensor(g, tensor.Float64, len(shape), G.WithShape(shape...), G.WithValue(t), G.WithName(name))
	}
	x := input("nodes", lg.nodesX, n*b, f)
	flat := input("flat", lg.flatX, b, d)
	params := make(G.Nodes, len(lay.params))
	byName := map[string]*G.Node{}
	for i, p := range lay.params {
		params[i] = input(p.name, theta[p.off:p.off+p.size()], p.shape...)
		byName[p.name] = params[i]
	}
	P := func(name string) *G.Node { return byName[name] }

	// The network's outputs, as the loss op's inputs, and where the loss
	// finds the deployment and move logits and the value among them.
	var outs []*G.Node
	var lossLay lossLayout
	var err error
	must := func(node *G.Node, e error) *G.Node {
		if err == nil && e != nil {
			err = e
		}
		return node
	}
	// Observations are data: the first layers get no input gradient.
	dataX, dataFlat := nn.NoGrad(x), nn.NoGrad(flat)
	fac := spec.factored()
	var facLay factoredLayout
	if spec.recurrent() {
		// b rows are b/steps whole sequences (episodes, padded).
		h := must(nn.LSTM(flat, P("lstm.wx"), P("lstm.wh"), P("lstm.b"), steps, dataFlat))
		var logits *G.Node
		if fac {
			logits = must(nn.Heads(h, G.Nodes{P("act.w")}, G.Nodes{P("act.b")}))
		} else {
			logits = must(nn.Heads(h, G.Nodes{P("dep.w"), P("move.w")}, G.Nodes{P("dep.b"), P("move.b")}))
		}
		value := must(nn.Dense(h, P("value.w"), P("value.b"), nn.Identity))
		outs, lossLay, facLay = []*G.Node{logits, value}, actionValueLayout(b, n, m), factoredMLPLayout(b, n, m, spec.ServiceValues)
	} else if spec.Policy == MLP {
		pi := must(nn.Dense(flat, P("pi.w1"), P("pi.b1"), nn.Tanh, dataFlat))
		pi = must(nn.Dense(pi, P("pi.w2"), P("pi.b2"), nn.Tanh))
		var logits *G.Node
		if fac {
			logits = must(nn.Heads(pi, G.Nodes{P("act.w")}, G.Nodes{P("act.b")}))
		} else {
			logits = must(nn.Heads(pi, G.Nodes{P("dep.w"), P("move.w")}, G.Nodes{P("dep.b"), P("move.b")}))
		}
		vf := must(nn.Dense(flat, P("vf.w1"), P("vf.b1"), nn.Tanh, dataFlat))
		vf = must(nn.Dense(vf, P("vf.w2"), P("vf.b2"), nn.Tanh))
		value := must(nn.Dense(vf, P("value.w"), P("value.b"), nn.Identity))
		outs, lossLay, facLay = []*G.Node{logits, value}, actionValueLayout(b, n, m), factoredMLPLayout(b, n, m, spec.ServiceValues)
	} else {
		// h: node embeddings (needed by the per-node head), pool: the
		// graph embedding.
		var h, pool *G.Node
		gx, gopts := x, []nn.Option{dataX}
		if spec.Policy == TGN {
			// The temporal layer over every node's window feeds the GCN.
			gx, gopts = must(nn.Dense(x, P("tgn.w"), P("tgn.b"), nn.ReLU, dataX)), nil
		}
		switch spec.Policy {
		case GCN, TGN:
			if spec.Head == PerNodeHead {
				h = must(nn.GCN(gx, P("gnn.w1"), P("gnn.b1"), graph.Adjacency(), nn.ReLU, gopts...))
				h = must(nn.GCN(h, P("gnn.w2"), P("gnn.b2"), graph.Adjacency(), nn.Identity))
			} else {
				// Only the mean of the second layer is used: one fused op.
				pool = must(nn.GCNEncoder(gx, P("gnn.w1"), P("gnn.b1"), P("gnn.w2"), P("gnn.b2"), graph.Adjacency(), nn.ReLU, gopts...))
			}
		case GAT:
			h = must(nn.GAT(x, P("gnn.w1"), P("gnn.asrc1"), P("gnn.adst1"), P("gnn.b1"), graph, spec.GATHeads, spec.Hidden, true, nn.ELU, dataX))
			h = must(nn.GAT(h, P("gnn.w2"), P("gnn.asrc2"), P("gnn.adst2"), P("gnn.b2"), graph, 1, spec.Embed, false, nn.Identity))
		}
		if pool == nil {
			pool = must(nn.MeanPool(h, n))
		}
		switch {
		case spec.Head == PerNodeHead && fac:
			hn := must(nn.Dense(h, P("node.w"), P("node.b"), nn.Tanh))
			// (n*b) x m, node-major: each node's choice logits (and its own
			// value).
			ws, bs := G.Nodes{P("move.w")}, G.Nodes{P("move.b")}
			if spec.ServiceValues {
				ws, bs = append(ws, P("own.w")), append(bs, P("own.b"))
			}
			logits := must(nn.Heads(hn, ws, bs))
			vf := must(nn.Dense(pool, P("vf.w1"), P("vf.b1"), nn.Tanh))
			value := must(nn.Dense(vf, P("value.w"), P("value.b"), nn.Identity))
			outs, facLay = []*G.Node{logits, value}, factoredPerNodeLayout(b, n, m, spec.ServiceValues)
		case spec.Head == PerNodeHead:
			hn := must(nn.Dense(h, P("node.w"), P("node.b"), nn.Tanh))
			// (n*b) x (1+m), node-major: each node's score and move logits.
			logits := must(nn.Heads(hn, G.Nodes{P("score.w"), P("move.w")}, G.Nodes{P("score.b"), P("move.b")}))
			vf := must(nn.Dense(pool, P("vf.w1"), P("vf.b1"), nn.Tanh))
			value := must(nn.Dense(vf, P("value.w"), P("value.b"), nn.Identity))
			outs, lossLay = []*G.Node{logits, value}, perNodeLayout(b, n, m)
		case fac:
			tr := must(nn.DenseCat(G.Nodes{pool, flat}, P("trunk.w"), P("trunk.b"), nn.Tanh, dataFlat))
			logits := must(nn.Heads(tr, G.Nodes{P("act.w"), P("value.w")}, G.Nodes{P("act.b"), P("value.b")}))
			outs, facLay = []*G.Node{logits}, factoredJointLayout(b, n, m, spec.ServiceValues)
		default:
			tr := must(nn.DenseCat(G.Nodes{pool, flat}, P("trunk.w"), P("trunk.b"), nn.Tanh, dataFlat))
			logits := must(nn.Heads(tr, G.Nodes{P("dep.w"), P("move.w"), P("value.w")}, G.Nodes{P("dep.b"), P("move.b"), P("value.b")}))
			outs, lossLay = []*G.Node{logits}, packedLayout(b, n, m)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("build %s/%s network for batch %d: %w", spec.Policy, spec.Head, b, err)
	}
	lg.batch = lossBatch{
		dep: make([]int, b), move: make([]int, b),
		oldLogp: make([]float64, b), adv: make([]float64, b), returns: make([]float64, b), oldValues: make([]float64, b),
	}
	var lossVec *G.Node
	if fac {
		lg.fbatch = factoredBatch{
			choices: make([]int, b*n), mask: make([]bool, b*n*m), hasMask: make([]bool, b),
			oldLogp: lg.batch.oldLogp, adv: lg.batch.adv, returns: lg.batch.returns, oldValues: lg.batch.oldValues,
		}
		if spec.ServiceValues {
			fb := &lg.fbatch
			fb.svcOldLogp, fb.svcAdv = make([]float64, b*n), make([]float64, b*n)
			fb.svcReturns, fb.svcOldValues = make([]float64, b*n), make([]float64, b*n)
		}
		lg.floss = newFactoredLoss(h.Algorithm, b, n, m, h, &lg.fbatch, facLay)
		lossVec, err = nn.Custom(lg.floss, outs...)
	} else {
		lg.loss = newPolicyLossLayout(h.Algorithm, spec.Head == PerNodeHead, b, n, m, h, &lg.batch, lossLay)
		lossVec, err = nn.Custom(lg.loss, outs...)
	}
	if err != nil {
		return nil, fmt.Errorf("build loss: %w", err)
	}
	cost, err := G.Sum(lossVec)
	if err != nil {
		return nil, fmt.Errorf("build loss: %w", err)
	}
	// Outputs are registered before Grad and the machine: gorgonia's
	// TapeMachine reuses buffers and a node's Value after RunAll may hold a
	// later op's result (nn.Output).
	lg.outs = make([]*nn.Output, len(outs))
	for i, o := range outs {
		if lg.outs[i], err = nn.NewOutput(o); err != nil {
			return nil, err
		}
	}
	if lg.lossOut, err = nn.NewOutput(cost); err != nil {
		return nil, err
	}
	if fac {
		lg.move = &logitsView{lg: lg, choices: &facLay.choices, rows: b, width: n * m, n: n}
		lg.value = &logitsView{lg: lg, slot: facLay.vals, rows: b, width: 1}
	} else {
		lg.dep = &logitsView{lg: lg, slot: lossLay.dep, rows: b, width: n}
		lg.move = &logitsView{lg: lg, slot: lossLay.move, rows: lg.loss.moveRows(), width: m}
		lg.value = &logitsView{lg: lg, slot: lossLay.vals, rows: b, width: 1}
	}
	gradNodes, err := G.Grad(cost, params...)
	if err != nil {
		return nil, fmt.Errorf("differentiate loss: %w", err)
	}
	lg.grad = make([]float64, lay.total)
	lg.grads = make([]*nn.Output, len(gradNodes))
	for i, gn := range gradNodes {
		p := lay.params[i]
		if lg.grads[i], err = nn.NewOutputInto(gn, lg.grad[p.off:p.off+p.size()]); err != nil {
			return nil, err
		}
	}
	lg.vm = G.NewTapeMachine(g)
	return lg, nil
}

// exec evaluates the loss and its gradients for the inputs and batch data
// already copied in; the gradients are then in lg.grad (the flat layout).
func (lg *lossGraph) exec() error {
	lg.vm.Reset()
	if err := lg.vm.RunAll(); err != nil {
		return fmt.Errorf("run training graph: %w", err)
	}
	return nil
}

// stats returns the last run's loss diagnostics.
func (lg *lossGraph) stats() lossStats {
	if lg.floss != nil {
		return lg.floss.stats
	}
	return lg.loss.stats
}

// run is exec, then adds the gradients into grad (the flat layout of lay).
func (lg *lossGraph) run(lay *layout, grad []float64) error {
	if len(grad) != lay.total {
		return fmt.Errorf("gradient buffer has %d values, the network %d", len(grad), lay.total)
	}
	if err := lg.exec(); err != nil {
		return err
	}
	kernel.Axpy(1, lg.grad, grad)
	return nil
}
