package model

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/grlscaler/grlscaler/envs"
	"github.com/grlscaler/grlscaler/envs/hpa"
	"github.com/grlscaler/grlscaler/envs/sim"
)

// twinEnv is the twin under one scenario in the seed's action space,
// every episode starting as an evaluation run does.
func twinEnv(t testing.TB, appName, scenario string, goal envs.Goal) envs.Env {
	t.Helper()
	return newTwinEnv(t, appName, scenario, goal, envs.ActionSeed, 0)
}

// twinEnvIn is the twin under one scenario in an action space, half of
// its episodes starting at random states (the hpa-residual space's HPA
// at 50 % CPU).
func twinEnvIn(t testing.TB, appName, scenario string, goal envs.Goal, action envs.ActionSpace) envs.Env {
	t.Helper()
	return newTwinEnv(t, appName, scenario, goal, action, 0.5)
}

func newTwinEnv(t testing.TB, appName, scenario string, goal envs.Goal, action envs.ActionSpace, randomStarts float64) envs.Env {
	t.Helper()
	a, err := sim.LookupApp(appName, 1)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := sim.ScenarioFor(a, scenario)
	if err != nil {
		t.Fatal(err)
	}
	base, err := hpa.ParsePreset("cpu-50", 1, 8)
	if err != nil {
		t.Fatal(err)
	}
	e, err := sim.NewEnv(sim.EnvOptions{Options: sim.Options{App: a, Scenario: sc}, Reward: envs.DefaultRewardConfig(goal, a.LatencyCapMs),
		Action: action, BaseHPA: base, RandomStarts: randomStarts})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func smallHyper() Hyperparameters {
	h := DefaultHyperparameters()
	h.NSteps, h.BatchSize, h.Epochs = 50, 16, 2
	return h
}

var policyKinds = []struct {
	policy PolicyKind
	head   HeadKind
}{{MLP, JointHead}, {GCN, JointHead}, {GAT, JointHead}, {GCN, PerNodeHead}, {GAT, PerNodeHead}}

func TestEveryPolicyTrainsOnTheTwin(t *testing.T) {
	for _, k := range policyKinds {
		t.Run(fmt.Sprintf("%s-%s", k.policy, k.head), func(t *testing.T) {
			env := twinEnv(t, "onlineboutique", "peak", envs.GoalSLO)
			tr, err := NewTrainer(env, Options{Policy: k.policy, Head: k.head, Hyper: smallHyper(), Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			rep, err := tr.Train(context.Background(), 50, nil)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Steps != 50 || rep.Updates != 8 || math.IsNaN(rep.PolicyLoss) {
				t.Errorf("report %+v", rep)
			}
		})
	}
}

// TestGraphAndInferenceAgree checks that the training graph and the
// gorgonia-free inference path compute the same network.
func TestGraphAndInferenceAgree(t *testing.T) {
	for _, k := range policyKinds {
		t.Run(fmt.Sprintf("%s-%s", k.policy, k.head), func(t *testing.T) {
			env := twinEnv(t, "onlineboutique", "peak", envs.GoalCost)
			tr, err := NewTrainer(env, Options{Policy: k.policy, Head: k.head, Hyper: smallHyper(), Seed: 2})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tr.collect(context.Background()); err != nil {
				t.Fatal(err)
			}
			mb := []int{3, 17, 41}
			lg, err := tr.graphFor(len(mb))
			if err != nil {
				t.Fatal(err)
			}
			tr.gather(lg, mb)
			for k, i := range mb {
				lg.batch.dep[k], lg.batch.move[k] = tr.roll.dep[i], tr.roll.move[i]
			}
			clear(tr.grad)
			if err := lg.run(tr.lay, tr.grad); err != nil {
				t.Fatal(err)
			}
			n, m := tr.spec.Nodes, tr.spec.Moves
			for k, i := range mb {
				r := tr.roll
				out, err := tr.inf.forward(r.nodes[i*r.nodeDim:(i+1)*r.nodeDim], r.flat[i*r.flatDim:(i+1)*r.flatDim])
				if err != nil {
					t.Fatal(err)
				}
				dep := lg.dep.Float64s()[k*n : (k+1)*n]
				for j := range dep {
					if math.Abs(dep[j]-out.dep[j]) > 1e-9 {
						t.Fatalf("sample %d dep logit %d: graph %v, inference %v", k, j, dep[j], out.dep[j])
					}
				}
				if v := lg.value.Float64s()[k]; math.Abs(v-out.value) > 1e-9 {
					t.Errorf("sample %d value: graph %v, inference %v", k, v, out.value)
				}
				moves := lg.move.Float64s()
				for d := 0; d < len(out.move)/m; d++ {
					row := k
					if k := k; tr.spec.Head == PerNodeHead {
						row = d*len(mb) + k
					}
					for j := range m {
						if got, want := moves[row*m+j], out.move[d*m+j]; math.Abs(got-want) > 1e-9 {
							t.Fatalf("sample %d move logit [%d,%d]: graph %v, inference %v", k, d, j, got, want)
						}
					}
				}
			}
		})
	}
}

func TestSameSeedGivesTheSameWeights(t *testing.T) {
	train := func(seed uint64) []float64 {
		env := twinEnv(t, "onlineboutique", "fluctuating", envs.GoalSLO)
		tr, err := NewTrainer(env, Options{Policy: GCN, Head: JointHead, Hyper: smallHyper(), Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tr.Train(context.Background(), 100, nil); err != nil {
			t.Fatal(err)
		}
		return tr.Weights()
	}
	a, b, c := train(4), train(4), train(5)
	if !equalBits(a, b) {
		t.Error("seed 4 trained twice gave different weights")
	}
	if equalBits(a, c) {
		t.Error("seeds 4 and 5 gave the same weights")
	}
}

func equalBits(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float64bits(a[i]) != math.Float64bits(b[i]) {
			return false
		}
	}
	return true
}

// TestResumeFromCheckpointIsExact trains 2N steps in one go and N + N with
// a save and a load into a fresh trainer (and a fresh environment) in
// between: the weights and the checkpoints must be byte-identical.
func TestResumeFromCheckpointIsExact(t *testing.T) {
	for _, k := range []struct {
		policy PolicyKind
		head   HeadKind
	}{{GCN, JointHead}, {GAT, PerNodeHead}, {MLP, JointHead}} {
		t.Run(fmt.Sprintf("%s-%s", k.policy, k.head), func(t *testing.T) {
			h := smallHyper()
			h.LinearSchedule, h.TotalSteps = true, 400
			ctx := context.Background()
			straight, err := NewTrainer(twinEnv(t, "onlineboutique", "rushsale", envs.GoalSLO), Options{Policy: k.policy, Head: k.head, Hyper: h, Seed: 9})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := straight.Train(ctx, 200, nil); err != nil {
				t.Fatal(err)
			}

			first, err := NewTrainer(twinEnv(t, "onlineboutique", "rushsale", envs.GoalSLO), Options{Policy: k.policy, Head: k.head, Hyper: h, Seed: 9})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := first.Train(ctx, 100, nil); err != nil {
				t.Fatal(err)
			}
			var ckpt bytes.Buffer
			if err := first.Save(&ckpt); err != nil {
				t.Fatal(err)
			}
			resumed, err := Load(bytes.NewReader(ckpt.Bytes()), twinEnv(t, "onlineboutique", "rushsale", envs.GoalSLO))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := resumed.Train(ctx, 100, nil); err != nil {
				t.Fatal(err)
			}
			if !equalBits(straight.Weights(), resumed.Weights()) {
				t.Fatal("weights after 100+100 steps with a resume differ from 200 straight steps")
			}
			var a, b bytes.Buffer
			if err := straight.Save(&a); err != nil {
				t.Fatal(err)
			}
			if err := resumed.Save(&b); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(a.Bytes(), b.Bytes()) {
				t.Error("checkpoints differ")
			}
		})
	}
}

// TestResumeIsExactWithNormalisationCreditAndValidation: the resume of
// TestResumeFromCheckpointIsExact with everything a checkpoint now
// carries: running observation and reward statistics, per-service
// credit, masks, and an evaluator's best policy.
func TestResumeIsExactWithNormalisationCreditAndValidation(t *testing.T) {
	for _, k := range []struct {
		policy PolicyKind
		head   HeadKind
		action envs.ActionSpace
	}{{GCN, PerNodeHead, envs.ActionFactored}, {MLP, JointHead, envs.ActionHPAResidual}, {TGN, PerNodeHead, envs.ActionFactored}, {MLPLSTM, JointHead, envs.ActionFactored}} {
		t.Run(kindName(k.policy, k.head, k.action), func(t *testing.T) {
			ctx := context.Background()
			h := smallHyper()
			newTrainer := func() *Trainer {
				tr, err := NewTrainer(twinEnvIn(t, "onlineboutique", "rushsale", envs.GoalSLO, k.action),
					Options{Policy: k.policy, Head: k.head, Hyper: h, Seed: 9, ServiceValues: true})
				if err != nil {
					t.Fatal(err)
				}
				return tr
			}
			// A deterministic score that varies with the weights: the
			// greedy policy's value of a fixed observation.
			obs, err := twinEnvIn(t, "onlineboutique", "peak", envs.GoalSLO, k.action).Reset(3)
			if err != nil {
				t.Fatal(err)
			}
			obs = obs.Clone()
			eval := func(p *Policy) (float64, error) {
				_, v, err := p.Act(obs, true, nil)
				return v, err
			}
			withEval := func(tr *Trainer) *Trainer {
				if err := tr.SetEvaluator(h.NSteps, eval); err != nil {
					t.Fatal(err)
				}
				return tr
			}
			straight := withEval(newTrainer())
			if _, err := straight.Train(ctx, 4*h.NSteps, nil); err != nil {
				t.Fatal(err)
			}
			first := withEval(newTrainer())
			if _, err := first.Train(ctx, 2*h.NSteps, nil); err != nil {
				t.Fatal(err)
			}
			var ckpt bytes.Buffer
			if err := first.Save(&ckpt); err != nil {
				t.Fatal(err)
			}
			resumed, err := Load(bytes.NewReader(ckpt.Bytes()), twinEnvIn(t, "onlineboutique", "rushsale", envs.GoalSLO, k.action))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := withEval(resumed).Train(ctx, 2*h.NSteps, nil); err != nil {
				t.Fatal(err)
			}
			var a, b bytes.Buffer
			if err := straight.Save(&a); err != nil {
				t.Fatal(err)
			}
			if err := resumed.Save(&b); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(a.Bytes(), b.Bytes()) {
				t.Fatal("checkpoints after 2+2 rollouts with a resume differ from 4 straight rollouts")
			}
			if straight.norm == nil || straight.rnorm == nil || straight.best == nil {
				t.Fatal("normalisation and the best policy are on")
			}
			// The checkpoint's policy is the best one, with its statistics.
			p, err := LoadPolicy(bytes.NewReader(a.Bytes()))
			if err != nil {
				t.Fatal(err)
			}
			if !p.Best() || p.Step() != straight.best.Step {
				t.Errorf("LoadPolicy gave the policy of step %d (best %v); the best is from step %d", p.Step(), p.Best(), straight.best.Step)
			}
			got, err := eval(p)
			if err != nil {
				t.Fatal(err)
			}
			if got != straight.best.Score {
				t.Errorf("the loaded policy scores %v, the best scored %v", got, straight.best.Score)
			}
		})
	}
}

func TestRunningStatisticsMatchTheTwoPassMeanAndVariance(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	xs := make([]float64, 3*200)
	for i := range xs {
		xs[i] = 5 + 3*rng.NormFloat64() + float64(i%3)
	}
	r := newRunningStat(3)
	for k := 0; k < 200; k += 10 {
		r.update(xs[3*k:3*(k+10)], 10)
	}
	for j := range 3 {
		var mean, ss float64
		for i := j; i < len(xs); i += 3 {
			mean += xs[i]
		}
		mean /= 200
		for i := j; i < len(xs); i += 3 {
			ss += (xs[i] - mean) * (xs[i] - mean)
		}
		// The 1e-4 prior count (SB3's epsilon) shifts them by about 1e-6.
		if math.Abs(r.Mean[j]-mean) > 1e-5 || math.Abs(r.Var[j]-ss/200) > 1e-4 {
			t.Errorf("column %d: mean %v var %v, want %v %v", j, r.Mean[j], r.Var[j], mean, ss/200)
		}
	}
	x := []float64{r.Mean[0] + 100*math.Sqrt(r.Var[0]), r.Mean[1], r.Mean[2] - math.Sqrt(r.Var[2])}
	r.apply(x)
	if x[0] != normClip || x[1] != 0 || math.Abs(x[2]+1) > 1e-6 {
		t.Errorf("normalised %v, want [10 0 -1]", x)
	}
}

// TestTemporalPoliciesRememberTheEpisode: a TGN's and an LSTM's action
// depends on the observations before the current one, and a reset
// forgets them; the other policies see the current observation only.
func TestTemporalPoliciesRememberTheEpisode(t *testing.T) {
	env := twinEnvIn(t, "onlineboutique", "fluctuating", envs.GoalSLO, envs.ActionFactored)
	var seen []envs.Observation
	obs, err := env.Reset(1)
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		seen = append(seen, obs.Clone())
		res, err := env.Step(envs.Action{Moves: make([]int, 11)})
		if err != nil {
			t.Fatal(err)
		}
		obs = res.Obs
	}
	last := seen[len(seen)-1]
	for _, k := range []struct {
		policy   PolicyKind
		temporal bool
	}{{TGN, true}, {GCN, false}, {MLPLSTM, true}, {MLP, false}} {
		head := PerNodeHead
		if k.policy == MLP || k.policy == MLPLSTM {
			head = JointHead
		}
		tr, err := NewTrainer(env, Options{Policy: k.policy, Head: head, Hyper: smallHyper(), Seed: 4})
		if err != nil {
			t.Fatal(err)
		}
		p := tr.Policy()
		value := func(history []envs.Observation) float64 {
			p.Reset()
			var v float64
			for _, o := range history {
				if _, v, err = p.Act(o, true, nil); err != nil {
					t.Fatal(err)
				}
			}
			return v
		}
		alone, after := value([]envs.Observation{last}), value(seen)
		if again := value([]envs.Observation{last}); again != alone {
			t.Errorf("%s: after a reset the same observation is valued %v, before %v", k.policy, again, alone)
		}
		if (alone != after) != k.temporal {
			t.Errorf("%s: value %v alone, %v after 19 earlier observations; temporal %v", k.policy, alone, after, k.temporal)
		}
	}
}

// TestRecurrentRolloutIsReplayedExactly: the LSTM's training graph runs a
// rollout's episodes from a zero state as acting did step by step, so
// before the first update every action's probability ratio is exactly 1.
func TestRecurrentRolloutIsReplayedExactly(t *testing.T) {
	tr, err := NewTrainer(twinEnvIn(t, "onlineboutique", "peak", envs.GoalSLO, envs.ActionFactored),
		Options{Policy: MLPLSTM, Head: JointHead, Hyper: smallHyper(), Seed: 2, ServiceValues: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.collect(context.Background()); err != nil {
		t.Fatal(err)
	}
	lg, err := tr.graphFor(tr.seqLen)
	if err != nil {
		t.Fatal(err)
	}
	mb := make([]int, tr.seqLen)
	for i := range mb {
		mb[i] = i
	}
	tr.fillBatch(lg, mb)
	if err := lg.exec(); err != nil {
		t.Fatal(err)
	}
	if st := lg.stats(); math.Abs(st.ApproxKL) > 1e-12 || st.ClipFraction != 0 {
		t.Errorf("first episode replayed with approx KL %v and clip fraction %v; want 0", st.ApproxKL, st.ClipFraction)
	}
}
