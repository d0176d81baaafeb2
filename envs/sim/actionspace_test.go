package sim

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/grlscaler/grlscaler/envs"
	"github.com/grlscaler/grlscaler/envs/hpa"
)

func spaceEnv(t *testing.T, space envs.ActionSpace, randomStarts float64, scenarios ...string) *Env {
	t.Helper()
	a, _ := appAndScenario(t, "onlineboutique", scenarios[0])
	var mix []WeightedScenario
	for i, name := range scenarios {
		_, sc := appAndScenario(t, "onlineboutique", name)
		mix = append(mix, WeightedScenario{Scenario: sc, Weight: float64(3 - 2*min(i, 1))}) // 3, 1, 1, ...
	}
	base, err := hpa.ParsePreset("cpu-50", 1, 8)
	if err != nil {
		t.Fatal(err)
	}
	e, err := NewEnv(EnvOptions{Options: Options{App: a}, Scenarios: mix, Reward: envs.DefaultRewardConfig(envs.GoalSLO, a.LatencyCapMs),
		EpisodeSteps: 60, Action: space, BaseHPA: base, RandomStarts: randomStarts})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestEpisodesDrawScenariosByWeightAndStartAtVariedStates(t *testing.T) {
	e := spaceEnv(t, envs.ActionFactored, 0.5, "peak", "offpeak")
	counts := map[string]int{}
	random, starts := 0, map[time.Duration]bool{}
	for seed := range uint64(400) {
		if _, err := e.Reset(seed); err != nil {
			t.Fatal(err)
		}
		c := e.Cluster()
		counts[c.Scenario().Name]++
		reps := make([]int, len(c.App().Services))
		for i := range reps {
			reps[i] = c.Replicas(i)
		}
		atMin := !slices.ContainsFunc(reps, func(r int) bool { return r != 1 })
		if c.Now() == 0 && atMin {
			continue // an evaluation-like start
		}
		random++
		starts[c.Now()] = true
		for i, r := range reps {
			if r < 1 || r > 8 {
				t.Fatalf("seed %d: service %d starts at %d replicas, outside [1, 8]", seed, i, r)
			}
		}
	}
	// Weights 3:1 over 400 episodes: about 300 on peak.
	if p := counts["peak"]; p < 260 || p > 340 {
		t.Errorf("peak drawn %d of 400 times with weights 3:1; counts %v", p, counts)
	}
	if random < 160 || random > 240 {
		t.Errorf("%d of 400 episodes started at a random state, want about half", random)
	}
	if len(starts) < 20 {
		t.Errorf("random starts at only %d scenario times", len(starts))
	}
}

func TestEvaluationLikeEpisodesAreTruncatedAtTheirLength(t *testing.T) {
	e := spaceEnv(t, envs.ActionFactored, 0, "rushsale")
	obs, err := e.Reset(3)
	if err != nil {
		t.Fatal(err)
	}
	if e.Cluster().Now() != 0 {
		t.Fatalf("episode starts at %v, want the scenario's start", e.Cluster().Now())
	}
	keep := make([]int, 11)
	for k := range 60 {
		if obs.Mask == nil {
			t.Fatalf("step %d: at the minimum replicas the factored space masks the removals", k)
		}
		res, err := e.Step(envs.Action{Moves: keep})
		if err != nil {
			t.Fatal(err)
		}
		if res.Done != (k == 59) || res.Truncated != res.Done {
			t.Fatalf("step %d: done %v truncated %v", k+1, res.Done, res.Truncated)
		}
		var own float64
		for _, p := range res.ServiceRewards {
			own += p
		}
		if len(res.ServiceRewards) != 11 || own != 0 {
			t.Fatalf("step %d: service rewards %v at the minimum replicas", k+1, res.ServiceRewards)
		}
		obs = res.Obs
	}
}

func TestFactoredActionsMoveEveryServiceAtOnce(t *testing.T) {
	e := spaceEnv(t, envs.ActionFactored, 0, "peak")
	if _, err := e.Reset(1); err != nil {
		t.Fatal(err)
	}
	moves := make([]int, 11)
	for i := range moves {
		moves[i] = i % len(envs.FactoredDeltas)
	}
	res, err := e.Step(envs.Action{Moves: moves})
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range moves {
		want := max(1, 1+envs.FactoredDeltas[k])
		if res.Info.Replicas[i] != want {
			t.Errorf("service %d: %d replicas after %s from 1, want %d", i, res.Info.Replicas[i], envs.ActionFactored.ChoiceLabel(k), want)
		}
	}
}

// TestResidualAgentChoosingTheBaseIsTheHPA: an hpa-residual agent that
// always chooses choice 0 scales exactly as its base HPA, step for step;
// raising every target scales down.
func TestResidualAgentChoosingTheBaseIsTheHPA(t *testing.T) {
	run := func(ctrl envs.Controller) []int {
		c := newCluster(t, "onlineboutique", "fluctuating")
		var total []int
		if _, err := Run(c, ctrl, RunOptions{Seed: 2, Record: func(s *Snapshot) {
			n := 0
			for _, r := range s.Replicas {
				n += r
			}
			total = append(total, n)
		}}); err != nil {
			t.Fatal(err)
		}
		return total
	}
	base, err := hpa.ParsePreset("cpu-50", 1, 8)
	if err != nil {
		t.Fatal(err)
	}
	residual := func(choice int) envs.Controller {
		act, err := hpa.NewResidualActuator(base)
		if err != nil {
			t.Fatal(err)
		}
		return &fixedChoice{act: act, choice: choice}
	}
	plain := run(newHPA(t, "cpu-50"))
	if got := run(residual(0)); !slices.Equal(got, plain) {
		t.Errorf("choice 0 replicas %v, the HPA's %v", got, plain)
	}
	k := slices.Index(envs.ResidualScales, 2)
	if got := run(residual(k)); sum(got) >= sum(plain) {
		t.Errorf("doubling every target used %d replica-steps, the HPA %d; want fewer", sum(got), sum(plain))
	}
}

func sum(xs []int) int {
	s := 0
	for _, x := range xs {
		s += x
	}
	return s
}

// fixedChoice is an agent that makes the same hpa-residual choice for
// every service at every step.
type fixedChoice struct {
	act    envs.Actuator
	choice int
}

func (f *fixedChoice) Name() string { return "fixed" }
func (f *fixedChoice) Reset()       { f.act.Reset() }
func (f *fixedChoice) Decide(view *envs.ClusterView, desired []int) {
	moves := make([]int, len(view.Services))
	for i := range moves {
		moves[i] = f.choice
	}
	if _, err := f.act.Apply(view, envs.Action{Moves: moves}, desired); err != nil {
		panic(err)
	}
}

func TestMixWeightsMustBePositive(t *testing.T) {
	a, sc := appAndScenario(t, "onlineboutique", "peak")
	for _, w := range []float64{0, -1, math.NaN()} {
		if _, err := NewEnv(EnvOptions{Options: Options{App: a}, Scenarios: []WeightedScenario{{Scenario: sc, Weight: w}}}); err == nil {
			t.Errorf("weight %v accepted", w)
		}
	}
	if _, err := NewEnv(EnvOptions{Options: Options{App: a, Scenario: sc}, RandomStarts: 1.5}); err == nil {
		t.Error("random starts 1.5 accepted")
	}
	if _, err := NewEnv(EnvOptions{Options: Options{App: a, Scenario: sc}, Action: "continuous"}); err == nil {
		t.Error("an unknown action space accepted")
	}
}
