package sim

import (
	"fmt"
	"time"

	"github.com/grlscaler/grlscaler/envs"
)

// EnvOptions configure the gym-style environment over a twin.
type EnvOptions struct {
	Options
	Reward envs.RewardConfig
	// EpisodeSteps is the episode length (default 25, gym-hpa's MAX_STEPS).
	EpisodeSteps int
	// FixedStart starts every episode at scenario time zero; by default an
	// episode starts at a random point of the scenario, so 25-step episodes
	// (6.25 minutes) see every phase of a 15-minute scenario over training.
	FixedStart bool
}

// Env is the digital twin as an envs.Env.
type Env struct {
	c    *Cluster
	opts EnvOptions
	step int
	o    *Observer
	spec envs.Spec
}

var _ envs.Env = (*Env)(nil)

// NewEnv builds the environment; Reset must be called before Step.
func NewEnv(opts EnvOptions) (*Env, error) {
	c, err := NewCluster(opts.Options)
	if err != nil {
		return nil, err
	}
	if opts.EpisodeSteps == 0 {
		opts.EpisodeSteps = 25
	}
	if opts.EpisodeSteps < 0 {
		return nil, fmt.Errorf("sim env: episode steps %d must be positive", opts.EpisodeSteps)
	}
	if opts.Reward.Goal == "" {
		opts.Reward = envs.DefaultRewardConfig(envs.GoalCost, c.app.LatencyCapMs)
	}
	if opts.Reward.LatencyCapMs == 0 {
		opts.Reward.LatencyCapMs = c.app.LatencyCapMs
	}
	if _, err := envs.ParseGoal(string(opts.Reward.Goal)); err != nil {
		return nil, fmt.Errorf("sim env: %w", err)
	}
	e := &Env{c: c, opts: opts, o: NewObserver(c)}
	e.spec = e.o.Spec(opts.EpisodeSteps)
	return e, nil
}

// Cluster exposes the underlying twin (for evaluation and tests).
func (e *Env) Cluster() *Cluster { return e.c }

// Spec implements envs.Env.
func (e *Env) Spec() envs.Spec { return e.spec }

// Reset implements envs.Env. The returned observation's slices are reused
// by the next call; Clone it to keep it.
func (e *Env) Reset(seed uint64) (envs.Observation, error) {
	start := time.Duration(0)
	if !e.opts.FixedStart {
		// A start drawn from the seed, aligned to steps.
		steps := int64(e.c.opts.Scenario.Duration / e.c.opts.StepPeriod)
		if steps > 0 {
			start = time.Duration(envs.MixSeed(seed)%uint64(steps)) * e.c.opts.StepPeriod
		}
	}
	e.c.Reset(seed, start)
	e.step = 0
	return e.o.Observe(), nil
}

// Step implements envs.Env: it applies the move (unless it would leave the
// replica bounds, which costs the goal's penalty and changes nothing),
// advances the twin one step period, and observes with metrics lag.
func (e *Env) Step(a envs.Action) (envs.StepResult, error) {
	if e.c.rng == nil {
		return envs.StepResult{}, fmt.Errorf("sim env: step before reset")
	}
	if err := a.Validate(e.c.n); err != nil {
		return envs.StepResult{}, fmt.Errorf("sim env: %w", err)
	}
	boundHit := false
	if d := a.Delta(); d != 0 {
		r := e.c.Replicas(a.Deployment) + d
		if r < e.o.minR[a.Deployment] || r > e.o.maxR[a.Deployment] {
			boundHit = true
		} else {
			e.c.SetReplicas(a.Deployment, r)
		}
	}
	e.c.Step()
	e.step++
	obs := e.o.Observe()
	s := e.c.Latest()
	reward := e.opts.Reward.Reward(envs.RewardInput{
		Replicas: s.Replicas, Desired: e.o.desired,
		MinReplicas: e.o.minR, MaxReplicas: e.o.maxR,
		LatencyMeanMs: s.MeanMs, LatencyP95Ms: s.P95Ms,
		ErrorRate: s.ErrorRate, BoundHit: boundHit,
	})
	return envs.StepResult{
		Obs:    obs,
		Reward: reward,
		Done:   e.step >= e.opts.EpisodeSteps,
		Info: envs.Info{
			Time: s.Time, Replicas: s.Replicas, Ready: s.Ready,
			CPUMilli: s.CPUMilli, MemMiB: s.MemMiB,
			OfferedRPS: s.OfferedRate, RPS: s.TaskRate,
			LatencyP50Ms: s.P50Ms, LatencyP95Ms: s.P95Ms, LatencyP99Ms: s.P99Ms,
			LatencyMeanMs: s.MeanMs, ErrorRate: s.ErrorRate, BoundHit: boundHit,
		},
	}, nil
}
