package model

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/grlscaler/grlscaler/envs"
	"github.com/grlscaler/grlscaler/envs/hpa"
	"github.com/grlscaler/grlscaler/envs/sim"
)

// banditEnv is a contextual bandit on a 5-node chain with a known optimum:
// each step one node is "hot" (its first node feature and its flat pods
// value are 1), and the best action is Add-1 on that node (reward 1);
// the right node with another move earns 0.2, anything else 0. Episodes
// last 5 steps. A uniformly random policy earns about 0.05 per step.
type banditEnv struct {
	rng  *rand.Rand
	hot  int
	step int
	obs  envs.Observation
}

const banditNodes = 5

func newBanditEnv() *banditEnv {
	e := &banditEnv{obs: envs.Observation{
		Flat:  make([]float64, banditNodes*envs.FlatPerService),
		Nodes: make([]float64, banditNodes*len(envs.NodeFeatureNames)),
	}}
	for i := 0; i+1 < banditNodes; i++ {
		e.obs.Edges = append(e.obs.Edges, envs.Edge{Src: i, Dst: i + 1, Weight: 1})
	}
	return e
}

func (e *banditEnv) Spec() envs.Spec {
	s := envs.Spec{App: "bandit", FlatSize: len(e.obs.Flat), NodeFeatures: len(envs.NodeFeatureNames), Moves: envs.NumMoves, EpisodeSteps: 5}
	for i := range banditNodes {
		s.Services = append(s.Services, fmt.Sprint("n", i))
		s.MinReplicas = append(s.MinReplicas, 1)
		s.MaxReplicas = append(s.MaxReplicas, 8)
	}
	return s
}

func (e *banditEnv) draw() {
	e.hot = e.rng.IntN(banditNodes)
	clear(e.obs.Flat)
	clear(e.obs.Nodes)
	e.obs.Flat[e.hot*envs.FlatPerService] = 1
	e.obs.Nodes[e.hot*len(envs.NodeFeatureNames)] = 1
}

func (e *banditEnv) Reset(seed uint64) (envs.Observation, error) {
	e.rng = rand.New(rand.NewPCG(seed, 7))
	e.step = 0
	e.draw()
	return e.obs, nil
}

func (e *banditEnv) Step(a envs.Action) (envs.StepResult, error) {
	r := 0.0
	if a.Deployment == e.hot {
		r = 0.2
		if a.Move == 1 {
			r = 1
		}
	}
	e.step++
	e.draw()
	return envs.StepResult{Obs: e.obs, Reward: r, Done: e.step == 5}, nil
}

// meanReward runs act for episodes on env and returns the mean reward per step.
func meanReward(t *testing.T, env envs.Env, episodes int, act func(envs.Observation) envs.Action) float64 {
	t.Helper()
	var sum float64
	var steps int
	for ep := range episodes {
		obs, err := env.Reset(uint64(1_000_000 + ep))
		if err != nil {
			t.Fatal(err)
		}
		for {
			res, err := env.Step(act(obs))
			if err != nil {
				t.Fatal(err)
			}
			sum += res.Reward
			steps++
			obs = res.Obs
			if res.Done {
				break
			}
		}
	}
	return sum / float64(steps)
}

func TestPPOSolvesAContextualBandit(t *testing.T) {
	// The optimum is 1 per step; random play earns about 0.05. Within 6000
	// steps (12 rollouts of 500) PPO with the seed-size GCN reaches 0.9.
	for _, k := range []struct {
		policy PolicyKind
		head   HeadKind
	}{{GCN, JointHead}, {GAT, PerNodeHead}, {MLP, JointHead}} {
		t.Run(fmt.Sprintf("%s-%s", k.policy, k.head), func(t *testing.T) {
			h := DefaultHyperparameters()
			h.NSteps, h.LearningRate, h.EntCoef = 500, 1e-3, 0.01
			env := newBanditEnv()
			tr, err := NewTrainer(env, Options{Policy: k.policy, Head: k.head, Hyper: h, Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tr.Train(context.Background(), 6000, nil); err != nil {
				t.Fatal(err)
			}
			p := tr.Policy()
			got := meanReward(t, newBanditEnv(), 200, func(obs envs.Observation) envs.Action {
				a, _, err := p.Act(obs, true, nil)
				if err != nil {
					t.Fatal(err)
				}
				return a
			})
			if got < 0.9 {
				t.Errorf("greedy policy earns %.3f per step after 6000 steps; want >= 0.9 (optimum 1)", got)
			}
		})
	}
}

func randomPolicy(n int, rng *rand.Rand) func(envs.Observation) envs.Action {
	return func(envs.Observation) envs.Action {
		return envs.Action{Deployment: rng.IntN(n), Move: rng.IntN(envs.NumMoves)}
	}
}

// TestGNNPolicyBeatsRandomOnTheTwin trains the seed-size GCN policy with
// PPO (the seed's n_steps 500) on Online Boutique's peak scenario with the
// cost goal, and compares its greedy episodes with a random policy's.
func TestGNNPolicyBeatsRandomOnTheTwin(t *testing.T) {
	if testing.Short() {
		t.Skip("trains for 15000 steps")
	}
	start := time.Now()
	h := DefaultHyperparameters()
	h.NSteps, h.EntCoef = 500, 0.01
	env := twinEnv(t, "onlineboutique", "peak", envs.GoalCost)
	tr, err := NewTrainer(env, Options{Policy: GCN, Head: JointHead, Hyper: h, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Train(context.Background(), 15000, nil); err != nil {
		t.Fatal(err)
	}
	p := tr.Policy()
	evalEnv := twinEnv(t, "onlineboutique", "peak", envs.GoalCost)
	trained := meanReward(t, evalEnv, 20, func(obs envs.Observation) envs.Action {
		a, _, err := p.Act(obs, true, nil)
		if err != nil {
			t.Fatal(err)
		}
		return a
	})
	random := meanReward(t, evalEnv, 20, randomPolicy(11, rand.New(rand.NewPCG(1, 1))))
	t.Logf("cost reward per step: trained %.2f, random %.2f (max 11), %s", trained, random, time.Since(start))
	if trained < random+2 {
		t.Errorf("trained GCN policy earns %.2f per step, random %.2f; want at least 2 more", trained, random)
	}
}

// TestPerNodePolicyRunsOnAnAppOfAnotherSize trains a per-node policy on
// Online Boutique and runs it, unchanged, on a synthetic 30-service app.
func TestPerNodePolicyRunsOnAnAppOfAnotherSize(t *testing.T) {
	h := smallHyper()
	tr, err := NewTrainer(twinEnv(t, "onlineboutique", "peak", envs.GoalSLO), Options{Policy: GAT, Head: PerNodeHead, Hyper: h, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Train(context.Background(), 100, nil); err != nil {
		t.Fatal(err)
	}
	big := twinEnv(t, "synthetic-30", "peak", envs.GoalSLO)
	obs, err := big.Reset(1)
	if err != nil {
		t.Fatal(err)
	}
	p, err := tr.Policy().Bind(30, obs.Edges)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(2, 2))
	seen := map[int]bool{}
	for range 200 {
		a, v, err := p.Act(obs, false, rng)
		if err != nil {
			t.Fatal(err)
		}
		if math.IsNaN(v) || a.Deployment < 0 || a.Deployment >= 30 {
			t.Fatalf("action %+v value %v", a, v)
		}
		seen[a.Deployment] = true
		res, err := big.Step(a)
		if err != nil {
			t.Fatal(err)
		}
		obs = res.Obs
		if res.Done {
			if obs, err = big.Reset(uint64(len(seen))); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(seen) < 15 {
		t.Errorf("the policy chose only %d of 30 services in 200 sampled steps", len(seen))
	}
	if _, err := tr.Policy().Bind(30, obs.Edges); err != nil {
		t.Errorf("binding twice: %v", err)
	}
	joint, err := NewTrainer(twinEnv(t, "onlineboutique", "peak", envs.GoalSLO), Options{Policy: GCN, Head: JointHead, Hyper: h, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := joint.Policy().Bind(30, obs.Edges); err == nil {
		t.Error("a joint-head policy bound to a 30-service app; want an error")
	}
}

func TestA2CSolvesAContextualBandit(t *testing.T) {
	// A2C (one gradient step per 5-step rollout, SB3's defaults but Adam)
	// on the bandit of TestPPOSolvesAContextualBandit.
	h := DefaultA2CHyperparameters()
	h.EntCoef = 0.01
	env := newBanditEnv()
	tr, err := NewTrainer(env, Options{Policy: GCN, Head: JointHead, Hyper: h, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := tr.Train(context.Background(), 10000, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Updates != 2000 {
		t.Errorf("%d updates for 10000 steps, want one per 5-step rollout", rep.Updates)
	}
	p := tr.Policy()
	got := meanReward(t, newBanditEnv(), 200, func(obs envs.Observation) envs.Action {
		a, _, err := p.Act(obs, true, nil)
		if err != nil {
			t.Fatal(err)
		}
		return a
	})
	if got < 0.9 {
		t.Errorf("greedy A2C policy earns %.3f per step after 10000 steps; want >= 0.9 (optimum 1)", got)
	}
}

// TestAgentLearnsToScaleUpUnderPeakLikeTheHPA is the learning test of the
// whole recipe (factored actions with bound masks, per-service credit,
// normalisation, episodes as long as an evaluation run, half of them from
// random states): a GCN per-node agent trained for 20 000 steps on Online
// Boutique's peak scenario, run greedily from the evaluation's start,
// must scale up and keep the SLO about as well as the HPA at 50 % CPU on
// the same seed (within 0.05 of its violation rate). An untrained agent
// keeps every service at one replica and violates the SLO on every step;
// an agent whose learning is broken does too.
func TestAgentLearnsToScaleUpUnderPeakLikeTheHPA(t *testing.T) {
	start := time.Now()
	a, err := sim.LookupApp("onlineboutique", 1)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := sim.ScenarioFor(a, "peak")
	if err != nil {
		t.Fatal(err)
	}
	reward := envs.DefaultRewardConfig(envs.GoalSLO, a.LatencyCapMs)
	reward.CostWeight = 1
	env, err := sim.NewEnv(sim.EnvOptions{Options: sim.Options{App: a, Scenario: sc}, Reward: reward,
		EpisodeSteps: 60, Action: envs.ActionFactored, RandomStarts: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	h := DefaultHyperparameters()
	h.NSteps, h.Gamma, h.TotalSteps = 500, 0.95, 20000
	tr, err := NewTrainer(env, Options{Policy: GCN, Head: PerNodeHead, Hyper: h, Seed: 1, ServiceValues: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Train(context.Background(), h.TotalSteps, nil); err != nil {
		t.Fatal(err)
	}
	run := func(ctrl func(c *sim.Cluster) envs.Controller) (sim.Result, int) {
		c, err := sim.NewCluster(sim.Options{App: a, Scenario: sc})
		if err != nil {
			t.Fatal(err)
		}
		most := 0
		res, err := sim.Run(c, ctrl(c), sim.RunOptions{Seed: 7, Record: func(s *sim.Snapshot) {
			total := 0
			for _, r := range s.Replicas {
				total += r
			}
			most = max(most, total)
		}})
		if err != nil {
			t.Fatal(err)
		}
		return res, most
	}
	agent, most := run(func(c *sim.Cluster) envs.Controller {
		ob := sim.NewObserver(c, envs.ActionFactored)
		es := ob.Spec(0)
		act, err := envs.NewMoveActuator(envs.ActionFactored, es.MinReplicas, es.MaxReplicas)
		if err != nil {
			t.Fatal(err)
		}
		ctl, err := tr.Policy().Controller("agent", ob.Observe, act, true, 1)
		if err != nil {
			t.Fatal(err)
		}
		return ctl
	})
	cfg, err := hpa.ParsePreset("cpu-50", 1, 8)
	if err != nil {
		t.Fatal(err)
	}
	baseline, _ := run(func(*sim.Cluster) envs.Controller {
		h, err := hpa.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return h
	})
	t.Logf("after %d steps (%s): agent SLO violations %.3f, cost %.0f, up to %d replicas; hpa-cpu-50 %.3f, cost %.0f",
		h.TotalSteps, time.Since(start).Round(time.Second), agent.SLOViolationRate, agent.CostReplicaSeconds, most, baseline.SLOViolationRate, baseline.CostReplicaSeconds)
	if most <= len(a.Services) {
		t.Errorf("the trained agent never scaled up under peak (at most %d replicas for %d services)", most, len(a.Services))
	}
	if agent.SLOViolationRate > baseline.SLOViolationRate+0.05 {
		t.Errorf("the trained agent violates the SLO on %.3f of the steps, the HPA at 50 %% CPU on %.3f; want within 0.05", agent.SLOViolationRate, baseline.SLOViolationRate)
	}
}
