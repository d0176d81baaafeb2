package report

import (
	"bytes"
	"fmt"
	"slices"
	"sort"
)

// maxPlottedServices bounds the services of a replicas plot: the ones whose
// replicas vary most.
const maxPlottedServices = 4

// SeriesToPlot lists the runs whose series Figures draws: per scenario, the
// first test repetition of every agent and of the best HPA (or of every
// controller when there is no agent).
func SeriesToPlot(r *Report) []Run {
	best := map[string]string{}
	for _, b := range r.BestHPA {
		best[b.Scenario] = b.Name
	}
	hasAgent := slices.ContainsFunc(r.Controllers, func(c Controller) bool { return c.Kind == KindAgent })
	var out []Run
	for _, run := range r.Runs {
		if run.Split != SplitTest || run.Repetition != 0 {
			continue
		}
		if !hasAgent || run.Kind == KindAgent || run.Controller == best[run.Scenario] {
			out = append(out, run)
		}
	}
	return out
}

// Figures renders the report's PNG plots, keyed by file name: per scenario
// replicas-<scenario>.png and p95-<scenario>.png from series (controller ->
// scenario -> series, the runs of SeriesToPlot), cost-vs-slo.png, and
// training.png when there is a training curve.
func Figures(r *Report, series map[string]map[string]*Series) (map[string][]byte, error) {
	out := map[string][]byte{}
	render := func(name string, draw func(*bytes.Buffer) error) error {
		var b bytes.Buffer
		if err := draw(&b); err != nil {
			return fmt.Errorf("plot %s: %w", name, err)
		}
		out[name] = b.Bytes()
		return nil
	}
	scenarios := map[string]map[string]*Series{}
	for ctrl, byScenario := range series {
		for sc, s := range byScenario {
			if scenarios[sc] == nil {
				scenarios[sc] = map[string]*Series{}
			}
			scenarios[sc][ctrl] = s
		}
	}
	names := make([]string, 0, len(scenarios))
	for sc := range scenarios {
		names = append(names, sc)
	}
	sort.Strings(names)
	for _, sc := range names {
		ss := scenarios[sc]
		if err := render("replicas-"+sc+".png", func(b *bytes.Buffer) error {
			return PlotReplicas(b, "Replicas on "+sc+" (first test seed)", ss, mostVaryingServices(ss, maxPlottedServices))
		}); err != nil {
			return nil, err
		}
		if err := render("p95-"+sc+".png", func(b *bytes.Buffer) error {
			return PlotP95(b, "p95 latency on "+sc+" (first test seed)", ss, r.SLOMs)
		}); err != nil {
			return nil, err
		}
	}
	if slices.ContainsFunc(r.Controllers, func(c Controller) bool { return c.Metrics[MetricCost].N > 0 }) {
		if err := render("cost-vs-slo.png", func(b *bytes.Buffer) error {
			return PlotCostVsSLO(b, "Cost vs SLO violations (test runs, 95 % CI)", r.Controllers)
		}); err != nil {
			return nil, err
		}
	}
	if slices.ContainsFunc(r.Training, func(t Training) bool { return len(t.Chunks) > 0 }) {
		if err := render("training.png", func(b *bytes.Buffer) error {
			return PlotTraining(b, "Training", r.Training)
		}); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// mostVaryingServices returns up to n services with the largest replica
// variance over all series, in the series' column order.
func mostVaryingServices(series map[string]*Series, n int) []string {
	var services []string
	for _, s := range series {
		services = s.Services
		break
	}
	variance := map[string]float64{}
	for _, svc := range services {
		var sum, sq, k float64
		for _, s := range series {
			for _, x := range s.Replicas(svc) {
				sum, sq, k = sum+x, sq+x*x, k+1
			}
		}
		if k > 0 {
			variance[svc] = sq/k - (sum/k)*(sum/k)
		}
	}
	ranked := slices.Clone(services)
	sort.SliceStable(ranked, func(i, j int) bool { return variance[ranked[i]] > variance[ranked[j]] })
	keep := map[string]bool{}
	for _, s := range ranked[:min(n, len(ranked))] {
		keep[s] = true
	}
	var out []string
	for _, s := range services {
		if keep[s] {
			out = append(out, s)
		}
	}
	return out
}
