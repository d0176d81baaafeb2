package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"

	"go.temporal.io/sdk/activity"

	"github.com/grlscaler/grlscaler/infra/objstore"
	"github.com/grlscaler/grlscaler/workflows/api"
)

// ReportSchemaVersion is the schemaVersion of report.json.
const ReportSchemaVersion = 1

// tQuantile975 holds t_{0.975, df} for df = 1..30.
var tQuantile975 = [...]float64{
	12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281,
	2.2010, 2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860,
	2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423,
}

// TQuantile975 returns the 97.5 % quantile of Student's t distribution with
// df degrees of freedom (1.96 beyond 30, NaN below 1).
func TQuantile975(df int) float64 {
	switch {
	case df < 1:
		return math.NaN()
	case df <= len(tQuantile975):
		return tQuantile975[df-1]
	default:
		return 1.96
	}
}

// Stat is the mean, sample standard deviation and 95 % confidence interval
// of a metric over repetitions. With one sample the deviation and
// half-width are 0.
type Stat struct {
	N      int     `json:"n"`
	Mean   float64 `json:"mean"`
	SD     float64 `json:"sd"`
	CIHalf float64 `json:"ciHalfWidth"`
	CILow  float64 `json:"ciLow"`
	CIHigh float64 `json:"ciHigh"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
}

// Summarize computes a Stat of xs.
func Summarize(xs []float64) Stat {
	s := Stat{N: len(xs)}
	if len(xs) == 0 {
		return s
	}
	s.Min, s.Max = xs[0], xs[0]
	for _, x := range xs {
		s.Mean += x
		s.Min, s.Max = min(s.Min, x), max(s.Max, x)
	}
	s.Mean /= float64(len(xs))
	if len(xs) > 1 {
		var ss float64
		for _, x := range xs {
			ss += (x - s.Mean) * (x - s.Mean)
		}
		s.SD = math.Sqrt(ss / float64(len(xs)-1))
		s.CIHalf = TQuantile975(len(xs)-1) * s.SD / math.Sqrt(float64(len(xs)))
	}
	s.CILow, s.CIHigh = s.Mean-s.CIHalf, s.Mean+s.CIHalf
	return s
}

// metricNames are the reported metrics, in table order.
var metricNames = []string{"costReplicaSeconds", "sloViolationRate", "latencyP50Ms", "latencyP95Ms", "latencyP99Ms", "errorRate", "scalingActions"}

func metricValues(m api.RunMetrics) []float64 {
	return []float64{m.CostReplicaSeconds, m.SLOViolationRate, m.LatencyP50Ms, m.LatencyP95Ms, m.LatencyP99Ms, m.ErrorRate, float64(m.ScalingActions)}
}

// ReportGroup aggregates the runs of one controller on one scenario.
type ReportGroup struct {
	Controller string          `json:"controller"`
	Scenario   string          `json:"scenario"`
	Runs       int             `json:"runs"`
	Metrics    map[string]Stat `json:"metrics"`
}

// Report is the content of report.json.
type Report struct {
	SchemaVersion int                       `json:"schemaVersion"`
	ExperimentID  string                    `json:"experimentId"`
	Name          string                    `json:"name"`
	SpecHash      string                    `json:"specHash"`
	Groups        []ReportGroup             `json:"groups"`
	Training      []api.TrainWorkflowResult `json:"training,omitempty"`
	Summary       string                    `json:"summary"`
}

// Aggregate groups runs per controller x scenario, sorted by scenario then
// controller.
func Aggregate(runs []api.EvaluateRunResult) []ReportGroup {
	type gk struct{ c, s string }
	vals := map[gk][][]float64{}
	var keys []gk
	for _, r := range runs {
		k := gk{r.Controller, r.Scenario}
		if _, ok := vals[k]; !ok {
			keys = append(keys, k)
		}
		vals[k] = append(vals[k], metricValues(r.Metrics))
	}
	slices.SortFunc(keys, func(a, b gk) int {
		if c := strings.Compare(a.s, b.s); c != 0 {
			return c
		}
		return strings.Compare(a.c, b.c)
	})
	groups := make([]ReportGroup, 0, len(keys))
	for _, k := range keys {
		rows := vals[k]
		g := ReportGroup{Controller: k.c, Scenario: k.s, Runs: len(rows), Metrics: map[string]Stat{}}
		for j, name := range metricNames {
			xs := make([]float64, len(rows))
			for i, row := range rows {
				xs[i] = row[j]
			}
			g.Metrics[name] = Summarize(xs)
		}
		groups = append(groups, g)
	}
	return groups
}

func summary(groups []ReportGroup) string {
	if len(groups) == 0 {
		return "No evaluation runs to report."
	}
	var b strings.Builder
	byScenario := map[string][]ReportGroup{}
	var scenarios []string
	for _, g := range groups {
		if _, ok := byScenario[g.Scenario]; !ok {
			scenarios = append(scenarios, g.Scenario)
		}
		byScenario[g.Scenario] = append(byScenario[g.Scenario], g)
	}
	for i, sc := range scenarios {
		gs := byScenario[sc]
		best := gs[0]
		for _, g := range gs[1:] {
			if g.Metrics["sloViolationRate"].Mean < best.Metrics["sloViolationRate"].Mean ||
				(g.Metrics["sloViolationRate"].Mean == best.Metrics["sloViolationRate"].Mean &&
					g.Metrics["costReplicaSeconds"].Mean < best.Metrics["costReplicaSeconds"].Mean) {
				best = g
			}
		}
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "On %s, %s had the lowest SLO violation rate (%.3f, cost %.0f replica-seconds, p95 %.0f ms) among %d controllers.",
			sc, best.Controller, best.Metrics["sloViolationRate"].Mean, best.Metrics["costReplicaSeconds"].Mean, best.Metrics["latencyP95Ms"].Mean, len(gs))
	}
	return b.String()
}

func markdown(r *Report) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Experiment %s (%s)\n\n", r.Name, r.ExperimentID)
	b.WriteString(r.Summary + "\n\n")
	b.WriteString("Mean ± 95 % confidence half-width (t distribution) over repetitions.\n\n")
	b.WriteString("| scenario | controller | runs |")
	for _, m := range metricNames {
		b.WriteString(" " + m + " |")
	}
	b.WriteString("\n|---|---|---|")
	for range metricNames {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, g := range r.Groups {
		fmt.Fprintf(&b, "| %s | %s | %d |", g.Scenario, g.Controller, g.Runs)
		for _, m := range metricNames {
			s := g.Metrics[m]
			fmt.Fprintf(&b, " %.4g ± %.3g |", s.Mean, s.CIHalf)
		}
		b.WriteString("\n")
	}
	if len(r.Training) > 0 {
		b.WriteString("\n## Training\n\n| agent | final step | chunks | last mean episode reward |\n|---|---|---|---|\n")
		for _, t := range r.Training {
			last := 0.0
			if n := len(t.History); n > 0 {
				last = t.History[n-1].MeanEpisodeReward
			}
			fmt.Fprintf(&b, "| %s | %d | %d | %.4g |\n", t.Agent, t.Final.Step, len(t.History), last)
		}
	}
	return b.String()
}

// WriteReport aggregates the runs and writes reports/report.json and
// reports/report.md.
func (a *Activities) WriteReport(ctx context.Context, in api.ReportInput) (api.ReportResult, error) {
	log := activity.GetLogger(ctx)
	spec := &in.Spec
	groups := Aggregate(in.Runs)
	rep := Report{
		SchemaVersion: ReportSchemaVersion, ExperimentID: in.ExperimentID, Name: spec.Metadata.Name,
		SpecHash: api.SpecHash(spec), Groups: groups, Training: in.Training, Summary: summary(groups),
	}
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return api.ReportResult{}, fmt.Errorf("write report %s: encode json: %w", in.ExperimentID, err)
	}
	jsonKey := experimentKey(spec, in.ExperimentID, api.ReportJSONObject)
	mdKey := experimentKey(spec, in.ExperimentID, api.ReportMarkdownObject)
	store, err := a.storeFor(ctx, spec)
	if err != nil {
		return api.ReportResult{}, fmt.Errorf("write report %s: %w", in.ExperimentID, err)
	}
	jsonInfo, err := objstore.PutVerified(ctx, store, jsonKey, js)
	if err != nil {
		return api.ReportResult{}, fmt.Errorf("write report %s: %w", in.ExperimentID, err)
	}
	mdInfo, err := objstore.PutVerified(ctx, store, mdKey, []byte(markdown(&rep)))
	if err != nil {
		return api.ReportResult{}, fmt.Errorf("write report %s: %w", in.ExperimentID, err)
	}
	log.Info("report written", "json", jsonKey, "markdown", mdKey, "groups", len(groups))
	return api.ReportResult{
		JSONKey: jsonKey, JSONSHA256: jsonInfo.SHA256,
		MarkdownKey: mdKey, MarkdownSHA256: mdInfo.SHA256,
		Summary: rep.Summary,
	}, nil
}
