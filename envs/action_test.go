package envs

import (
	"slices"
	"strings"
	"testing"
)

func TestParseActionSpaceNamesTheChoices(t *testing.T) {
	for _, s := range ActionSpaces {
		if got, err := ParseActionSpace(string(s)); err != nil || got != s {
			t.Errorf("ParseActionSpace(%q) = %q, %v", s, got, err)
		}
	}
	_, err := ParseActionSpace("continuous")
	if err == nil || !strings.Contains(err.Error(), `"continuous"`) || !strings.Contains(err.Error(), "seed, factored, hpa-residual") {
		t.Errorf("error %v must name the bad value and the choices", err)
	}
}

func TestFactoredMaskForbidsMovesPastTheBounds(t *testing.T) {
	// FactoredDeltas: 0, +1, +2, +4, -1, -2, -4.
	tests := []struct {
		name     string
		replicas int
		want     []bool
	}{
		{"at the minimum only growth", 1, []bool{true, true, true, true, false, false, false}},
		{"in the middle everything", 5, []bool{true, true, true, true, true, true, true}},
		{"near the maximum", 8, []bool{true, true, false, false, true, true, true}},
		{"at the maximum only shrinking", 9, []bool{true, false, false, false, true, true, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := len(FactoredDeltas)
			mask := make([]bool, 2*m)
			// Bounds 1..9: at 5 every change is valid.
			masked := ActionFactored.FillMask(mask, []int{5, tt.replicas}, []int{1, 1}, []int{9, 9})
			if !slices.Equal(mask[m:], tt.want) || !slices.Equal(mask[:m], []bool{true, true, true, true, true, true, true}) {
				t.Errorf("mask %v, want %v", mask[m:], tt.want)
			}
			if masked != slices.Contains(tt.want, false) {
				t.Errorf("masked = %v", masked)
			}
			var obs Observation
			ActionFactored.MaskObservation(&obs, mask, []int{5, tt.replicas}, []int{1, 1}, []int{9, 9})
			if (obs.Mask != nil) != masked {
				t.Errorf("observation mask %v with masked %v", obs.Mask, masked)
			}
		})
	}
	mask := make([]bool, ActionHPAResidual.Moves())
	if ActionHPAResidual.FillMask(mask, []int{8}, []int{1}, []int{8}) || slices.Contains(mask, false) {
		t.Error("hpa-residual masks a choice; its HPA keeps the bounds itself")
	}
}

func TestMoveActuatorAppliesTheSeedAndFactoredSpaces(t *testing.T) {
	view := &ClusterView{Services: []ServiceView{{Name: "a", Replicas: 1}, {Name: "b", Replicas: 4}, {Name: "c", Replicas: 8}}}
	minR, maxR := []int{1, 1, 1}, []int{8, 8, 8}
	desired := make([]int, 3)

	seed, err := NewMoveActuator(ActionSeed, minR, maxR)
	if err != nil {
		t.Fatal(err)
	}
	if hit, err := seed.Apply(view, Action{Deployment: 1, Move: 2}, desired); err != nil || hit || !slices.Equal(desired, []int{-1, 6, -1}) {
		t.Errorf("seed Add-2 on b: desired %v, bound hit %v, %v", desired, hit, err)
	}
	if hit, err := seed.Apply(view, Action{Deployment: 0, Move: 8}, desired); err != nil || !hit || !slices.Equal(desired, []int{-1, -1, -1}) {
		t.Errorf("seed Stop-1 at the minimum: desired %v, bound hit %v, %v; want no change and a bound hit", desired, hit, err)
	}
	if _, err := seed.Apply(view, Action{Deployment: 3}, desired); err == nil {
		t.Error("a deployment out of range was applied")
	}

	fac, err := NewMoveActuator(ActionFactored, minR, maxR)
	if err != nil {
		t.Fatal(err)
	}
	// +4 on a, no change on b, +1 on c (past the maximum: clamped).
	if hit, err := fac.Apply(view, Action{Moves: []int{3, 0, 1}}, desired); err != nil || hit || !slices.Equal(desired, []int{5, -1, 8}) {
		t.Errorf("factored: desired %v, bound hit %v, %v", desired, hit, err)
	}
	if _, err := fac.Apply(view, Action{Moves: []int{0, 0}}, desired); err == nil {
		t.Error("a factored action for 2 of 3 services was applied")
	}
	if _, err := fac.Apply(view, Action{Moves: []int{0, 7, 0}}, desired); err == nil {
		t.Error("a factored choice out of range was applied")
	}
	if _, err := NewMoveActuator(ActionHPAResidual, minR, maxR); err == nil {
		t.Error("the move actuator accepted hpa-residual")
	}
}

func TestServiceRewardsSumToTheSLOGoalsCostTerm(t *testing.T) {
	in := RewardInput{Replicas: []int{2, 5, 1}, MinReplicas: []int{1, 1, 1}, MaxReplicas: []int{8, 8, 8}, LatencyP95Ms: 900, ErrorRate: 0.01}
	slo := DefaultRewardConfig(GoalSLO, 3000)
	slo.CostWeight = 1.5
	parts := make([]float64, 3)
	if !slo.ServiceRewards(in, parts) {
		t.Fatal("the slo goal has per-service rewards")
	}
	var sum float64
	for _, p := range parts {
		sum += p
	}
	// The cost term alone: the reward with the SLO met and no errors.
	met := in
	met.LatencyP95Ms, met.ErrorRate = 100, 0
	if d := sum - slo.Reward(met); d > 1e-12 || d < -1e-12 {
		t.Errorf("per-service rewards sum to %v, the cost term is %v", sum, slo.Reward(met))
	}
	if parts[2] != 0 || parts[1] >= parts[0] {
		t.Errorf("parts %v: a service at its minimum costs nothing and more replicas cost more", parts)
	}
	if DefaultRewardConfig(GoalCost, 1).ServiceRewards(in, parts) {
		t.Error("the cost goal has no per-service terms")
	}
	bound := in
	bound.BoundHit = true
	if slo.ServiceRewards(bound, parts) {
		t.Error("a bound hit's penalty is not a service's own")
	}
}
