package k8s

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/grlscaler/grlscaler/envs"
	"github.com/grlscaler/grlscaler/envs/hpa"
)

// EnvOptions configure the environment over a real cluster.
type EnvOptions struct {
	// Cluster is the deployed app. Required.
	Cluster *Cluster
	// Reward is the reward; zero means the cost goal with the app's cap.
	Reward envs.RewardConfig
	// EpisodeSteps is the episode length (default 25, gym-hpa's MAX_STEPS).
	EpisodeSteps int
	// StepPeriod is the wait between applying an action and observing its
	// effect (default 15s, one HPA sync; the seed used 0.3 to 15 s).
	StepPeriod time.Duration
	// ResetTimeout bounds Reset's wait for every service to run its
	// minimum replicas (default 5m).
	ResetTimeout time.Duration
	// Sleep waits the step period; nil means a timer that honours ctx.
	// Tests pass one that advances a fake cluster.
	Sleep func(ctx context.Context, d time.Duration) error
	// Action is the action space (default envs.ActionSeed), applied by the
	// same actuator as the twin's.
	Action envs.ActionSpace
	// BaseHPA is the hpa-residual space's HPA; ignored by the others.
	BaseHPA hpa.Config
}

// Env is a real cluster as an RL environment: Reset scales every service
// to its minimum and waits, Step scales one Deployment through the scale
// subresource, waits the step period, observes and computes the reward.
// The observation is built by the same code as the twin's (envs.FillService),
// so a policy trained on the twin reads the cluster the same way.
//
// Its methods take a context; Bind adapts it to envs.Env for code written
// against that interface. It is not safe for concurrent use.
type Env struct {
	c          *Cluster
	o          EnvOptions
	spec       envs.Spec
	minR, maxR []int
	step       int
	last       *Observation
	obs        envs.Observation
	desired    []int
	act        envs.Actuator
	view       envs.ClusterView
	want, reps []int
	mask       []bool
	parts      []float64
}

// NewEnv checks the options and returns the environment; ResetContext must
// run before StepContext.
func NewEnv(o EnvOptions) (*Env, error) {
	if o.Cluster == nil {
		return nil, errors.New("k8s env: cluster is required")
	}
	a := o.Cluster.App()
	if o.EpisodeSteps == 0 {
		o.EpisodeSteps = 25
	}
	if o.StepPeriod == 0 {
		o.StepPeriod = 15 * time.Second
	}
	if o.ResetTimeout == 0 {
		o.ResetTimeout = 5 * time.Minute
	}
	switch {
	case o.EpisodeSteps < 0:
		return nil, fmt.Errorf("k8s env: episode steps %d must be positive", o.EpisodeSteps)
	case o.StepPeriod < 0 || o.ResetTimeout < 0:
		return nil, fmt.Errorf("k8s env: step period %s and reset timeout %s must be positive", o.StepPeriod, o.ResetTimeout)
	}
	if o.Reward.Goal == "" {
		o.Reward = envs.DefaultRewardConfig(envs.GoalCost, a.LatencyCapMs)
	}
	if o.Reward.LatencyCapMs == 0 {
		o.Reward.LatencyCapMs = a.LatencyCapMs
	}
	if _, err := envs.ParseGoal(string(o.Reward.Goal)); err != nil {
		return nil, fmt.Errorf("k8s env: %w", err)
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
	if o.Action == "" {
		o.Action = envs.ActionSeed
	}
	n := len(a.Services)
	e := &Env{c: o.Cluster, o: o, minR: make([]int, n), maxR: make([]int, n), desired: make([]int, n),
		want: make([]int, n), reps: make([]int, n), mask: make([]bool, n*o.Action.Moves()), parts: make([]float64, n)}
	for i, s := range a.Services {
		e.minR[i], e.maxR[i] = s.MinReplicas, s.MaxReplicas
	}
	act, err := hpa.NewActuator(o.Action, o.BaseHPA, e.minR, e.maxR)
	if err != nil {
		return nil, fmt.Errorf("k8s env: %w", err)
	}
	e.act = act
	e.spec = envs.Spec{
		App: a.Name, Services: a.ServiceNames(),
		FlatSize: n * envs.FlatPerService, NodeFeatures: len(envs.NodeFeatureNames),
		Action: o.Action, Moves: o.Action.Moves(), MinReplicas: e.minR, MaxReplicas: e.maxR,
		EpisodeSteps: o.EpisodeSteps, StepPeriod: o.StepPeriod,
	}
	return e, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Spec describes the observations and actions; it equals the twin's for
// the same app and options.
func (e *Env) Spec() envs.Spec { return e.spec }

// Last is the raw observation behind the latest Reset or Step (nil before
// the first), for time series and evaluation.
func (e *Env) Last() *Observation { return e.last }

// ResetContext scales every service to its minimum replicas, waits until
// they are all ready, and observes. A real cluster has no seed to apply:
// the episode starts wherever the load is.
func (e *Env) ResetContext(ctx context.Context, _ uint64) (envs.Observation, error) {
	a := e.c.App()
	for i, s := range a.Services {
		if err := e.c.Scale(ctx, s.Name, e.minR[i]); err != nil {
			return envs.Observation{}, fmt.Errorf("k8s env reset: %w", err)
		}
	}
	var pending []string
	cond := func(ctx context.Context) (bool, error) {
		rc, err := e.c.Replicas(ctx)
		if err != nil {
			return false, err
		}
		pending = pending[:0]
		for i, r := range rc {
			if r.Spec != e.minR[i] || r.Ready != e.minR[i] {
				pending = append(pending, fmt.Sprintf("%s (%d/%d ready)", r.Name, r.Ready, e.minR[i]))
			}
		}
		return len(pending) == 0, nil
	}
	err := e.c.o.Poll(ctx, e.c.o.PollInterval, e.o.ResetTimeout, cond)
	if err != nil && wait.Interrupted(err) && ctx.Err() == nil {
		return envs.Observation{}, fmt.Errorf("k8s env reset: not at minimum replicas after %s: %s", e.o.ResetTimeout, strings.Join(pending, ", "))
	}
	if err != nil {
		return envs.Observation{}, fmt.Errorf("k8s env reset: %w", err)
	}
	e.step = 0
	e.act.Reset()
	if err := e.observe(ctx); err != nil {
		return envs.Observation{}, fmt.Errorf("k8s env reset: %w", err)
	}
	return e.obs, nil
}

// StepContext applies the move (unless it would leave the replica bounds,
// which costs the goal's penalty and changes nothing, as in the twin),
// waits the step period and observes. The returned observation's slices
// are reused by the next call; Clone it to keep it.
func (e *Env) StepContext(ctx context.Context, act envs.Action) (envs.StepResult, error) {
	if e.last == nil {
		return envs.StepResult{}, errors.New("k8s env: step before reset")
	}
	e.last.View(&e.view)
	boundHit, err := e.act.Apply(&e.view, act, e.want)
	if err != nil {
		return envs.StepResult{}, fmt.Errorf("k8s env: %w", err)
	}
	for i, r := range e.want {
		if r < 0 || r == e.last.Services[i].Replicas {
			continue
		}
		if err := e.c.Scale(ctx, e.spec.Services[i], r); err != nil {
			return envs.StepResult{}, fmt.Errorf("k8s env step: %w", err)
		}
	}
	if err := e.o.Sleep(ctx, e.o.StepPeriod); err != nil {
		return envs.StepResult{}, fmt.Errorf("k8s env step: %w", err)
	}
	if err := e.observe(ctx); err != nil {
		return envs.StepResult{}, fmt.Errorf("k8s env step: %w", err)
	}
	e.step++
	o := e.last
	if goal := e.o.Reward.Goal; goal != envs.GoalCost && o.RPS > 0 && !o.HasLatency {
		// The seed's latency reward read a metric nobody exported and was
		// zero for every step (seed-spec 8 C1); refuse instead.
		return envs.StepResult{}, fmt.Errorf("k8s env step: the %s goal needs latency, but the entry services serve %.1f rps with no latency samples; check that Prometheus scrapes the Linkerd proxies (Redis traffic is opaque TCP to Linkerd: use the cost goal)", goal, o.RPS)
	}
	n := len(o.Services)
	info := envs.Info{
		Time: o.Time.Sub(o.Origin), Replicas: make([]int, n), Ready: make([]int, n),
		CPUMilli: make([]float64, n), MemMiB: make([]float64, n),
		RPS: o.RPS, LatencyP50Ms: o.LatencyP50Ms, LatencyP95Ms: o.LatencyP95Ms, LatencyP99Ms: o.LatencyP99Ms,
		LatencyMeanMs: o.LatencyMeanMs, ErrorRate: o.ErrorRate, BoundHit: boundHit,
	}
	for i, s := range o.Services {
		info.Replicas[i], info.Ready[i], info.CPUMilli[i], info.MemMiB[i] = s.Replicas, s.Ready, s.CPUMilli, s.MemMiB
	}
	in := envs.RewardInput{
		Replicas: info.Replicas, Desired: e.desired,
		MinReplicas: e.minR, MaxReplicas: e.maxR,
		LatencyMeanMs: o.LatencyMeanMs, LatencyP95Ms: o.LatencyP95Ms,
		ErrorRate: o.ErrorRate, BoundHit: boundHit,
	}
	reward := e.o.Reward.Reward(in)
	var parts []float64
	if e.o.Reward.ServiceRewards(in, e.parts) {
		parts = e.parts
	}
	done := e.step >= e.o.EpisodeSteps
	return envs.StepResult{Obs: e.obs, Reward: reward, Done: done, Truncated: done, ServiceRewards: parts, Info: info}, nil
}

func (e *Env) observe(ctx context.Context) error {
	o, err := e.c.Observe(ctx)
	if err != nil {
		return err
	}
	e.last = o
	o.Build(&e.obs, e.desired, e.minR, e.maxR)
	for i := range o.Services {
		e.reps[i] = o.Services[i].Replicas
	}
	e.o.Action.MaskObservation(&e.obs, e.mask, e.reps, e.minR, e.maxR)
	return nil
}

// Bind returns the environment as an envs.Env whose calls use ctx: for a
// training or evaluation loop that runs within one activity call.
func (e *Env) Bind(ctx context.Context) envs.Env { return boundEnv{e: e, ctx: ctx} }

// boundEnv carries a context for the length of one activity call; it is
// the adapter the context-free envs.Env interface needs, not long-lived
// state.
type boundEnv struct {
	e   *Env
	ctx context.Context
}

func (b boundEnv) Reset(seed uint64) (envs.Observation, error) { return b.e.ResetContext(b.ctx, seed) }
func (b boundEnv) Step(a envs.Action) (envs.StepResult, error) { return b.e.StepContext(b.ctx, a) }
func (b boundEnv) Spec() envs.Spec                             { return b.e.Spec() }
