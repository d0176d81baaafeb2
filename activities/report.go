package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/grlscaler/grlscaler/infra/objstore"
	"github.com/grlscaler/grlscaler/report"
	"github.com/grlscaler/grlscaler/workflows/api"
)

// reportCSVObject is the report's summary table, besides report.json,
// report.md and report.html.
const reportCSVObject = reportsDir + "/report.csv"

// controllerKind maps a spec controller type to the report's kind.
func controllerKind(t api.ControllerType) string {
	switch t {
	case api.ControllerAgent:
		return report.KindAgent
	case api.ControllerHPA:
		return report.KindHPA
	}
	return report.KindStatic
}

// runMetrics names a run's metrics as the report does.
func runMetrics(m api.RunMetrics) map[string]float64 {
	return map[string]float64{
		report.MetricCost:            m.CostReplicaSeconds,
		report.MetricCPUCost:         m.CostCPUCoreSeconds,
		report.MetricSLOViolation:    m.SLOViolationRate,
		report.MetricLatencyMean:     m.LatencyMeanMs,
		report.MetricLatencyP50:      m.LatencyP50Ms,
		report.MetricLatencyP95:      m.LatencyP95Ms,
		report.MetricLatencyP99:      m.LatencyP99Ms,
		report.MetricErrorRate:       m.ErrorRate,
		report.MetricScalingActions:  float64(m.ScalingActions),
		report.MetricRecoveryTime:    m.RecoveryTimeS,
		report.MetricTotalReward:     m.TotalReward,
		report.MetricReplicasMean:    m.ReplicasMean,
		report.MetricReplicasMaxUsed: float64(m.ReplicasMax),
	}
}

// reportInput converts what the workflow collected into the report's
// input.
func reportInput(in *api.ReportInput) report.Input {
	spec := &in.Spec
	ri := report.Input{
		ExperimentID: in.ExperimentID, Name: spec.Metadata.Name, SpecHash: api.SpecHash(spec), App: spec.Spec.App,
		SLOMs:     float64(spec.Spec.Evaluation.SLO.Std()) / float64(time.Millisecond),
		Scenarios: spec.Spec.Load.EvaluationScenarios,
	}
	kinds := map[string]string{}
	for _, c := range spec.Spec.Evaluation.Controllers {
		k := controllerKind(c.Type)
		kinds[c.Name] = k
		ri.Controllers = append(ri.Controllers, report.ControllerSpec{Name: c.Name, Kind: k})
	}
	for _, r := range in.Runs {
		split := r.Split
		if split == "" {
			split = report.SplitTest
		}
		ri.Runs = append(ri.Runs, report.Run{
			Controller: r.Controller, Kind: kinds[r.Controller], Scenario: r.Scenario, Split: split,
			Repetition: r.Repetition, Seed: r.Seed, Valid: r.Valid, Invalid: r.InvalidReason,
			SeriesKey: strings.TrimPrefix(r.SeriesKey, experimentKey(spec, in.ExperimentID)+"/"), SHA256: r.SHA256, Metrics: runMetrics(r.Metrics),
		})
	}
	for _, t := range in.Training {
		tr := report.Training{Agent: t.Agent, Chunks: []report.TrainingChunk{}}
		for i, c := range t.History {
			tr.Chunks = append(tr.Chunks, report.TrainingChunk{
				Chunk: i, Step: c.Checkpoint.Step, MeanEpisodeReward: c.MeanEpisodeReward,
				PolicyLoss: c.PolicyLoss, ValueLoss: c.ValueLoss, Entropy: c.Entropy,
				ValidationScore: c.ValidationScore, BestScore: c.BestScore, BestStep: c.BestStep,
			})
		}
		ri.Training = append(ri.Training, tr)
	}
	return ri
}

// writeReport builds the report from the runs and the training curves and
// writes reports/report.json, report.md, report.csv, report.html and the
// PNG plots the HTML embeds. It is deterministic: the same input writes
// the same bytes.
func (a *Activities) writeReport(ctx context.Context, in api.ReportInput) (api.ReportResult, error) {
	log := logger(ctx)
	spec := &in.Spec
	store, err := a.storeFor(ctx, spec)
	if err != nil {
		return api.ReportResult{}, fmt.Errorf("write report %s: %w", in.ExperimentID, err)
	}
	rep := report.Build(reportInput(&in))
	figures, err := a.figures(ctx, store, spec, rep)
	if err != nil {
		return api.ReportResult{}, fmt.Errorf("write report %s: %w", in.ExperimentID, err)
	}
	for name := range figures {
		rep.Plots = append(rep.Plots, name)
	}
	slices.Sort(rep.Plots)
	var html bytes.Buffer
	if err := report.WriteHTML(&html, rep, report.ControllerTable(rep), figures); err != nil {
		return api.ReportResult{}, fmt.Errorf("write report %s: html: %w", in.ExperimentID, err)
	}
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return api.ReportResult{}, fmt.Errorf("write report %s: encode json: %w", in.ExperimentID, err)
	}
	var csvBuf bytes.Buffer
	if err := report.WriteCSV(&csvBuf, rep); err != nil {
		return api.ReportResult{}, fmt.Errorf("write report %s: csv: %w", in.ExperimentID, err)
	}
	put := func(rel string, data []byte) (objstore.ObjectInfo, error) {
		key := experimentKey(spec, in.ExperimentID, rel)
		info, err := objstore.PutVerified(ctx, store, key, data)
		if err != nil {
			return info, fmt.Errorf("write report %s: %w", in.ExperimentID, err)
		}
		return info, nil
	}
	for _, name := range rep.Plots {
		if _, err := put(reportsDir+"/"+name, figures[name]); err != nil {
			return api.ReportResult{}, err
		}
	}
	if _, err := put(reportCSVObject, csvBuf.Bytes()); err != nil {
		return api.ReportResult{}, err
	}
	if _, err := put(api.ReportHTMLObject, html.Bytes()); err != nil {
		return api.ReportResult{}, err
	}
	mdInfo, err := put(api.ReportMarkdownObject, []byte(report.Markdown(rep)))
	if err != nil {
		return api.ReportResult{}, err
	}
	// report.json last: its presence means the report is complete.
	jsonInfo, err := put(api.ReportJSONObject, js)
	if err != nil {
		return api.ReportResult{}, err
	}
	log.Info("report written", "json", jsonInfo.Key, "controllers", len(rep.Controllers), "comparisons", len(rep.Comparisons))
	return api.ReportResult{
		JSONKey: jsonInfo.Key, JSONSHA256: jsonInfo.SHA256,
		MarkdownKey: mdInfo.Key, MarkdownSHA256: mdInfo.SHA256,
		Summary: rep.Summary,
	}, nil
}

// figures reads the series the report plots (checksum-verified) and
// renders the plots.
func (a *Activities) figures(ctx context.Context, store objstore.Store, spec *api.ExperimentSpec, rep *report.Report) (map[string][]byte, error) {
	series := map[string]map[string]*report.Series{}
	for _, run := range report.SeriesToPlot(rep) {
		data, _, err := objstore.GetVerified(ctx, store, experimentKey(spec, rep.ExperimentID, run.SeriesKey), run.SHA256)
		if err != nil {
			return nil, fmt.Errorf("series of %s on %s: %w", run.Controller, run.Scenario, err)
		}
		s, err := report.ParseSeries(run.SeriesKey, bytes.NewReader(data))
		if err != nil {
			return nil, err
		}
		if series[run.Controller] == nil {
			series[run.Controller] = map[string]*report.Series{}
		}
		series[run.Controller][run.Scenario] = s
	}
	return report.Figures(rep, series)
}
