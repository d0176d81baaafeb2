package model

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/grlscaler/grlscaler/envs"
	"github.com/grlscaler/grlscaler/envs/sim"
)

// TestPolicyRunsAsAControllerOnTheTwin drives sim.Run with a policy loaded
// from a checkpoint, as evaluation does with the HPA.
func TestPolicyRunsAsAControllerOnTheTwin(t *testing.T) {
	tr, err := NewTrainer(twinEnv(t, "onlineboutique", "peak", envs.GoalSLO), Options{Policy: GCN, Head: JointHead, Hyper: smallHyper(), Seed: 8})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Train(context.Background(), 50, nil); err != nil {
		t.Fatal(err)
	}
	var ckpt bytes.Buffer
	if err := tr.Save(&ckpt); err != nil {
		t.Fatal(err)
	}
	p, err := LoadPolicy(bytes.NewReader(ckpt.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	a, err := sim.LookupApp("onlineboutique", 1)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := sim.ScenarioFor(a, "peak")
	if err != nil {
		t.Fatal(err)
	}
	c, err := sim.NewCluster(sim.Options{App: a, Scenario: sc})
	if err != nil {
		t.Fatal(err)
	}
	obs := sim.NewObserver(c, envs.ActionSeed)
	spec := obs.Spec(25)
	run := func() sim.Result {
		act, err := envs.NewMoveActuator(envs.ActionSeed, spec.MinReplicas, spec.MaxReplicas)
		if err != nil {
			t.Fatal(err)
		}
		ctrl, err := p.Controller("gcn-ppo", obs.Observe, act, false, 3)
		if err != nil {
			t.Fatal(err)
		}
		res, err := sim.Run(c, ctrl, sim.RunOptions{Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		if err := ctrl.(*agentController).Err(); err != nil {
			t.Fatal(err)
		}
		return res
	}
	first, second := run(), run()
	if first.ScalingActions == 0 || first.Controller != "gcn-ppo" {
		t.Errorf("result %+v: the sampled policy never scaled", first)
	}
	if first.CostReplicaSeconds != second.CostReplicaSeconds {
		t.Error("two runs with the same seeds differ")
	}
}

func TestLoadRejectsACheckpointForAnotherNetwork(t *testing.T) {
	tr, err := NewTrainer(twinEnv(t, "redis", "peak", envs.GoalCost), Options{Policy: MLP, Head: JointHead, Hyper: smallHyper(), Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	var ckpt bytes.Buffer
	if err := tr.Save(&ckpt); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(bytes.NewReader(ckpt.Bytes()), twinEnv(t, "onlineboutique", "peak", envs.GoalCost)); err == nil {
		t.Error("a Redis checkpoint loaded for Online Boutique")
	}
	damaged := ckpt.Bytes()[:ckpt.Len()-10]
	if _, err := Load(bytes.NewReader(damaged), twinEnv(t, "redis", "peak", envs.GoalCost)); !errors.Is(err, ErrCorruptCheckpoint) {
		t.Errorf("truncated checkpoint: %v", err)
	}
	if _, err := LoadPolicy(bytes.NewReader(damaged)); !errors.Is(err, ErrCorruptCheckpoint) {
		t.Errorf("truncated checkpoint as policy: %v", err)
	}
}
