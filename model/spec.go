package model

import (
	"errors"
	"fmt"

	"github.com/grlscaler/grlscaler/envs"
)

// PolicyKind selects the network.
type PolicyKind string

// The networks.
const (
	// MLP is the seed's gym-hpa baseline: Stable-Baselines3's MlpPolicy,
	// separate 2x64 tanh trunks for policy and value over the flat vector.
	MLP PolicyKind = "mlp"
	// GCN encodes the service graph with two GCN layers (Kipf & Welling 2017).
	GCN PolicyKind = "gcn"
	// GAT encodes it with two graph attention layers (Veličković et al. 2018).
	GAT PolicyKind = "gat"
	// TGN is a temporal graph network, the seed's third encoder: every
	// node's last Window observations pass through a temporal layer shared
	// by all nodes (a dense layer over the node's window, as a temporal
	// convolution spanning it), then two GCN layers over the graph. Unlike
	// the seed's (seed-spec 2.4), its memory is read: it is the input.
	TGN PolicyKind = "tgn"
	// MLPLSTM is gym-hpa's recurrent baseline (sb3-contrib's RecurrentPPO
	// with MlpLstmPolicy): a one-layer LSTM of Trunk units over the flat
	// vector, shared by the actor's and the critic's heads, its state
	// carried through an episode and trained by backpropagation through
	// each episode.
	MLPLSTM PolicyKind = "mlp-lstm"
)

// DefaultWindow is a TGN's window: 16 steps of 15 s, longer than the
// HPA's 5-minute scale-down stabilisation, so that a drop of load in the
// window's past is still in view.
const DefaultWindow = 16

// HeadKind selects how actions are scored.
type HeadKind string

// The action heads.
const (
	// JointHead is the seed's MultiDiscrete [deployment, move]: two
	// independent categorical heads over a shared trunk.
	JointHead HeadKind = "joint"
	// PerNodeHead scores each service node's own moves from its embedding,
	// and picks the deployment by a softmax over per-node scores, so one
	// policy runs on an app with any number of services.
	PerNodeHead HeadKind = "per-node"
)

// NetSpec is a network's architecture. It is stored in checkpoints.
type NetSpec struct {
	Policy PolicyKind `json:"policy"`
	Head   HeadKind   `json:"head"`
	// Action is the action space the heads score (empty: the seed's, as
	// in checkpoints written before action spaces existed). In the
	// factored spaces the joint head scores every service's choices from
	// the trunk, and the per-node head scores each node's own choices from
	// its embedding.
	Action envs.ActionSpace `json:"action,omitempty"`
	// ServiceValues (factored spaces only) makes the critic also estimate
	// every service's own return, the part of the reward only its replicas
	// earn (envs.StepResult.ServiceRewards), so that each service's choice
	// is credited with its own cost and the shared SLO terms rather than
	// with every service's cost (per-service credit; docs/learning.md).
	ServiceValues bool `json:"serviceValues,omitempty"`
	// Nodes, NodeFeatures, FlatSize and Moves come from the environment's
	// spec (envs.Spec); Edges is the call graph in node indices.
	Nodes        int      `json:"nodes"`
	NodeFeatures int      `json:"nodeFeatures"`
	FlatSize     int      `json:"flatSize"`
	Moves        int      `json:"moves"`
	Edges        [][2]int `json:"edges"`
	// GNN sizes (the seed's: hidden 32, output 32, 4 attention heads).
	Hidden   int `json:"hidden"`
	Embed    int `json:"embed"`
	GATHeads int `json:"gatHeads"`
	// Trunk is the width of the MLP layers (64, as SB3's MlpPolicy and the
	// seed's GNN trunk).
	Trunk int `json:"trunk"`
	// Window is a TGN's number of observations per node (0 for the
	// others).
	Window int `json:"window,omitempty"`
}

// flatOnly reports whether the network reads only the flat vector (no
// graph): mlp and mlp-lstm.
func (s NetSpec) flatOnly() bool { return s.Policy == MLP || s.Policy == MLPLSTM }

// recurrent reports whether the network carries a state through an
// episode (and is trained on whole episodes).
func (s NetSpec) recurrent() bool { return s.Policy == MLPLSTM }

// inputFeatures is the width of a node's input row: its features, or for
// a TGN its features over the window, the newest first.
func (s NetSpec) inputFeatures() int {
	if s.Policy == TGN {
		return s.NodeFeatures * s.Window
	}
	return s.NodeFeatures
}

// gnnIn is the width the graph layers read: the node features, or a
// TGN's temporal layer's output.
func (s NetSpec) gnnIn() int {
	if s.Policy == TGN {
		return s.Hidden
	}
	return s.NodeFeatures
}

// SpecFor returns the default architecture of a policy and head for an
// environment, with the seed's sizes.
func SpecFor(es envs.Spec, edges []envs.Edge, policy PolicyKind, head HeadKind) NetSpec {
	s := NetSpec{
		Policy: policy, Head: head, Action: es.Action,
		Nodes: len(es.Services), NodeFeatures: es.NodeFeatures, FlatSize: es.FlatSize, Moves: es.Moves,
		Hidden: 32, Embed: 32, GATHeads: 4, Trunk: 64,
	}
	if policy == TGN {
		s.Window = DefaultWindow
	}
	for _, e := range edges {
		s.Edges = append(s.Edges, [2]int{e.Src, e.Dst})
	}
	return s
}

// Validate checks the architecture and names the bad field.
func (s NetSpec) Validate() error {
	var errs []error
	switch s.Policy {
	case MLP, GCN, GAT, MLPLSTM:
	case TGN:
		if s.Window < 1 {
			errs = append(errs, fmt.Errorf("net.window: %d must be positive for a tgn", s.Window))
		}
	default:
		errs = append(errs, fmt.Errorf("net.policy: unknown %q (valid: mlp, gcn, gat, tgn, mlp-lstm)", s.Policy))
	}
	switch s.Head {
	case JointHead:
	case PerNodeHead:
		if s.flatOnly() {
			errs = append(errs, fmt.Errorf("net.head: per-node needs a graph policy (gcn, gat or tgn), not %s", s.Policy))
		}
	default:
		errs = append(errs, fmt.Errorf("net.head: unknown %q (valid: joint, per-node)", s.Head))
	}
	if s.Action != "" {
		if _, err := envs.ParseActionSpace(string(s.Action)); err != nil {
			errs = append(errs, fmt.Errorf("net.action: %w", err))
		} else if s.Moves != s.Action.Moves() {
			errs = append(errs, fmt.Errorf("net.moves: %d, the %s action space has %d choices", s.Moves, s.Action, s.Action.Moves()))
		}
	}
	if s.ServiceValues && !s.factored() {
		errs = append(errs, fmt.Errorf("net.serviceValues: per-service credit needs a factored action space (factored or hpa-residual), not %s", s.space()))
	}
	if s.Nodes < 1 || s.Moves < 1 || s.NodeFeatures < 1 || s.FlatSize < 1 {
		errs = append(errs, fmt.Errorf("net: nodes %d, node features %d, flat size %d and moves %d must be positive", s.Nodes, s.NodeFeatures, s.FlatSize, s.Moves))
	}
	if s.Hidden < 1 || s.Embed < 1 || s.Trunk < 1 || (s.Policy == GAT && s.GATHeads < 1) {
		errs = append(errs, fmt.Errorf("net: hidden %d, embed %d, trunk %d and GAT heads %d must be positive", s.Hidden, s.Embed, s.Trunk, s.GATHeads))
	}
	for i, e := range s.Edges {
		if e[0] < 0 || e[0] >= s.Nodes || e[1] < 0 || e[1] >= s.Nodes {
			errs = append(errs, fmt.Errorf("net.edges[%d]: %d -> %d outside [0, %d)", i, e[0], e[1], s.Nodes))
		}
	}
	return errors.Join(errs...)
}

// factored reports whether the network scores one choice per service.
func (s NetSpec) factored() bool { return s.Action.Factored() }

// valueOuts is the width of the critic's output for one sample: the
// shared value, then each service's own value (MLP and joint heads; the
// per-node head scores its services' values from their embeddings).
func (s NetSpec) valueOuts() int {
	if s.ServiceValues && s.Head != PerNodeHead {
		return 1 + s.Nodes
	}
	return 1
}

// space is the action space, the seed's for specs written before spaces.
func (s NetSpec) space() envs.ActionSpace {
	if s.Action == "" {
		return envs.ActionSeed
	}
	return s.Action
}

// Counters are the trainer's progress, stored in checkpoints.
type Counters struct {
	Steps    int64 `json:"steps"`
	Updates  int64 `json:"updates"`
	Episodes int64 `json:"episodes"`
	Rollouts int64 `json:"rollouts"`
}
