package api

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Matrix turns one experiment.yaml into a sweep: one experiment per
// combination of its non-empty lists, run by SweepWorkflow.
type Matrix struct {
	// Seeds replace agent.seed (training and evaluation seeds derive
	// from it).
	Seeds []uint64 `json:"seeds,omitempty"`
	// Policies replace agent.policy and the policy of every agent
	// controller that used the agent's policy (mlp gets the joint head).
	Policies []string `json:"policies,omitempty"`
	// Goals replace agent.goal.
	Goals []string `json:"goals,omitempty"`
	// TrainingScenarios replace load.trainingScenario.
	TrainingScenarios []string `json:"trainingScenarios,omitempty"`
	// Concurrency caps the experiments running at once; default 2.
	Concurrency int `json:"concurrency,omitempty"`
}

// SweepMember is one experiment of a sweep.
type SweepMember struct {
	// Name is the sweep's name and the combination, e.g.
	// "sweep-seed1-gcn"; it is the member's experiment ID.
	Name string `json:"name"`
	// Combo names the combination's values by dimension ("seed",
	// "policy", "goal", "trainingScenario"), in that order.
	Combo []ComboValue   `json:"combo"`
	Spec  ExperimentSpec `json:"spec"`
}

// ComboValue is one dimension's value in a combination.
type ComboValue struct {
	Dimension string `json:"dimension"`
	Value     string `json:"value"`
}

// Group is the combination without its seed: the members a sweep report
// aggregates across seeds.
func (m SweepMember) Group() string {
	var parts []string
	for _, c := range m.Combo {
		if c.Dimension != "seed" {
			parts = append(parts, c.Dimension+"="+c.Value)
		}
	}
	if len(parts) == 0 {
		return "all"
	}
	return strings.Join(parts, " ")
}

// ExpandMatrix returns the sweep's experiments in a fixed order (seeds
// vary slowest, then policies, goals, training scenarios). Each member's
// spec is the sweep's with the combination applied, its own name and no
// matrix. A spec without a matrix expands to nothing.
func ExpandMatrix(spec *ExperimentSpec) ([]SweepMember, error) {
	m := spec.Spec.Matrix
	if m == nil {
		return nil, nil
	}
	type dim struct {
		name   string
		values []string
	}
	var dims []dim
	if len(m.Seeds) > 0 {
		var v []string
		for _, s := range m.Seeds {
			v = append(v, strconv.FormatUint(s, 10))
		}
		dims = append(dims, dim{"seed", v})
	}
	for _, d := range []dim{{"policy", m.Policies}, {"goal", m.Goals}, {"trainingScenario", m.TrainingScenarios}} {
		if len(d.values) > 0 {
			dims = append(dims, d)
		}
	}
	combos := [][]ComboValue{nil}
	for _, d := range dims {
		var next [][]ComboValue
		for _, c := range combos {
			for _, v := range d.values {
				next = append(next, append(append([]ComboValue(nil), c...), ComboValue{d.name, v}))
			}
		}
		combos = next
	}
	base, err := json.Marshal(spec)
	if err != nil {
		return nil, fmt.Errorf("expand matrix of %s: %w", spec.Metadata.Name, err)
	}
	members := make([]SweepMember, 0, len(combos))
	for _, combo := range combos {
		var s ExperimentSpec
		if err := json.Unmarshal(base, &s); err != nil {
			return nil, fmt.Errorf("expand matrix of %s: %w", spec.Metadata.Name, err)
		}
		s.Spec.Matrix = nil
		name := spec.Metadata.Name
		basePolicy := s.Spec.Agent.Policy
		for _, c := range combo {
			switch c.Dimension {
			case "seed":
				seed, _ := strconv.ParseUint(c.Value, 10, 64)
				s.Spec.Agent.Seed = seed
				name += "-seed" + c.Value
			case "policy":
				applyPolicy(&s.Spec, basePolicy, c.Value)
				name += "-" + c.Value
			case "goal":
				s.Spec.Agent.Goal = c.Value
				name += "-" + c.Value
			case "trainingScenario":
				s.Spec.Load.TrainingScenario = c.Value
				s.Spec.Load.TrainingScenarios = []WeightedScenario{{Name: c.Value, Weight: 1}}
				name += "-" + c.Value
			}
		}
		s.Metadata.Name = name
		members = append(members, SweepMember{Name: name, Combo: combo, Spec: s})
	}
	return members, nil
}

// applyPolicy sets the agent's policy and that of every agent controller
// that followed it; the MLP has only the joint head.
func applyPolicy(s *Spec, basePolicy, policy string) {
	s.Agent.Policy = policy
	if policy == "mlp" {
		s.Agent.Head = "joint"
	}
	for i := range s.Evaluation.Controllers {
		c := &s.Evaluation.Controllers[i]
		if c.Type == ControllerAgent && c.Policy == basePolicy {
			c.Policy = policy
			if policy == "mlp" {
				c.Head = "joint"
			}
		}
	}
}
