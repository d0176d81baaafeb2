package model

import (
	"fmt"
	"io"
	"math/rand/v2"
	"slices"

	"github.com/grlscaler/grlscaler/envs"
)

// Policy is a trained network used for acting: greedily (argmax) or by
// sampling. It does not train. It is not safe for concurrent use.
type Policy struct {
	spec  NetSpec
	lay   *layout
	theta []float64
	inf   *inference
	nodes []float64
	flat  []float64
	act   *actScratch
}

// Policy returns a policy that acts with the trainer's current weights
// (shared, so it follows further training).
func (t *Trainer) Policy() *Policy {
	p, err := newPolicy(t.spec, t.lay, t.theta, t.spec.Nodes, t.spec.Edges)
	if err != nil {
		// The trainer's own graph was validated when it was built.
		panic(err)
	}
	return p
}

// LoadPolicy reads a checkpoint's network for acting.
func LoadPolicy(r io.Reader) (*Policy, error) {
	h, vals, err := readCheckpoint(r)
	if err != nil {
		return nil, err
	}
	if err := h.Net.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorruptCheckpoint, err)
	}
	lay := newLayout(h.Net)
	if len(vals) < lay.total {
		return nil, fmt.Errorf("%w: %d values, the network has %d", ErrCorruptCheckpoint, len(vals), lay.total)
	}
	return newPolicy(h.Net, lay, slices.Clone(vals[:lay.total]), h.Net.Nodes, h.Net.Edges)
}

func newPolicy(spec NetSpec, lay *layout, theta []float64, nodes int, edges [][2]int) (*Policy, error) {
	inf, err := newInference(spec, lay, theta, nodes, edges)
	if err != nil {
		return nil, err
	}
	return &Policy{
		spec: spec, lay: lay, theta: theta, inf: inf,
		nodes: make([]float64, nodes*spec.NodeFeatures), flat: make([]float64, spec.FlatSize),
		act: newActScratch(nodes, spec.Moves),
	}, nil
}

// Spec returns the network's architecture.
func (p *Policy) Spec() NetSpec { return p.spec }

// Bind returns the policy for an app with a different call graph. Only the
// per-node head has no weights tied to the number of services, so only it
// can be bound to another app; the others must match their training app.
func (p *Policy) Bind(nodes int, edges []envs.Edge) (*Policy, error) {
	if p.spec.Head != PerNodeHead && nodes != p.spec.Nodes {
		return nil, fmt.Errorf("a %s policy with the %s head was trained for %d services and cannot act on %d; train a per-node policy to transfer",
			p.spec.Policy, p.spec.Head, p.spec.Nodes, nodes)
	}
	es := make([][2]int, len(edges))
	for i, e := range edges {
		es[i] = [2]int{e.Src, e.Dst}
	}
	return newPolicy(p.spec, p.lay, p.theta, nodes, es)
}

// Act chooses an action for an observation: the most likely one if greedy,
// else a sample drawn with rng. It also returns the value estimate.
func (p *Policy) Act(obs envs.Observation, greedy bool, rng *rand.Rand) (envs.Action, float64, error) {
	if err := prepareObs(p.spec, obs, p.nodes, p.flat); err != nil {
		return envs.Action{}, 0, err
	}
	out, err := p.inf.forward(p.nodes, p.flat)
	if err != nil {
		return envs.Action{}, 0, err
	}
	a, _ := actionFrom(out, p.spec.Moves, p.spec.Head == PerNodeHead, greedy, rng, p.act)
	return a, out.value, nil
}

// Controller adapts a policy to envs.Controller, so evaluation runs the
// agent like the HPA: at every decision it observes (observe returns the
// current observation, e.g. a sim.Observer's), acts, and turns the move
// into a desired replica count within the bounds. A move past a bound is
// not applied.
func (p *Policy) Controller(name string, observe func() envs.Observation, minR, maxR []int, greedy bool, seed uint64) envs.Controller {
	return &agentController{p: p, name: name, observe: observe, minR: minR, maxR: maxR, greedy: greedy, seed: seed}
}

type agentController struct {
	p          *Policy
	name       string
	observe    func() envs.Observation
	minR, maxR []int
	greedy     bool
	seed       uint64
	rng        *rand.Rand
	err        error
}

func (c *agentController) Name() string { return c.name }

func (c *agentController) Reset() { c.rng = rand.New(rand.NewPCG(c.seed, 0x51ed2701)); c.err = nil }

// Err returns the first error an observation caused; Decide leaves the
// replicas unchanged after one.
func (c *agentController) Err() error { return c.err }

func (c *agentController) Decide(view *envs.ClusterView, desired []int) {
	for i := range desired {
		desired[i] = -1
	}
	if c.rng == nil {
		c.Reset()
	}
	a, _, err := c.p.Act(c.observe(), c.greedy, c.rng)
	if err != nil {
		if c.err == nil {
			c.err = err
		}
		return
	}
	if d := a.Delta(); d != 0 && a.Deployment < len(view.Services) {
		r := view.Services[a.Deployment].Replicas + d
		if r >= c.minR[a.Deployment] && r <= c.maxR[a.Deployment] {
			desired[a.Deployment] = r
		}
	}
}
