package model

import (
	"fmt"

	"github.com/grlscaler/grlscaler/envs"
)

// inputs turns observations into a network's input rows: the node
// features (normalised if the network was trained so) and the prepared
// flat vector, and for a TGN the window of each node's recent
// observations. A trainer and every policy own one; its window is the
// only state, and it restarts with every episode (reset).
type inputs struct {
	spec  NetSpec
	nodes int
	cur   []float64 // the current observation's node features (nodes x F)
	// TGN: the last Window observations' node features, a ring of nodes x F
	// matrices; seen counts the pushes since the reset.
	hist []float64
	seen int
}

func newInputs(spec NetSpec, nodes int) *inputs {
	in := &inputs{spec: spec, nodes: nodes, cur: make([]float64, nodes*spec.NodeFeatures)}
	if spec.Policy == TGN {
		in.hist = make([]float64, spec.Window*nodes*spec.NodeFeatures)
	}
	return in
}

// reset starts a new episode: the window forgets the last one.
func (in *inputs) reset() { in.seen = 0 }

// prepare writes obs's input rows into nodes (nodes x inputFeatures) and
// flat, normalising with norm if it is not nil (after adding obs to its
// statistics if learn). Every observation of an episode is prepared
// exactly once, in order: a TGN's window advances with each.
func (in *inputs) prepare(obs envs.Observation, norm *obsNorm, learn bool, nodes, flat []float64) error {
	s := in.spec
	if len(obs.Nodes) != len(in.cur) || (s.Head != PerNodeHead && len(obs.Flat) != len(flat)) {
		return fmt.Errorf("observation has %d node values and %d flat values; the network takes %d and %d",
			len(obs.Nodes), len(obs.Flat), len(in.cur), len(flat))
	}
	copy(in.cur, obs.Nodes)
	if s.Head != PerNodeHead {
		prepareFlat(flat, obs.Flat)
	}
	if norm != nil {
		if learn {
			norm.Nodes.update(in.cur, in.nodes)
			if s.Head != PerNodeHead {
				norm.Flat.update(flat, 1)
			}
		}
		norm.apply(s, in.cur, flat)
	}
	if s.Policy != TGN {
		copy(nodes, in.cur)
		return nil
	}
	in.push()
	in.stack(nodes)
	return nil
}

// push adds the current observation to the window.
func (in *inputs) push() {
	m := len(in.cur)
	slot := in.seen % in.spec.Window
	copy(in.hist[slot*m:(slot+1)*m], in.cur)
	in.seen++
}

// stack writes every node's window, newest first; before Window
// observations have been seen, the oldest one stands for the missing.
func (in *inputs) stack(dst []float64) {
	w, f := in.spec.Window, in.spec.NodeFeatures
	m := len(in.cur)
	for k := range w {
		age := min(k, in.seen-1)
		slot := (in.seen - 1 - age) % w
		src := in.hist[slot*m : (slot+1)*m]
		for i := range in.nodes {
			copy(dst[(i*w+k)*f:(i*w+k+1)*f], src[i*f:(i+1)*f])
		}
	}
}
