package report

import (
	"fmt"
	"math"
	"strings"
)

// Verdict answers the question an experiment asks, on one scenario: does
// the best agent beat a baseline? It compares test-run means: the agent
// beats the baseline when its SLO violation rate is at most the
// baseline's and its cost is lower.
type Verdict struct {
	Scenario string `json:"scenario"`
	// Agent is the scenario's best agent, chosen on the validation seeds
	// like the best HPA (see bestAgent).
	Agent string `json:"agent"`
	// Baseline is the controller compared with; BestHPA marks the
	// scenario's best HPA (chosen on the validation seeds).
	Baseline string `json:"baseline"`
	BestHPA  bool   `json:"best_hpa"`
	// The test means of both, and the relative cost change
	// (agent - baseline) / baseline.
	AgentSLOViolation    float64 `json:"agent_slo_violation_rate"`
	AgentCost            float64 `json:"agent_cost_replica_seconds"`
	BaselineSLOViolation float64 `json:"baseline_slo_violation_rate"`
	BaselineCost         float64 `json:"baseline_cost_replica_seconds"`
	CostChange           float64 `json:"cost_change"`
	// AgentReplicasMean and AgentReplicasMax are the agent's mean and
	// largest total replicas over the app's services: how it scaled.
	AgentReplicasMean float64 `json:"agent_replicas_mean"`
	AgentReplicasMax  float64 `json:"agent_replicas_max"`
	Beats             bool    `json:"beats"`
	// Ties is set when the agent is as good but not better: a violation
	// rate at most the baseline's at the same cost (as on a load every
	// controller meets at its minimum replicas).
	Ties bool `json:"ties"`
}

// Outcome summarises the verdicts against the best HPA over the
// scenarios.
type Outcome struct {
	// Scenarios is the number of scenarios with a best HPA, Beaten how
	// many of them the best agent beats it on and Tied how many it ties.
	Scenarios int `json:"scenarios"`
	Beaten    int `json:"beaten"`
	Tied      int `json:"tied"`
	// MeanCostChange is the mean over those scenarios of the best agent's
	// relative cost change against the best HPA.
	MeanCostChange float64 `json:"mean_cost_change"`
}

// sloEpsilon absorbs rounding when violation rates are compared: rates
// are fractions of whole steps, far coarser than this.
const sloEpsilon = 1e-9

// verdicts computes, per scenario, the best agent's verdict against the
// best HPA and against every other valid non-agent controller.
func verdicts(r *Report) ([]Verdict, Outcome) {
	out := []Verdict{}
	var o Outcome
	var changes float64
	for si, b := range scenarioNames(r) {
		agent, as, ok := bestAgent(r, si)
		if !ok {
			continue
		}
		bestHPA := ""
		for _, h := range r.BestHPA {
			if h.Scenario == b {
				bestHPA = h.Name
			}
		}
		for ci := range r.Controllers {
			c := &r.Controllers[ci]
			if c.Kind == KindAgent || !c.Scenarios[si].Valid || c.Scenarios[si].Metrics[MetricCost].N == 0 {
				continue
			}
			bs := c.Scenarios[si].Metrics
			v := Verdict{
				Scenario: b, Agent: agent, Baseline: c.Name, BestHPA: c.Name == bestHPA,
				AgentSLOViolation: as[MetricSLOViolation].Mean, AgentCost: as[MetricCost].Mean,
				AgentReplicasMean: as[MetricReplicasMean].Mean, AgentReplicasMax: as[MetricReplicasMaxUsed].Mean,
				BaselineSLOViolation: bs[MetricSLOViolation].Mean, BaselineCost: bs[MetricCost].Mean,
			}
			if v.BaselineCost > 0 {
				v.CostChange = (v.AgentCost - v.BaselineCost) / v.BaselineCost
			}
			noWorse := v.AgentSLOViolation <= v.BaselineSLOViolation+sloEpsilon
			v.Beats = noWorse && v.AgentCost < v.BaselineCost
			v.Ties = noWorse && v.AgentCost == v.BaselineCost
			out = append(out, v)
			if v.BestHPA {
				o.Scenarios++
				changes += v.CostChange
				if v.Beats {
					o.Beaten++
				}
				if v.Ties {
					o.Tied++
				}
			}
		}
	}
	if o.Scenarios > 0 {
		o.MeanCostChange = changes / float64(o.Scenarios)
	}
	return out, o
}

// scenarioNames are the scenarios in the controllers' order.
func scenarioNames(r *Report) []string {
	if len(r.Controllers) == 0 {
		return nil
	}
	var names []string
	for _, s := range r.Controllers[0].Scenarios {
		names = append(names, s.Scenario)
	}
	return names
}

// bestAgent is the scenario's agent chosen on the validation seeds, or,
// for experiments without agent validation runs, the valid agent with the
// lowest mean SLO violation rate on the test runs of scenario si, then
// the lowest mean cost.
func bestAgent(r *Report, si int) (string, map[string]Stat, bool) {
	sc := scenarioNames(r)[si]
	for _, b := range r.BestAgents {
		if b.Scenario != sc {
			continue
		}
		if c := r.controller(b.Name); c != nil && c.Scenarios[si].Valid {
			return b.Name, c.Scenarios[si].Metrics, true
		}
		return "", nil, false
	}
	name, best := "", map[string]Stat(nil)
	for ci := range r.Controllers {
		c := &r.Controllers[ci]
		if c.Kind != KindAgent || !c.Scenarios[si].Valid || c.Scenarios[si].Metrics[MetricCost].N == 0 {
			continue
		}
		m := c.Scenarios[si].Metrics
		if best == nil || m[MetricSLOViolation].Mean < best[MetricSLOViolation].Mean-sloEpsilon ||
			(math.Abs(m[MetricSLOViolation].Mean-best[MetricSLOViolation].Mean) <= sloEpsilon && m[MetricCost].Mean < best[MetricCost].Mean) {
			name, best = c.Name, m
		}
	}
	return name, best, best != nil
}

// verdictLines are the report's first lines: per scenario, whether the
// best agent beats the best HPA, and how it compares with the other
// baselines; then the outcome over the scenarios.
func verdictLines(r *Report) []string {
	var lines []string
	for _, sc := range scenarioNames(r) {
		var best *Verdict
		var others []string
		for i := range r.Verdicts {
			v := &r.Verdicts[i]
			if v.Scenario != sc {
				continue
			}
			if v.BestHPA {
				best = v
				continue
			}
			// The best HPA stands for the other HPA configurations;
			// the other baselines (fixed replicas) are named.
			if r.kind(v.Baseline) != KindHPA {
				others = append(others, baselineClause(v))
			}
		}
		var line string
		switch {
		case best == nil:
		case best.Beats:
			line = fmt.Sprintf("On %s, %s beats the best HPA (%s): SLO violation rate %.3f vs %.3f, cost %.0f vs %.0f replica-seconds (%+.0f %%).",
				sc, best.Agent, best.Baseline, best.AgentSLOViolation, best.BaselineSLOViolation, best.AgentCost, best.BaselineCost, 100*best.CostChange)
		case best.Ties:
			line = fmt.Sprintf("On %s, %s ties with the best HPA (%s): SLO violation rate %.3f vs %.3f at the same cost, %.0f replica-seconds.",
				sc, best.Agent, best.Baseline, best.AgentSLOViolation, best.BaselineSLOViolation, best.AgentCost)
		case best.AgentSLOViolation > best.BaselineSLOViolation+sloEpsilon:
			line = fmt.Sprintf("On %s, the best HPA (%s) keeps the SLO better than %s: SLO violation rate %.3f vs %.3f, at cost %.0f vs %.0f replica-seconds (%+.0f %% for the agent).",
				sc, best.Baseline, best.Agent, best.BaselineSLOViolation, best.AgentSLOViolation, best.BaselineCost, best.AgentCost, 100*best.CostChange)
		default:
			line = fmt.Sprintf("On %s, %s keeps the SLO as well as the best HPA (%s), %.3f vs %.3f, but costs more: %.0f vs %.0f replica-seconds (%+.0f %%).",
				sc, best.Agent, best.Baseline, best.AgentSLOViolation, best.BaselineSLOViolation, best.AgentCost, best.BaselineCost, 100*best.CostChange)
		}
		if best != nil && best.AgentReplicasMax > 0 {
			line += fmt.Sprintf(" %s ran %.1f replicas on average, up to %.0f.", best.Agent, best.AgentReplicasMean, best.AgentReplicasMax)
		}
		if len(others) > 0 {
			if line == "" {
				line = fmt.Sprintf("On %s:", sc)
			}
			line += " " + strings.Join(others, " ")
		}
		if line != "" {
			lines = append(lines, line)
		}
	}
	if o := r.Outcome; o.Scenarios > 0 {
		ties := ""
		if o.Tied > 0 {
			ties = fmt.Sprintf(" and ties with it on %d", o.Tied)
		}
		lines = append(lines, fmt.Sprintf("The best agent beats the best HPA on %d of %d scenarios%s, at %+.0f %% cost on average.", o.Beaten, o.Scenarios, ties, 100*o.MeanCostChange))
	}
	return lines
}

// baselineClause says how the agent compares with a baseline other than
// the best HPA.
func baselineClause(v *Verdict) string {
	switch {
	case v.Beats:
		return fmt.Sprintf("%s also beats %s (SLO violation rate %.3f, cost %.0f).", v.Agent, v.Baseline, v.BaselineSLOViolation, v.BaselineCost)
	case v.AgentSLOViolation < v.BaselineSLOViolation-sloEpsilon:
		return fmt.Sprintf("%s is cheaper (%.0f) but violates the SLO on %.0f %% of the steps (%s %.0f %%).", v.Baseline, v.BaselineCost, 100*v.BaselineSLOViolation, v.Agent, 100*v.AgentSLOViolation)
	case v.AgentSLOViolation > v.BaselineSLOViolation+sloEpsilon:
		return fmt.Sprintf("%s keeps the SLO better than %s (%.3f vs %.3f) at cost %.0f vs %.0f.", v.Baseline, v.Agent, v.BaselineSLOViolation, v.AgentSLOViolation, v.BaselineCost, v.AgentCost)
	default:
		return fmt.Sprintf("%s keeps the SLO as well as %s at lower cost (%.0f vs %.0f).", v.Baseline, v.Agent, v.BaselineCost, v.AgentCost)
	}
}

// kind is a controller's kind ("" if unknown).
func (r *Report) kind(name string) string {
	if c := r.controller(name); c != nil {
		return c.Kind
	}
	return ""
}
