package k8s

import (
	"context"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	metricsfake "k8s.io/metrics/pkg/client/clientset/versioned/fake"

	"github.com/grlscaler/grlscaler/envs"
	"github.com/grlscaler/grlscaler/envs/app"
	"github.com/grlscaler/grlscaler/envs/sim"
)

// redisEnv is the Redis app on a fake cluster as an Env whose step wait
// lets the fake control plane run instead of sleeping.
type redisEnv struct {
	fc     *fakeCluster
	prom   *fakeProm
	env    *Env
	sleeps []time.Duration
}

func newRedisEnv(t *testing.T, goal envs.Goal) *redisEnv {
	t.Helper()
	fc, _ := deployedRedis(t)
	r := &redisEnv{fc: fc, prom: newFakeProm(t, "redis")}
	r.prom.rps["redis-leader"] = 200
	r.prom.success["redis-leader"] = 200
	r.prom.appLatency = [3]float64{1, 4, 9}
	r.prom.appMean = 2
	a := app.Redis()
	c, err := NewCluster(Options{Kube: fc.kube, Metrics: metricsfake.NewSimpleClientset(), Prometheus: r.prom.client(t),
		App: a, Namespace: "redis", Now: func() time.Time { return fc.now }, Poll: fc.poll})
	if err != nil {
		t.Fatal(err)
	}
	r.env, err = NewEnv(EnvOptions{Cluster: c, Reward: envs.DefaultRewardConfig(goal, a.LatencyCapMs), EpisodeSteps: 3, StepPeriod: 5 * time.Second,
		Sleep: func(_ context.Context, d time.Duration) error {
			r.sleeps = append(r.sleeps, d)
			fc.tick()
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestEnvSpecIsTheTwins(t *testing.T) {
	t.Parallel()
	r := newRedisEnv(t, envs.GoalCost)
	sc, err := sim.ScenarioFor(app.Redis(), "peak")
	if err != nil {
		t.Fatal(err)
	}
	twin, err := sim.NewEnv(sim.EnvOptions{Options: sim.Options{App: app.Redis(), Scenario: sc, StepPeriod: 5 * time.Second}, EpisodeSteps: 3})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := r.env.Spec(), twin.Spec(); !reflect.DeepEqual(got, want) {
		t.Errorf("spec\n got %+v\nwant %+v (the twin's)", got, want)
	}
}

func TestResetScalesEveryServiceToItsMinimumAndWaits(t *testing.T) {
	t.Parallel()
	r := newRedisEnv(t, envs.GoalCost)
	if err := r.env.c.Scale(context.Background(), "redis-follower", 4); err != nil {
		t.Fatal(err)
	}
	r.fc.tick()
	obs, err := r.env.Bind(context.Background()).Reset(7)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if got := obs.Flat[i*envs.FlatPerService]; got != 1 {
			t.Errorf("service %d replicas %v after reset, want its minimum 1", i, got)
		}
		if got := obs.Nodes[i*len(envs.NodeFeatureNames)+1]; got != 1 {
			t.Errorf("service %d ready fraction %v, want 1 (reset waits)", i, got)
		}
	}
	if len(obs.Edges) != 1 || obs.Edges[0] != (envs.Edge{Src: 0, Dst: 1}) {
		t.Errorf("edges %+v, want the static leader -> follower edge with no traffic on it", obs.Edges)
	}
}

func TestStepScalesWaitsTheStepPeriodAndObserves(t *testing.T) {
	t.Parallel()
	r := newRedisEnv(t, envs.GoalLatency)
	e := r.env.Bind(context.Background())
	if _, err := e.Reset(1); err != nil {
		t.Fatal(err)
	}
	r.fc.actions()
	res, err := e.Step(envs.Action{Deployment: 1, Move: envs.MoveFor(2)})
	if err != nil {
		t.Fatal(err)
	}
	var updates []string
	for _, a := range r.fc.actions() {
		if a.GetVerb() == "update" {
			updates = append(updates, a.GetResource().Resource+"/"+a.GetSubresource())
		}
	}
	if len(updates) != 1 || updates[0] != "deployments/scale" {
		t.Errorf("writes %v, want one scale update", updates)
	}
	if len(r.sleeps) != 1 || r.sleeps[0] != 5*time.Second {
		t.Errorf("waits %v, want one of the 5s step period", r.sleeps)
	}
	if res.Info.Replicas[1] != 3 || res.Info.Ready[1] != 3 || res.Obs.Flat[envs.FlatPerService] != 3 {
		t.Errorf("follower replicas %d ready %d flat %v, want 3", res.Info.Replicas[1], res.Info.Ready[1], res.Obs.Flat[envs.FlatPerService])
	}
	// The latency goal: -min(mean latency, cap) = -2 ms.
	if res.Reward != -2 || res.Info.RPS != 200 || res.Info.LatencyP95Ms != 4 || res.Done {
		t.Errorf("reward %v rps %v p95 %v done %v", res.Reward, res.Info.RPS, res.Info.LatencyP95Ms, res.Done)
	}
	for range 2 {
		if res, err = e.Step(envs.Action{}); err != nil {
			t.Fatal(err)
		}
	}
	if !res.Done {
		t.Error("episode not done after EpisodeSteps")
	}
}

func TestStepBeyondTheBoundsIsPenalisedAndNotApplied(t *testing.T) {
	t.Parallel()
	r := newRedisEnv(t, envs.GoalCost)
	e := r.env.Bind(context.Background())
	if _, err := e.Reset(1); err != nil {
		t.Fatal(err)
	}
	r.fc.actions()
	res, err := e.Step(envs.Action{Deployment: 0, Move: envs.MoveFor(-1)})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range r.fc.actions() {
		if a.GetSubresource() == "scale" {
			t.Errorf("%s of the scale for a move below the minimum", a.GetVerb())
		}
	}
	if !res.Info.BoundHit || res.Reward != -1 {
		t.Errorf("bound hit %v reward %v, want the cost goal's -1", res.Info.BoundHit, res.Reward)
	}
}

func TestLatencyGoalsRefuseTrafficWithoutLatency(t *testing.T) {
	t.Parallel()
	for _, goal := range []envs.Goal{envs.GoalLatency, envs.GoalSLO} {
		r := newRedisEnv(t, goal)
		r.prom.appLatency = [3]float64{math.NaN(), math.NaN(), math.NaN()}
		r.prom.appMean = math.NaN()
		e := r.env.Bind(context.Background())
		if _, err := e.Reset(1); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Step(envs.Action{}); err == nil || !strings.Contains(err.Error(), "no latency samples") {
			t.Errorf("%s goal: error %v, want a refusal", goal, err)
		}
	}
}

func TestEnvRejectsBadUse(t *testing.T) {
	t.Parallel()
	r := newRedisEnv(t, envs.GoalCost)
	if _, err := r.env.StepContext(context.Background(), envs.Action{}); err == nil {
		t.Error("step before reset accepted")
	}
	if _, err := r.env.ResetContext(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	if _, err := r.env.StepContext(context.Background(), envs.Action{Deployment: 2}); err == nil {
		t.Error("action on a third service of a two-service app accepted")
	}
	if _, err := NewEnv(EnvOptions{Cluster: r.env.c, StepPeriod: -time.Second}); err == nil {
		t.Error("negative step period accepted")
	}
}
