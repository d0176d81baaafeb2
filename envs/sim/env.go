package sim

import (
	"fmt"
	"math"
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
	c       *Cluster
	opts    EnvOptions
	step    int
	obs     envs.Observation
	desired []int
	minR    []int
	maxR    []int
	spec    envs.Spec
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
	n := c.n
	e := &Env{c: c, opts: opts, desired: make([]int, n), minR: make([]int, n), maxR: make([]int, n)}
	for i, s := range c.app.Services {
		e.minR[i], e.maxR[i] = s.MinReplicas, s.MaxReplicas
	}
	e.obs = envs.Observation{
		Flat:  make([]float64, n*envs.FlatPerService),
		Nodes: make([]float64, n*len(envs.NodeFeatureNames)),
		Edges: make([]envs.Edge, len(c.edges)),
	}
	e.spec = envs.Spec{
		App: c.app.Name, Services: c.app.ServiceNames(),
		FlatSize: n * envs.FlatPerService, NodeFeatures: len(envs.NodeFeatureNames),
		Moves: envs.NumMoves, MinReplicas: e.minR, MaxReplicas: e.maxR,
		EpisodeSteps: opts.EpisodeSteps, StepPeriod: opts.StepPeriod,
	}
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
			start = time.Duration(splitmix(seed)%uint64(steps)) * e.c.opts.StepPeriod
		}
	}
	e.c.Reset(seed, start)
	e.step = 0
	e.observe()
	return e.obs, nil
}

// splitmix scrambles a seed so that consecutive seeds give unrelated starts.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
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
		if r < e.minR[a.Deployment] || r > e.maxR[a.Deployment] {
			boundHit = true
		} else {
			e.c.SetReplicas(a.Deployment, r)
		}
	}
	e.c.Step()
	e.step++
	e.observe()
	s := e.c.Latest()
	reward := e.opts.Reward.Reward(envs.RewardInput{
		Replicas: s.Replicas, Desired: e.desired,
		MinReplicas: e.minR, MaxReplicas: e.maxR,
		LatencyMeanMs: s.MeanMs, LatencyP95Ms: s.P95Ms,
		ErrorRate: s.ErrorRate, BoundHit: boundHit,
	})
	return envs.StepResult{
		Obs:    e.obs,
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

// observe fills the observation from the lagged metrics, as Prometheus and
// metrics-server would show them, with the current spec.replicas (which
// the API server reports without lag).
func (e *Env) observe() {
	c := e.c
	o := c.Observed()
	nf := len(envs.NodeFeatureNames)
	for i, svc := range c.app.Services {
		r := c.Replicas(i)
		d := envs.DesiredReplicas(o.CPUMilli[i], o.MemMiB[i], svc.CPURequestMilli, svc.MemRequestMiB, e.minR[i], e.maxR[i])
		e.desired[i] = d
		f := e.obs.Flat[i*envs.FlatPerService : (i+1)*envs.FlatPerService]
		f[0], f[1], f[2], f[3], f[4], f[5] = float64(r), float64(d), o.CPUMilli[i], o.MemMiB[i], o.RxKBps[i], o.TxKBps[i]

		x := e.obs.Nodes[i*nf : (i+1)*nf]
		maxR := float64(e.maxR[i])
		x[0] = float64(r) / maxR
		x[1] = 0
		if r > 0 {
			x[1] = float64(c.readyAt(i, c.now)) / float64(r)
		}
		x[2], x[3] = 0, 0
		if p := float64(o.Pods[i]); p > 0 {
			x[2] = math.Min(o.CPUMilli[i]/(p*svc.CPURequestMilli), 4) / 4
			x[3] = math.Min(o.MemMiB[i]/(p*svc.MemRequestMiB), 4) / 4
		}
		x[4] = math.Log1p(o.RPS[i]) / math.Log1p(10000)
		// p95 of an exponential-tailed sojourn is about 3x its mean; the
		// exact fit costs two logs per service and adds nothing to a
		// normalised feature.
		p95 := 3 * o.LatMeanMs[i]
		x[5] = p95 / (p95 + 100)
		x[6] = o.DropRate[i]
		x[7] = float64(d-r) / maxR
	}
	// Edge weights need only the rates, not the latency fits of EdgeMetrics.
	peak := 0.0
	for _, calls := range c.edgeCallsPerTask {
		peak = math.Max(peak, calls)
	}
	for k, edge := range c.edges {
		w := 0.0
		if peak > 0 && o.TaskRate > 0 {
			w = c.edgeCallsPerTask[k] / peak
		}
		e.obs.Edges[k] = envs.Edge{Src: edge.Src, Dst: edge.Dst, Weight: w}
	}
}
