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
	norm  *obsNorm // the observation statistics it was trained with (nil: none)
	inf   *inference
	in    *inputs
	nodes []float64
	flat  []float64
	act   *actScratch
	// step is the training step its weights are from; best says whether
	// they are the evaluator's best rather than the latest.
	step int64
	best bool
}

// Policy returns a policy that acts with the trainer's current weights and
// observation statistics (shared, so it follows further training).
func (t *Trainer) Policy() *Policy {
	p, err := newPolicy(t.spec, t.lay, t.theta, t.spec.Nodes, t.spec.Edges)
	if err != nil {
		// The trainer's own graph was validated when it was built.
		panic(err)
	}
	p.norm, p.step = t.norm, t.counters.Steps
	return p
}

// LoadPolicy reads a checkpoint's network for acting: the best policy the
// evaluator kept during training if there is one (Stable-Baselines3's
// best_model), else the latest weights.
func LoadPolicy(r io.Reader) (*Policy, error) {
	h, vals, err := readCheckpoint(r)
	if err != nil {
		return nil, err
	}
	if err := h.Net.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorruptCheckpoint, err)
	}
	lay := newLayout(h.Net)
	theta, norm, step := vals, h.ObsNorm, h.Counters.Steps
	if h.Best != nil {
		if len(vals) < 4*lay.total {
			return nil, fmt.Errorf("%w: %d values, the network and its best copy have %d", ErrCorruptCheckpoint, len(vals), 4*lay.total)
		}
		theta, norm, step = vals[3*lay.total:], h.Best.Norm, h.Best.Step
	}
	if len(theta) < lay.total {
		return nil, fmt.Errorf("%w: %d values, the network has %d", ErrCorruptCheckpoint, len(vals), lay.total)
	}
	if norm != nil {
		if err := norm.check(h.Net); err != nil {
			return nil, err
		}
	}
	p, err := newPolicy(h.Net, lay, slices.Clone(theta[:lay.total]), h.Net.Nodes, h.Net.Edges)
	if err != nil {
		return nil, err
	}
	p.norm, p.step, p.best = norm, step, h.Best != nil
	return p, nil
}

func newPolicy(spec NetSpec, lay *layout, theta []float64, nodes int, edges [][2]int) (*Policy, error) {
	inf, err := newInference(spec, lay, theta, nodes, edges)
	if err != nil {
		return nil, err
	}
	return &Policy{
		spec: spec, lay: lay, theta: theta, inf: inf, in: newInputs(spec, nodes),
		nodes: make([]float64, nodes*spec.inputFeatures()), flat: make([]float64, spec.FlatSize),
		act: newActScratch(nodes, spec.Moves),
	}, nil
}

// Step is the training step the policy's weights are from; Best reports
// whether they are the best evaluated ones rather than the latest.
func (p *Policy) Step() int64 { return p.step }

// Best reports whether the weights are the evaluator's best.
func (p *Policy) Best() bool { return p.best }

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
	q, err := newPolicy(p.spec, p.lay, p.theta, nodes, es)
	if err != nil {
		return nil, err
	}
	q.norm, q.step, q.best = p.norm, p.step, p.best
	return q, nil
}

// Act chooses an action for an observation, the next of the episode: the
// most likely one if greedy, else a sample drawn with rng. It also returns the value estimate. In a
// factored space the action's Moves is a new slice.
func (p *Policy) Act(obs envs.Observation, greedy bool, rng *rand.Rand) (envs.Action, float64, error) {
	if err := p.in.prepare(obs, p.norm, false, p.nodes, p.flat); err != nil {
		return envs.Action{}, 0, err
	}
	out, err := p.inf.forward(p.nodes, p.flat)
	if err != nil {
		return envs.Action{}, 0, err
	}
	if p.spec.factored() {
		n, m := p.inf.nodes, p.spec.Moves
		if obs.Mask != nil && len(obs.Mask) != n*m {
			return envs.Action{}, 0, fmt.Errorf("observation mask has %d entries, want %d", len(obs.Mask), n*m)
		}
		choices := make([]int, n)
		factoredActionFrom(out, n, m, obs.Mask, greedy, rng, p.act, choices, nil)
		return envs.Action{Moves: choices}, out.value, nil
	}
	a, _ := actionFrom(out, p.spec.Moves, p.spec.Head == PerNodeHead, greedy, rng, p.act)
	return a, out.value, nil
}

// Reset starts a new episode: a temporal policy forgets what it saw.
// Act treats the observations between two resets as one episode.
func (p *Policy) Reset() {
	p.in.reset()
	p.inf.resetState()
}

// Space is the action space the policy acts in.
func (p *Policy) Space() envs.ActionSpace { return p.spec.space() }

// Controller adapts a policy to envs.Controller, so evaluation runs the
// agent like the HPA: at every decision it observes (observe returns the
// current observation, e.g. a sim.Observer's), acts, and turns the action
// into desired replicas with act, the actuator of the policy's action
// space that the training environment applied too.
func (p *Policy) Controller(name string, observe func() envs.Observation, act envs.Actuator, greedy bool, seed uint64) (envs.Controller, error) {
	if act.Space() != p.Space() {
		return nil, fmt.Errorf("policy acts in the %s action space, the actuator applies %s", p.Space(), act.Space())
	}
	return &agentController{p: p, name: name, observe: observe, act: act, greedy: greedy, seed: seed}, nil
}

type agentController struct {
	p       *Policy
	name    string
	observe func() envs.Observation
	act     envs.Actuator
	greedy  bool
	seed    uint64
	rng     *rand.Rand
	err     error
}

func (c *agentController) Name() string { return c.name }

func (c *agentController) Reset() {
	c.rng = rand.New(rand.NewPCG(c.seed, 0x51ed2701))
	c.err = nil
	c.act.Reset()
	c.p.Reset()
}

// Err returns the first error an observation or the actuator caused;
// Decide leaves the replicas unchanged after one.
func (c *agentController) Err() error { return c.err }

func (c *agentController) Decide(view *envs.ClusterView, desired []int) {
	for i := range desired {
		desired[i] = -1
	}
	if c.rng == nil {
		c.Reset()
	}
	if c.err != nil {
		return
	}
	a, _, err := c.p.Act(c.observe(), c.greedy, c.rng)
	if err == nil {
		_, err = c.act.Apply(view, a, desired)
	}
	if err != nil {
		c.err = err
		for i := range desired {
			desired[i] = -1
		}
	}
}
