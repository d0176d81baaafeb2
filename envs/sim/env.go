package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/grlscaler/grlscaler/envs"
	"github.com/grlscaler/grlscaler/envs/hpa"
	"github.com/grlscaler/grlscaler/envs/load"
)

// WeightedScenario is one scenario of a training mix.
type WeightedScenario struct {
	Scenario load.Scenario
	// Weight is the scenario's share of the episodes, relative to the
	// others' (need not sum to 1).
	Weight float64
}

// EnvOptions configure the gym-style environment over a twin.
type EnvOptions struct {
	// Options configure the twin; Options.Scenario is the scenario unless
	// Scenarios is set.
	Options
	// Scenarios, if set, is a weighted mix: every episode draws its
	// scenario from it by weight.
	Scenarios []WeightedScenario
	Reward    envs.RewardConfig
	// EpisodeSteps is the episode length (default 25, gym-hpa's MAX_STEPS).
	EpisodeSteps int
	// Action is the action space (default envs.ActionSeed).
	Action envs.ActionSpace
	// BaseHPA is the hpa-residual space's HPA; ignored by the others.
	BaseHPA hpa.Config
	// RandomStarts is the fraction of episodes, in [0, 1], that start at a
	// random point of their scenario with random replicas per service
	// (uniform within the bounds), after one step period under that load so
	// that the first observation shows it. The others start as an
	// evaluation run does: scenario time zero, minimum replicas, no load
	// history. 0 (the default) makes every episode an evaluation run.
	RandomStarts float64
}

// Env is the digital twin as an envs.Env.
type Env struct {
	opts  EnvOptions
	twins []*Cluster // one per scenario of the mix
	obs   []*Observer
	cum   []float64 // cumulative scenario weights
	c     *Cluster  // the current episode's twin
	o     *Observer
	act   envs.Actuator
	view  envs.ClusterView
	want  []int
	parts []float64
	step  int
	spec  envs.Spec
	start []int
}

var _ envs.Env = (*Env)(nil)

// NewEnv builds the environment; Reset must be called before Step.
func NewEnv(opts EnvOptions) (*Env, error) {
	if opts.EpisodeSteps == 0 {
		opts.EpisodeSteps = 25
	}
	if opts.EpisodeSteps < 0 {
		return nil, fmt.Errorf("sim env: episode steps %d must be positive", opts.EpisodeSteps)
	}
	if opts.RandomStarts < 0 || opts.RandomStarts > 1 {
		return nil, fmt.Errorf("sim env: random starts %g must be in [0, 1]", opts.RandomStarts)
	}
	if opts.Action == "" {
		opts.Action = envs.ActionSeed
	}
	if _, err := envs.ParseActionSpace(string(opts.Action)); err != nil {
		return nil, fmt.Errorf("sim env: %w", err)
	}
	mix := opts.Scenarios
	if len(mix) == 0 {
		mix = []WeightedScenario{{Scenario: opts.Scenario, Weight: 1}}
	}
	e := &Env{opts: opts}
	var total float64
	for i, ws := range mix {
		if !(ws.Weight > 0) || math.IsInf(ws.Weight, 1) {
			return nil, fmt.Errorf("sim env: scenario %d (%s) weight %g must be positive", i, ws.Scenario.Name, ws.Weight)
		}
		o := opts.Options
		o.Scenario = ws.Scenario
		c, err := NewCluster(o)
		if err != nil {
			return nil, err
		}
		total += ws.Weight
		e.twins = append(e.twins, c)
		e.obs = append(e.obs, NewObserver(c, opts.Action))
		e.cum = append(e.cum, total)
	}
	e.c, e.o = e.twins[0], e.obs[0]
	ap := e.c.app
	if opts.Reward.Goal == "" {
		opts.Reward = envs.DefaultRewardConfig(envs.GoalCost, ap.LatencyCapMs)
	}
	if opts.Reward.LatencyCapMs == 0 {
		opts.Reward.LatencyCapMs = ap.LatencyCapMs
	}
	if _, err := envs.ParseGoal(string(opts.Reward.Goal)); err != nil {
		return nil, fmt.Errorf("sim env: %w", err)
	}
	e.opts = opts
	act, err := hpa.NewActuator(opts.Action, opts.BaseHPA, e.o.minR, e.o.maxR)
	if err != nil {
		return nil, fmt.Errorf("sim env: %w", err)
	}
	e.act = act
	e.want = make([]int, e.c.n)
	e.parts = make([]float64, e.c.n)
	e.start = make([]int, e.c.n)
	e.spec = e.o.Spec(opts.EpisodeSteps)
	return e, nil
}

// Cluster exposes the current episode's twin (for evaluation and tests).
func (e *Env) Cluster() *Cluster { return e.c }

// Spec implements envs.Env.
func (e *Env) Spec() envs.Spec { return e.spec }

// Reset implements envs.Env: it draws the episode's scenario and, for a
// random start, its time and replicas, from seed. The returned
// observation's slices are reused by the next call; Clone it to keep it.
func (e *Env) Reset(seed uint64) (envs.Observation, error) {
	rng := rand.New(rand.NewPCG(envs.MixSeed(seed), 0x5ce7a210))
	k := 0
	if len(e.twins) > 1 {
		u := rng.Float64() * e.cum[len(e.cum)-1]
		for k < len(e.cum)-1 && u >= e.cum[k] {
			k++
		}
	}
	e.c, e.o = e.twins[k], e.obs[k]
	e.act.Reset()
	e.step = 0
	if e.opts.RandomStarts == 0 || rng.Float64() >= e.opts.RandomStarts {
		e.c.Reset(seed, 0)
		return e.o.Observe(), nil
	}
	period := e.c.opts.StepPeriod
	steps := int64(e.c.opts.Scenario.Duration / period)
	start := time.Duration(rng.Int64N(max(steps, 1))) * period
	for i := range e.start {
		e.start[i] = e.o.minR[i] + rng.IntN(e.o.maxR[i]-e.o.minR[i]+1)
	}
	// One step under the load before the agent acts, so that the lagged
	// metrics it first sees show the load rather than an idle app.
	e.c.ResetReplicas(seed, start, e.start)
	for range e.c.lagSteps {
		e.c.Step()
	}
	return e.o.Observe(), nil
}

// Step implements envs.Env: it applies the action through the action
// space's actuator (a seed move past a replica bound is not applied and
// costs the goal's penalty), advances the twin one step period, and
// observes with metrics lag.
func (e *Env) Step(a envs.Action) (envs.StepResult, error) {
	if e.c.rng == nil {
		return envs.StepResult{}, fmt.Errorf("sim env: step before reset")
	}
	if e.act.NeedsPods() {
		e.c.View(&e.view)
	} else {
		e.c.ViewReplicas(&e.view)
	}
	boundHit, err := e.act.Apply(&e.view, a, e.want)
	if err != nil {
		return envs.StepResult{}, fmt.Errorf("sim env: %w", err)
	}
	for i, r := range e.want {
		if r >= 0 {
			e.c.SetReplicas(i, r)
		}
	}
	e.c.Step()
	e.step++
	obs := e.o.Observe()
	s := e.c.Latest()
	in := envs.RewardInput{
		Replicas: s.Replicas, Desired: e.o.desired,
		MinReplicas: e.o.minR, MaxReplicas: e.o.maxR,
		LatencyMeanMs: s.MeanMs, LatencyP95Ms: s.P95Ms,
		ErrorRate: s.ErrorRate, BoundHit: boundHit,
	}
	reward := e.opts.Reward.Reward(in)
	var parts []float64
	if e.opts.Reward.ServiceRewards(in, e.parts) {
		parts = e.parts
	}
	done := e.step >= e.opts.EpisodeSteps
	return envs.StepResult{
		Obs:            obs,
		Reward:         reward,
		Done:           done,
		Truncated:      done,
		ServiceRewards: parts,
		Info: envs.Info{
			Time: s.Time, Replicas: s.Replicas, Ready: s.Ready,
			CPUMilli: s.CPUMilli, MemMiB: s.MemMiB,
			OfferedRPS: s.OfferedRate, RPS: s.TaskRate,
			LatencyP50Ms: s.P50Ms, LatencyP95Ms: s.P95Ms, LatencyP99Ms: s.P99Ms,
			LatencyMeanMs: s.MeanMs, ErrorRate: s.ErrorRate, BoundHit: boundHit,
		},
	}, nil
}
