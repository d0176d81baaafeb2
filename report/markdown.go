package report

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// TableMetrics are the metrics of the Markdown and HTML tables.
var TableMetrics = []string{MetricCost, MetricSLOViolation, MetricLatencyP95, MetricErrorRate, MetricScalingActions, MetricRecoveryTime, MetricTotalReward}

func fmtStat(s Stat) string {
	switch s.N {
	case 0:
		return "n/a"
	case 1:
		// One run has no interval; [x, x] would claim certainty.
		return fmt.Sprintf("%.4g", s.Mean)
	}
	return fmt.Sprintf("%.4g [%.4g, %.4g]", s.Mean, s.CI95Low, s.CI95High)
}

// ControllerTable is the Markdown table of the controllers' pooled test
// statistics (what `grlctl report` prints).
func ControllerTable(r *Report) string {
	var b strings.Builder
	b.WriteString("| controller | kind | valid | n |")
	for _, m := range TableMetrics {
		b.WriteString(" " + m + " |")
	}
	b.WriteString("\n|---|---|---|---|" + strings.Repeat("---|", len(TableMetrics)) + "\n")
	for _, c := range r.Controllers {
		valid := "yes"
		if !c.Valid {
			valid = "**no**"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %d |", c.Name, c.Kind, valid, c.Metrics[MetricCost].N)
		for _, m := range TableMetrics {
			b.WriteString(" " + fmtStat(c.Metrics[m]) + " |")
		}
		b.WriteString("\n")
	}
	return b.String()
}

// Markdown renders the whole report.
func Markdown(r *Report) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Experiment %s (%s)\n\n%s\n\n", r.Name, r.ExperimentID, r.Summary)
	b.WriteString(VerdictTable(r))
	fmt.Fprintf(&b, "App %s, SLO p95 <= %.0f ms, spec hash %s. Means with 95 %% confidence intervals (Student's t) over the valid test runs; validation runs only choose the best HPA and the best agent per scenario.\n\n", r.App, r.SLOMs, r.SpecHash)
	b.WriteString("## Controllers (all scenarios)\n\n" + ControllerTable(r))
	for _, c := range r.Controllers {
		for _, why := range c.Invalid {
			fmt.Fprintf(&b, "\n- %s invalid: %s", c.Name, why)
		}
	}
	b.WriteString("\n## Per scenario\n\n| scenario | controller | valid |")
	for _, m := range TableMetrics {
		b.WriteString(" " + m + " |")
	}
	b.WriteString("\n|---|---|---|" + strings.Repeat("---|", len(TableMetrics)) + "\n")
	if len(r.Controllers) > 0 {
		for i := range r.Controllers[0].Scenarios {
			for _, c := range r.Controllers {
				ss := c.Scenarios[i]
				fmt.Fprintf(&b, "| %s | %s | %t |", ss.Scenario, c.Name, ss.Valid)
				for _, m := range TableMetrics {
					b.WriteString(" " + fmtStat(ss.Metrics[m]) + " |")
				}
				b.WriteString("\n")
			}
		}
	}
	writeBest(&b, "Best HPA per scenario", r.BestHPA)
	writeBest(&b, "Best agent per scenario", r.BestAgents)
	if len(r.Comparisons) > 0 {
		b.WriteString("\n## Agents vs the best HPA (paired by seed, test runs)\n\n| scenario | agent | baseline | metric | n | mean diff [95 % CI] | p |\n|---|---|---|---|---|---|---|\n")
		for _, c := range r.Comparisons {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %d | %.4g %s | %s |\n", c.Scenario, c.Agent, c.Baseline, c.Metric, c.N, c.MeanDiff, c.Interval(), c.P())
		}
	}
	if len(r.Training) > 0 {
		b.WriteString("\n## Training\n\n| agent | chunks | final step | last mean episode reward | policy loss | value loss | best validation score (step) |\n|---|---|---|---|---|---|---|\n")
		for _, t := range r.Training {
			if n := len(t.Chunks); n > 0 {
				l := t.Chunks[n-1]
				best := "none: the final policy is evaluated"
				if l.BestStep > 0 {
					best = fmt.Sprintf("%.4g (%d)", l.BestScore, l.BestStep)
				}
				fmt.Fprintf(&b, "| %s | %d | %d | %.4g | %.4g | %.4g | %s |\n", t.Agent, n, l.Step, l.MeanEpisodeReward, l.PolicyLoss, l.ValueLoss, best)
			}
		}
	}
	return b.String()
}

// WriteCSV writes one row per controller, scenario ("all" for the pooled
// statistics) and metric.
func WriteCSV(w io.Writer, r *Report) error {
	cw := csv.NewWriter(w)
	f := func(x float64) string { return strconv.FormatFloat(x, 'g', 10, 64) }
	_ = cw.Write([]string{"controller", "kind", "valid", "scenario", "metric", "mean", "std", "ci95_low", "ci95_high", "n"})
	row := func(c *Controller, scenario string, valid bool, m map[string]Stat) {
		for _, name := range MetricNames {
			s := m[name]
			_ = cw.Write([]string{c.Name, c.Kind, strconv.FormatBool(valid), scenario, name, f(s.Mean), f(s.Std), f(s.CI95Low), f(s.CI95High), strconv.Itoa(s.N)})
		}
	}
	for i := range r.Controllers {
		c := &r.Controllers[i]
		row(c, "all", c.Valid, c.Metrics)
		for _, ss := range c.Scenarios {
			row(c, ss.Scenario, ss.Valid, ss.Metrics)
		}
	}
	cw.Flush()
	return cw.Error()
}

// writeBest writes a table of per-scenario choices made on the
// validation seeds.
func writeBest(b *strings.Builder, title string, best []BestHPA) {
	if len(best) == 0 {
		return
	}
	b.WriteString("\n## " + title + "\n\nCriterion: " + best[0].Criterion + ".\n\n| scenario | best | candidates (slo_violation_rate, cost_replica_seconds) |\n|---|---|---|\n")
	for _, h := range best {
		var cands []string
		for _, c := range h.Candidates {
			if c.Valid {
				cands = append(cands, fmt.Sprintf("%s (%.4g, %.4g)", c.Name, c.SLOViolationRate, c.CostReplicaSecs))
			} else {
				cands = append(cands, c.Name+" (invalid)")
			}
		}
		name := h.Name
		if name == "" {
			name = "none valid"
		}
		fmt.Fprintf(b, "| %s | %s | %s |\n", h.Scenario, name, strings.Join(cands, "; "))
	}
}

// VerdictTable renders the verdicts against the best HPA: per scenario
// the best agent's and the best HPA's test means (both chosen on the
// validation seeds) and whether the agent beats it; empty without them.
func VerdictTable(r *Report) string {
	var b strings.Builder
	for _, v := range r.Verdicts {
		if !v.BestHPA {
			continue
		}
		if b.Len() == 0 {
			b.WriteString("## Verdict: the best agent vs the best HPA\n\n| scenario | best agent | slo_violation_rate | cost_replica_seconds | best HPA | slo_violation_rate | cost_replica_seconds | cost change | beats |\n|---|---|---|---|---|---|---|---|---|\n")
		}
		fmt.Fprintf(&b, "| %s | %s | %.3f | %.0f | %s | %.3f | %.0f | %+.1f %% | %s |\n", v.Scenario, v.Agent, v.AgentSLOViolation, v.AgentCost,
			v.Baseline, v.BaselineSLOViolation, v.BaselineCost, 100*v.CostChange, beatsWord(v))
	}
	if b.Len() > 0 {
		fmt.Fprintf(&b, "\nBeats the best HPA on %d of %d scenarios, ties on %d; mean cost change %+.1f %%.\n\n", r.Outcome.Beaten, r.Outcome.Scenarios, r.Outcome.Tied, 100*r.Outcome.MeanCostChange)
	}
	return b.String()
}

func beatsWord(v Verdict) string {
	switch {
	case v.Beats:
		return "yes"
	case v.Ties:
		return "ties"
	}
	return "no"
}
