package model

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/grlscaler/grlscaler/model/nn"
)

// lossGraph is the training graph for one minibatch size: inputs, the
// network, the fused loss, and its gradient with respect to every
// parameter, compiled once into a TapeMachine that every update reuses.
// Parameter nodes are views of the agent's flat parameter vector, so an
// optimiser step on that vector is what the next run sees.
type lossGraph struct {
	b       int
	g       *G.ExprGraph
	vm      G.VM
	nodesX  []float64 // (nodes*b) x features, node-major
	flatX   []float64 // b x flat
	batch   lossBatch
	loss    *policyLoss
	grads   []*nn.Output
	dep     *nn.Output
	move    *nn.Output
	value   *nn.Output
	lossOut *nn.Output
}

func newLossGraph(spec NetSpec, lay *layout, theta []float64, graph *nn.Graph, b int, h Hyperparameters) (*lossGraph, error) {
	lg := &lossGraph{b: b, g: G.NewGraph()}
	g := lg.g
	n, f, d := spec.Nodes, spec.NodeFeatures, spec.FlatSize
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

	var dep, move, value *G.Node
	var err error
	must := func(node *G.Node, e error) *G.Node {
		if err == nil && e != nil {
			err = e
		}
		return node
	}
	t, m := spec.Trunk, spec.Moves
	_ = t
	if spec.Policy == MLP {
		pi := must(nn.Dense(flat, P("pi.w1"), P("pi.b1"), nn.Tanh))
		pi = must(nn.Dense(pi, P("pi.w2"), P("pi.b2"), nn.Tanh))
		dep = must(nn.Dense(pi, P("dep.w"), P("dep.b"), nn.Identity))
		move = must(nn.Dense(pi, P("move.w"), P("move.b"), nn.Identity))
		vf := must(nn.Dense(flat, P("vf.w1"), P("vf.b1"), nn.Tanh))
		vf = must(nn.Dense(vf, P("vf.w2"), P("vf.b2"), nn.Tanh))
		value = must(nn.Dense(vf, P("value.w"), P("value.b"), nn.Identity))
	} else {
		var h *G.Node
		switch spec.Policy {
		case GCN:
			h = must(nn.GCN(x, P("gnn.w1"), P("gnn.b1"), graph.Adjacency(), nn.ReLU))
			h = must(nn.GCN(h, P("gnn.w2"), P("gnn.b2"), graph.Adjacency(), nn.Identity))
		case GAT:
			h = must(nn.GAT(x, P("gnn.w1"), P("gnn.asrc1"), P("gnn.adst1"), P("gnn.b1"), graph, spec.GATHeads, spec.Hidden, true, nn.ELU))
			h = must(nn.GAT(h, P("gnn.w2"), P("gnn.asrc2"), P("gnn.adst2"), P("gnn.b2"), graph, 1, spec.Embed, false, nn.Identity))
		}
		pool := must(nn.MeanPool(h, n))
		if spec.Head == PerNodeHead {
			hn := must(nn.Dense(h, P("node.w"), P("node.b"), nn.Tanh))
			scores := must(nn.Dense(hn, P("score.w"), P("score.b"), nn.Identity)) // (n*b) x 1, node-major
			if err == nil {
				scores = must(G.Reshape(scores, tensor.Shape{n, b}))
				dep = must(G.Transpose(scores, 1, 0))
			}
			move = must(nn.Dense(hn, P("move.w"), P("move.b"), nn.Identity))
			vf := must(nn.Dense(pool, P("vf.w1"), P("vf.b1"), nn.Tanh))
			value = must(nn.Dense(vf, P("value.w"), P("value.b"), nn.Identity))
		} else {
			z := must(nn.Custom(newConcatLayer(b, spec.Embed, d), pool, flat))
			tr := must(nn.Dense(z, P("trunk.w"), P("trunk.b"), nn.Tanh))
			dep = must(nn.Dense(tr, P("dep.w"), P("dep.b"), nn.Identity))
			move = must(nn.Dense(tr, P("move.w"), P("move.b"), nn.Identity))
			value = must(nn.Dense(tr, P("value.w"), P("value.b"), nn.Identity))
		}
	}
	if err != nil {
		return nil, fmt.Errorf("build %s/%s network for batch %d: %w", spec.Policy, spec.Head, b, err)
	}
	lg.batch = lossBatch{
		dep: make([]int, b), move: make([]int, b),
		oldLogp: make([]float64, b), adv: make([]float64, b), returns: make([]float64, b), oldValues: make([]float64, b),
	}
	lg.loss = newPolicyLoss(h.Algorithm, spec.Head == PerNodeHead, b, n, m, h, &lg.batch)
	lossVec, err := nn.Custom(lg.loss, dep, move, value)
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
	for _, o := range []struct {
		dst  **nn.Output
		node *G.Node
	}{{&lg.dep, dep}, {&lg.move, move}, {&lg.value, value}, {&lg.lossOut, cost}} {
		if *o.dst, err = nn.NewOutput(o.node); err != nil {
			return nil, err
		}
	}
	gradNodes, err := G.Grad(cost, params...)
	if err != nil {
		return nil, fmt.Errorf("differentiate loss: %w", err)
	}
	lg.grads = make([]*nn.Output, len(gradNodes))
	for i, gn := range gradNodes {
		if lg.grads[i], err = nn.NewOutput(gn); err != nil {
			return nil, err
		}
	}
	lg.vm = G.NewTapeMachine(g)
	return lg, nil
}

// run evaluates the loss and its gradients for the inputs and batch data
// already copied in, and adds the gradients into grad (the flat layout).
func (lg *lossGraph) run(lay *layout, grad []float64) error {
	lg.vm.Reset()
	if err := lg.vm.RunAll(); err != nil {
		return fmt.Errorf("run training graph: %w", err)
	}
	for i, p := range lay.params {
		gv := lg.grads[i].Float64s()
		if len(gv) != p.size() {
			return fmt.Errorf("gradient of %s has %d values, want %d", p.name, len(gv), p.size())
		}
		dst := grad[p.off : p.off+p.size()]
		for j, v := range gv {
			dst[j] += v
		}
	}
	return nil
}
