package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/grlscaler/grlscaler/infra/objstore"
	"github.com/grlscaler/grlscaler/report"
	"github.com/grlscaler/grlscaler/workflows/api"
)

// RunIndexEntry is a completed run in the spec hash's run index.
type RunIndexEntry struct {
	ExperimentID string        `json:"experimentId"`
	SpecHash     string        `json:"specHash"`
	CodeVersion  string        `json:"codeVersion"`
	CompletedAt  time.Time     `json:"completedAt"`
	Manifest     api.ObjectRef `json:"manifest"`
	ReportKey    string        `json:"reportKey"`
	ReportSHA256 string        `json:"reportSha256"`
}

// DriftSchemaVersion is drift.json's schema_version.
const DriftSchemaVersion = 1

// maxDriftHistory bounds the earlier runs whose reports give the spread.
const maxDriftHistory = 20

// DriftMetric is one controller's metric in this run and the previous.
type DriftMetric struct {
	Controller string  `json:"controller"`
	Metric     string  `json:"metric"`
	Previous   float64 `json:"previous"`
	Current    float64 `json:"current"`
	Diff       float64 `json:"diff"`
	// SpreadLow and SpreadHigh bound the earlier runs' means (with one
	// earlier run, its 95 % confidence interval); Within says whether
	// Current lies in them.
	SpreadLow  float64 `json:"spread_low"`
	SpreadHigh float64 `json:"spread_high"`
	Within     bool    `json:"within"`
}

// Drift is drift.json.
type Drift struct {
	SchemaVersion int    `json:"schema_version"`
	ExperimentID  string `json:"experiment_id"`
	SpecHash      string `json:"spec_hash"`
	Previous      string `json:"previous,omitempty"`
	EarlierRuns   int    `json:"earlier_runs"`
	CodeVersion   string `json:"code_version"`
	// PreviousCodeVersion is set when it differs from CodeVersion.
	PreviousCodeVersion string `json:"previous_code_version,omitempty"`
	// CheckpointsIdentical and MetricsIdentical compare with the previous
	// run bit for bit: in sim mode with the spec's fixed seed both must
	// hold unless the code version changed.
	CheckpointsIdentical bool          `json:"checkpoints_identical"`
	MetricsIdentical     bool          `json:"metrics_identical"`
	Differences          []string      `json:"differences"`
	Metrics              []DriftMetric `json:"metrics"`
	Summary              string        `json:"summary"`
}

// indexRun records a completed run in its spec hash's index.
func indexRun(ctx context.Context, store objstore.Store, spec *api.ExperimentSpec, id string, manifest api.ObjectRef, rep *api.ReportResult) error {
	e := RunIndexEntry{
		ExperimentID: id, SpecHash: api.SpecHash(spec), CodeVersion: CodeVersion(), CompletedAt: time.Now().UTC(),
		Manifest: manifest,
	}
	if rep != nil {
		e.ReportKey, e.ReportSHA256 = rep.JSONKey, rep.JSONSHA256
	}
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	_, err = objstore.PutVerified(ctx, store, api.RunIndexKey(spec.Spec.Storage.Prefix, e.SpecHash, id), data)
	return err
}

// earlierRuns returns the index entries of the spec hash other than id,
// newest first.
func earlierRuns(ctx context.Context, store objstore.Store, spec *api.ExperimentSpec, id string) ([]RunIndexEntry, error) {
	dir := strings.TrimSuffix(api.RunIndexKey(spec.Spec.Storage.Prefix, api.SpecHash(spec), "x"), "x.json")
	objs, err := store.List(ctx, dir)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	var out []RunIndexEntry
	for _, o := range objs {
		data, _, err := objstore.GetVerified(ctx, store, o.Key, "")
		if err != nil {
			logger(ctx).Warn("skipping an unreadable run index entry", "key", o.Key, "error", err)
			continue
		}
		var e RunIndexEntry
		if err := json.Unmarshal(data, &e); err != nil || e.ExperimentID == id {
			continue
		}
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b RunIndexEntry) int { return b.CompletedAt.Compare(a.CompletedAt) })
	return out, nil
}

func readJSON(ctx context.Context, store objstore.Store, key, sha string, v any) error {
	data, _, err := objstore.GetVerified(ctx, store, key, sha)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}

// runID identifies an evaluation run within a report.
func runID(r report.Run) string {
	return fmt.Sprintf("%s/%s/%s/%d", r.Controller, r.Scenario, r.Split, r.Repetition)
}

// WriteDrift compares this run with the previous completed run of the
// same spec hash and writes reports/drift.json and drift.md: per
// controller and metric the previous and current means, the difference and
// whether the current value lies within the spread of the earlier runs;
// and whether checkpoints and every run's metrics are bit-identical, naming
// the code versions when they differ.
func (a *Activities) WriteDrift(ctx context.Context, in api.DriftInput) (api.DriftResult, error) {
	spec := &in.Spec
	store, err := a.storeFor(ctx, spec)
	if err != nil {
		return api.DriftResult{}, fmt.Errorf("write drift %s: %w", in.ExperimentID, err)
	}
	var cur report.Report
	if err := readJSON(ctx, store, in.Report.JSONKey, in.Report.JSONSHA256, &cur); err != nil {
		return api.DriftResult{}, fmt.Errorf("write drift %s: read this run's report: %w", in.ExperimentID, err)
	}
	d := Drift{SchemaVersion: DriftSchemaVersion, ExperimentID: in.ExperimentID, SpecHash: api.SpecHash(spec),
		CodeVersion: CodeVersion(), Differences: []string{}, Metrics: []DriftMetric{}}
	earlier, err := earlierRuns(ctx, store, spec, in.ExperimentID)
	if err != nil {
		return api.DriftResult{}, fmt.Errorf("write drift %s: %w", in.ExperimentID, err)
	}
	if len(earlier) == 0 {
		d.Summary = "First completed run of this spec: nothing to compare with."
	} else {
		if err := a.compareRuns(ctx, store, &d, &cur, in.Training, earlier); err != nil {
			return api.DriftResult{}, fmt.Errorf("write drift %s: %w", in.ExperimentID, err)
		}
	}
	js, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return api.DriftResult{}, err
	}
	if _, err := objstore.PutVerified(ctx, store, experimentKey(spec, in.ExperimentID, api.DriftMarkdownObject), []byte(driftMarkdown(&d))); err != nil {
		return api.DriftResult{}, fmt.Errorf("write drift %s: %w", in.ExperimentID, err)
	}
	key := experimentKey(spec, in.ExperimentID, api.DriftJSONObject)
	if _, err := objstore.PutVerified(ctx, store, key, js); err != nil {
		return api.DriftResult{}, fmt.Errorf("write drift %s: %w", in.ExperimentID, err)
	}
	logger(ctx).Info("drift report written", "key", key, "previous", d.Previous, "summary", d.Summary)
	return api.DriftResult{Key: key, Previous: d.Previous, Identical: d.Previous != "" && d.CheckpointsIdentical && d.MetricsIdentical, Summary: d.Summary}, nil
}

func (a *Activities) compareRuns(ctx context.Context, store objstore.Store, d *Drift, cur *report.Report, training []api.TrainWorkflowResult, earlier []RunIndexEntry) error {
	prev := earlier[0]
	d.Previous, d.EarlierRuns = prev.ExperimentID, len(earlier)
	if prev.CodeVersion != d.CodeVersion {
		d.PreviousCodeVersion = prev.CodeVersion
	}
	var prevRep report.Report
	if err := readJSON(ctx, store, prev.ReportKey, prev.ReportSHA256, &prevRep); err != nil {
		return fmt.Errorf("read the report of %s: %w", prev.ExperimentID, err)
	}
	var prevMan Manifest
	if err := readJSON(ctx, store, prev.Manifest.Key, prev.Manifest.SHA256, &prevMan); err != nil {
		return fmt.Errorf("read the manifest of %s: %w", prev.ExperimentID, err)
	}

	// Checkpoints, chunk by chunk.
	prevCk := map[string]string{}
	for _, c := range prevMan.Checkpoints {
		prevCk[fmt.Sprintf("%s/%d", c.Agent, c.Chunk)] = c.SHA256
	}
	n := 0
	for _, t := range training {
		for i, c := range t.History {
			n++
			k := fmt.Sprintf("%s/%d", t.Agent, i)
			if prevCk[k] != c.Checkpoint.SHA256 {
				d.Differences = append(d.Differences, fmt.Sprintf("checkpoint %s chunk %d differs", t.Agent, i))
			}
		}
	}
	if n != len(prevMan.Checkpoints) {
		d.Differences = append(d.Differences, fmt.Sprintf("%d checkpoints, previously %d", n, len(prevMan.Checkpoints)))
	}
	d.CheckpointsIdentical = len(d.Differences) == 0

	// Every run's metrics, bit for bit.
	prevRuns := map[string]report.Run{}
	for _, r := range prevRep.Runs {
		prevRuns[runID(r)] = r
	}
	before := len(d.Differences)
	for _, r := range cur.Runs {
		p, ok := prevRuns[runID(r)]
		if !ok {
			d.Differences = append(d.Differences, "run "+runID(r)+" is new")
			continue
		}
		for _, m := range report.MetricNames {
			if math.Float64bits(p.Metrics[m]) != math.Float64bits(r.Metrics[m]) {
				d.Differences = append(d.Differences, fmt.Sprintf("run %s: %s %v, previously %v", runID(r), m, r.Metrics[m], p.Metrics[m]))
			}
		}
	}
	if len(cur.Runs) != len(prevRep.Runs) {
		d.Differences = append(d.Differences, fmt.Sprintf("%d runs, previously %d", len(cur.Runs), len(prevRep.Runs)))
	}
	d.MetricsIdentical = len(d.Differences) == before

	// Pooled means against the earlier runs' spread.
	history := []report.Report{prevRep}
	for _, e := range earlier[1:min(len(earlier), maxDriftHistory)] {
		var r report.Report
		if err := readJSON(ctx, store, e.ReportKey, e.ReportSHA256, &r); err == nil {
			history = append(history, r)
		}
	}
	for _, c := range cur.Controllers {
		for _, m := range report.TableMetrics {
			now, ok := c.Metrics[m]
			if !ok || now.N == 0 {
				continue
			}
			var means []float64
			var prevStat report.Stat
			for i, h := range history {
				for _, hc := range h.Controllers {
					if hc.Name == c.Name && hc.Metrics[m].N > 0 {
						means = append(means, hc.Metrics[m].Mean)
						if i == 0 {
							prevStat = hc.Metrics[m]
						}
					}
				}
			}
			if prevStat.N == 0 {
				continue
			}
			dm := DriftMetric{Controller: c.Name, Metric: m, Previous: prevStat.Mean, Current: now.Mean, Diff: now.Mean - prevStat.Mean}
			if len(means) >= 2 {
				dm.SpreadLow, dm.SpreadHigh = slices.Min(means), slices.Max(means)
			} else {
				dm.SpreadLow, dm.SpreadHigh = prevStat.CI95Low, prevStat.CI95High
			}
			dm.Within = now.Mean >= dm.SpreadLow && now.Mean <= dm.SpreadHigh
			d.Metrics = append(d.Metrics, dm)
		}
	}

	identical := d.CheckpointsIdentical && d.MetricsIdentical
	switch {
	case identical:
		d.Summary = fmt.Sprintf("Checkpoints and metrics are byte-identical to %s.", prev.ExperimentID)
	case d.PreviousCodeVersion != "":
		d.Summary = fmt.Sprintf("Differs from %s (%d differences); the code version changed from %s to %s.", prev.ExperimentID, len(d.Differences), d.PreviousCodeVersion, d.CodeVersion)
	default:
		d.Summary = fmt.Sprintf("Differs from %s (%d differences) with the same code version %s.", prev.ExperimentID, len(d.Differences), d.CodeVersion)
	}
	out := 0
	for _, m := range d.Metrics {
		if !m.Within {
			out++
		}
	}
	if len(d.Metrics) > 0 {
		d.Summary += fmt.Sprintf(" %d of %d controller metrics lie outside the earlier runs' spread.", out, len(d.Metrics))
	}
	return nil
}

func driftMarkdown(d *Drift) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Drift of %s\n\n%s\n\n", d.ExperimentID, d.Summary)
	if d.Previous == "" {
		return b.String()
	}
	fmt.Fprintf(&b, "Previous run %s of %d earlier runs of spec %s; code %s", d.Previous, d.EarlierRuns, d.SpecHash, d.CodeVersion)
	if d.PreviousCodeVersion != "" {
		fmt.Fprintf(&b, " (previously %s)", d.PreviousCodeVersion)
	}
	fmt.Fprintf(&b, ".\n\nCheckpoints identical: %t. Metrics identical: %t.\n\n", d.CheckpointsIdentical, d.MetricsIdentical)
	b.WriteString("| controller | metric | previous | current | diff | earlier spread | within |\n|---|---|---|---|---|---|---|\n")
	for _, m := range d.Metrics {
		fmt.Fprintf(&b, "| %s | %s | %.4g | %.4g | %+.4g | [%.4g, %.4g] | %t |\n", m.Controller, m.Metric, m.Previous, m.Current, m.Diff, m.SpreadLow, m.SpreadHigh, m.Within)
	}
	const shown = 20
	for i, diff := range d.Differences {
		if i == shown {
			fmt.Fprintf(&b, "- ... and %d more\n", len(d.Differences)-shown)
			break
		}
		if i == 0 {
			b.WriteString("\nDifferences:\n\n")
		}
		b.WriteString("- " + diff + "\n")
	}
	return b.String()
}
