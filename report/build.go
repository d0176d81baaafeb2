package report

import (
	"fmt"
	"slices"
	"strings"
)

// ControllerSpec names a controller of the experiment, in spec order.
type ControllerSpec struct {
	Name, Kind string
}

// Input is what a report is built from.
type Input struct {
	ExperimentID, Name, SpecHash, App string
	SLOMs                             float64
	Controllers                       []ControllerSpec
	Scenarios                         []string
	// Runs are every evaluation run, test and validation.
	Runs     []Run
	Training []Training
}

// BestHPACriterion is how the best HPA configuration is chosen per
// scenario, on the validation seeds only: the lowest mean SLO violation
// rate, and among the configurations within BestHPATolerance of it the
// lowest mean cost; ties go to the first in spec order. Invalid
// configurations (a dead HPA) are never chosen.
const BestHPACriterion = "lowest mean slo_violation_rate on the validation seeds; within 0.01 of it, lowest mean cost_replica_seconds"

// BestHPATolerance is the violation-rate margin within which cost decides.
const BestHPATolerance = 0.01

// ComparedMetrics are the metrics of the paired comparisons.
var ComparedMetrics = []string{
	MetricCost, MetricCPUCost, MetricSLOViolation, MetricLatencyP95, MetricErrorRate,
	MetricScalingActions, MetricRecoveryTime, MetricTotalReward,
}

// Build computes the report: per-controller statistics over valid test
// runs, the best HPA per scenario from validation runs, and paired
// comparisons of every agent against it on the test runs.
func Build(in Input) *Report {
	r := &Report{
		SchemaVersion: SchemaVersion, ExperimentID: in.ExperimentID, Name: in.Name, SpecHash: in.SpecHash,
		App: in.App, SLOMs: in.SLOMs,
		Controllers: []Controller{}, BestHPA: []BestHPA{}, BestAgents: []BestHPA{}, Comparisons: []Comparison{},
		Training: in.Training, Runs: in.Runs,
	}
	if r.Training == nil {
		r.Training = []Training{}
	}
	if r.Runs == nil {
		r.Runs = []Run{}
	}
	for _, cs := range in.Controllers {
		r.Controllers = append(r.Controllers, controllerStats(cs, in.Scenarios, in.Runs))
	}
	for _, sc := range in.Scenarios {
		best, ok := chooseBestHPA(sc, in.Controllers, in.Runs)
		if agent, aok := chooseBestAgent(sc, in.Controllers, in.Runs, best); aok {
			r.BestAgents = append(r.BestAgents, agent)
		}
		if !ok {
			continue
		}
		r.BestHPA = append(r.BestHPA, best)
		if best.Name == "" {
			continue
		}
		for _, cs := range in.Controllers {
			if cs.Kind == KindAgent {
				r.Comparisons = append(r.Comparisons, compare(cs.Name, best.Name, sc, in.Runs)...)
			}
		}
	}
	r.Verdicts, r.Outcome = verdicts(r)
	r.Summary = summary(r)
	return r
}

// runsOf returns the runs of controller on scenario in split ("" for any
// scenario), in repetition order.
func runsOf(runs []Run, controller, scenario, split string) []Run {
	var out []Run
	for _, run := range runs {
		if run.Controller == controller && run.Split == split && (scenario == "" || run.Scenario == scenario) {
			out = append(out, run)
		}
	}
	slices.SortStableFunc(out, func(a, b Run) int {
		if c := strings.Compare(a.Scenario, b.Scenario); c != 0 && scenario == "" {
			return c
		}
		return a.Repetition - b.Repetition
	})
	return out
}

// stats summarises every metric over the valid runs.
func stats(runs []Run) map[string]Stat {
	m := make(map[string]Stat, len(MetricNames))
	for _, name := range MetricNames {
		var xs []float64
		for _, run := range runs {
			if run.Valid {
				xs = append(xs, run.Metrics[name])
			}
		}
		m[name] = Summarize(xs)
	}
	return m
}

func controllerStats(cs ControllerSpec, scenarios []string, runs []Run) Controller {
	c := Controller{Name: cs.Name, Kind: cs.Kind, Valid: true, Scenarios: []ScenarioStats{}}
	all := runsOf(runs, cs.Name, "", SplitTest)
	for _, run := range all {
		if !run.Valid {
			c.Valid = false
			c.Invalid = append(c.Invalid, fmt.Sprintf("%s repetition %d: %s", run.Scenario, run.Repetition, run.Invalid))
		}
	}
	c.Metrics = stats(all)
	for _, sc := range scenarios {
		rs := runsOf(runs, cs.Name, sc, SplitTest)
		ss := ScenarioStats{Scenario: sc, Valid: true, Metrics: stats(rs)}
		for _, run := range rs {
			ss.Valid = ss.Valid && run.Valid
		}
		c.Scenarios = append(c.Scenarios, ss)
	}
	return c
}

// chooseBestHPA applies BestHPACriterion to scenario's validation runs; ok
// is false when the experiment has no HPA controller.
func chooseBestHPA(scenario string, controllers []ControllerSpec, runs []Run) (BestHPA, bool) {
	return chooseBest(KindHPA, scenario, controllers, runs)
}

// BestAgentCriterion is how the best agent is chosen per scenario, on the
// validation seeds only: the agent's task is to beat the best HPA, so the
// cheapest of the agents whose violation rate is at most the best HPA's
// (on the same seeds), else BestHPACriterion among the agents.
const BestAgentCriterion = "on the validation seeds, the lowest mean cost_replica_seconds among the agents whose mean slo_violation_rate is at most the best HPA's; if none, lowest mean slo_violation_rate and within 0.01 of it lowest mean cost_replica_seconds"

// chooseBestAgent applies BestAgentCriterion; hpa is the scenario's best
// HPA choice (its Name empty when there is none).
func chooseBestAgent(scenario string, controllers []ControllerSpec, runs []Run, hpa BestHPA) (BestHPA, bool) {
	b, ok := chooseBest(KindAgent, scenario, controllers, runs)
	if !ok {
		return b, false
	}
	b.Criterion = BestAgentCriterion
	var bar *Candidate
	for i, c := range hpa.Candidates {
		if c.Name == hpa.Name && hpa.Name != "" {
			bar = &hpa.Candidates[i]
		}
	}
	if bar == nil {
		return b, true
	}
	name, cost := "", 0.0
	for _, c := range b.Candidates {
		if c.Valid && c.SLOViolationRate <= bar.SLOViolationRate+sloEpsilon && (name == "" || c.CostReplicaSecs < cost) {
			name, cost = c.Name, c.CostReplicaSecs
		}
	}
	if name != "" {
		b.Name = name
	}
	return b, true
}

// chooseBest applies BestHPACriterion to the validation runs of the
// controllers of a kind on scenario; ok is false when there is no such
// controller, or (agents) none has validation runs (experiments recorded
// before agents had them).
func chooseBest(kind, scenario string, controllers []ControllerSpec, runs []Run) (BestHPA, bool) {
	b := BestHPA{Scenario: scenario, Criterion: BestHPACriterion, Candidates: []Candidate{}}
	any := false
	for _, cs := range controllers {
		if cs.Kind != kind {
			continue
		}
		any = any || len(runsOf(runs, cs.Name, scenario, SplitValidation)) > 0
	}
	if kind == KindAgent && !any {
		return b, false
	}
	for _, cs := range controllers {
		if cs.Kind != kind {
			continue
		}
		rs := runsOf(runs, cs.Name, scenario, SplitValidation)
		cand := Candidate{Name: cs.Name, Valid: len(rs) > 0}
		for _, run := range rs {
			cand.Valid = cand.Valid && run.Valid
		}
		if cand.Valid {
			st := stats(rs)
			cand.SLOViolationRate, cand.CostReplicaSecs = st[MetricSLOViolation].Mean, st[MetricCost].Mean
		}
		b.Candidates = append(b.Candidates, cand)
	}
	if len(b.Candidates) == 0 {
		return b, false
	}
	minViol := -1.0
	for _, c := range b.Candidates {
		if c.Valid && (minViol < 0 || c.SLOViolationRate < minViol) {
			minViol = c.SLOViolationRate
		}
	}
	bestCost := 0.0
	for _, c := range b.Candidates {
		if !c.Valid || c.SLOViolationRate > minViol+BestHPATolerance {
			continue
		}
		if b.Name == "" || c.CostReplicaSecs < bestCost {
			b.Name, bestCost = c.Name, c.CostReplicaSecs
		}
	}
	return b, true
}

// compare pairs agent's and baseline's valid test runs on scenario by
// repetition (the same seed) and compares every ComparedMetrics entry.
func compare(agent, baseline, scenario string, runs []Run) []Comparison {
	base := map[int]Run{}
	for _, run := range runsOf(runs, baseline, scenario, SplitTest) {
		if run.Valid {
			base[run.Repetition] = run
		}
	}
	var pairs [][2]Run
	for _, run := range runsOf(runs, agent, scenario, SplitTest) {
		if b, ok := base[run.Repetition]; ok && run.Valid && b.Seed == run.Seed {
			pairs = append(pairs, [2]Run{run, b})
		}
	}
	out := make([]Comparison, 0, len(ComparedMetrics))
	for _, m := range ComparedMetrics {
		a, b := make([]float64, len(pairs)), make([]float64, len(pairs))
		for i, p := range pairs {
			a[i], b[i] = p[0].Metrics[m], p[1].Metrics[m]
		}
		c := Paired(a, b)
		c.Agent, c.Baseline, c.Scenario, c.Metric = agent, baseline, scenario, m
		out = append(out, c)
	}
	return out
}

// summary is the report's opening: the verdicts (does the agent beat the
// HPA, scenario by scenario; the paired comparisons with their evidence
// are in the report's tables), scenarios without a valid HPA, and invalid
// controllers.
func summary(r *Report) string {
	parts := verdictLines(r)
	for _, b := range r.BestHPA {
		if b.Name == "" {
			parts = append(parts, fmt.Sprintf("On %s no HPA configuration was valid on the validation seeds, so the agents are not compared with the HPA.", b.Scenario))
		}
	}
	for _, c := range r.Controllers {
		if !c.Valid {
			parts = append(parts, fmt.Sprintf("%s is invalid: %s.", c.Name, c.Invalid[0]))
		}
	}
	if len(parts) == 0 {
		best := ""
		for _, c := range r.Controllers {
			if c.Valid && (best == "" || c.Metrics[MetricSLOViolation].Mean < r.controller(best).Metrics[MetricSLOViolation].Mean) {
				best = c.Name
			}
		}
		if best == "" {
			return "No valid evaluation runs to report."
		}
		return fmt.Sprintf("%s had the lowest mean SLO violation rate (%.4g).", best, r.controller(best).Metrics[MetricSLOViolation].Mean)
	}
	return strings.Join(parts, " ")
}

func (r *Report) controller(name string) *Controller {
	for i := range r.Controllers {
		if r.Controllers[i].Name == name {
			return &r.Controllers[i]
		}
	}
	return nil
}
