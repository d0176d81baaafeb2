package model

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/grlscaler/grlscaler/envs"
)

// benchTrainer is the benchmarks' network: the seed-size GCN actor-critic
// with hidden 64 on Online Boutique (11 nodes, 8 node features, 66 flat
// values, 11 + 15 logits and a value).
func benchTrainer(b *testing.B, nsteps int) *Trainer {
	b.Helper()
	env := twinEnv(b, "onlineboutique", "peak", envs.GoalCost)
	obs, err := env.Reset(1)
	if err != nil {
		b.Fatal(err)
	}
	spec := SpecFor(env.Spec(), obs.Edges, GCN, JointHead)
	spec.Hidden, spec.Embed, spec.Trunk = 64, 64, 64
	h := DefaultHyperparameters()
	h.NSteps = nsteps
	tr, err := NewTrainer(env, Options{Net: &spec, Hyper: h, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	return tr
}

// BenchmarkInfer1 is one forward pass for one graph, as a rollout step
// does it (no gorgonia machine: the fused forward functions).
func BenchmarkInfer1(b *testing.B) {
	tr := benchTrainer(b, 64)
	env := twinEnv(b, "onlineboutique", "peak", envs.GoalCost)
	obs, err := env.Reset(1)
	if err != nil {
		b.Fatal(err)
	}
	p := tr.Policy()
	rng := rand.New(rand.NewPCG(1, 1))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := p.Act(obs, false, rng); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUpdate64 is one PPO minibatch update of 64 graphs: forward,
// loss, backward through the reused TapeMachine, gradient clipping, Adam.
func BenchmarkUpdate64(b *testing.B) {
	tr := benchTrainer(b, 64)
	if _, err := tr.collect(context.Background()); err != nil {
		b.Fatal(err)
	}
	mb := make([]int, 64)
	for i := range mb {
		mb[i] = i
	}
	if err := tr.step(mb, 3e-4); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := tr.step(mb, 3e-4); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTrainLoop is PPO on the Online Boutique twin: one rollout of
// 500 steps and 10 epochs of minibatch 64 (the seed's n_steps 500).
func BenchmarkTrainLoop(b *testing.B) {
	tr := benchTrainer(b, 500)
	ctx := context.Background()
	if _, err := tr.Train(ctx, 500, nil); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tr.Train(ctx, 500, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTrainLoopFactored is BenchmarkTrainLoop with the recipe of
// examples/beat-hpa.yaml: the seed-size GCN with the per-node head in the
// factored space, per-service credit, masks, normalisation, 60-step
// episodes half from random states.
func BenchmarkTrainLoopFactored(b *testing.B) {
	env := twinEnvIn(b, "onlineboutique", "peak", envs.GoalSLO, envs.ActionFactored)
	h := DefaultHyperparameters()
	h.NSteps, h.Gamma = 500, 0.95
	tr, err := NewTrainer(env, Options{Policy: GCN, Head: PerNodeHead, Hyper: h, Seed: 1, ServiceValues: true})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := tr.Train(ctx, 500, nil); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tr.Train(ctx, 500, nil); err != nil {
			b.Fatal(err)
		}
	}
}
