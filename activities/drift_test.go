package activities

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/grlscaler/grlscaler/infra/objstore"
	"github.com/grlscaler/grlscaler/workflows/api"
)

// completeRun runs the report, drift and manifest activities of one
// experiment as the workflow does, and returns its drift.
func completeRun(t *testing.T, e *env, spec api.ExperimentSpec, id string, cost float64, ckptSHA string) api.DriftResult {
	t.Helper()
	var runs []api.EvaluateRunResult
	for rep := range 2 {
		runs = append(runs, api.EvaluateRunResult{Controller: "static-2", Scenario: "peak", Repetition: rep, Seed: uint64(rep), Valid: true,
			Metrics: api.RunMetrics{CostReplicaSeconds: cost + float64(rep), SLOViolationRate: 0.1}})
	}
	training := []api.TrainWorkflowResult{{Agent: "agent", History: []api.TrainChunkResult{{Checkpoint: api.CheckpointRef{Key: "k", SHA256: ckptSHA, Step: 50}}}}}
	v, err := e.ExecuteActivity(api.WriteReportActivityName, api.ReportInput{ExperimentID: id, Spec: spec, Runs: runs})
	if err != nil {
		t.Fatal(err)
	}
	var rep api.ReportResult
	if err := v.Get(&rep); err != nil {
		t.Fatal(err)
	}
	v, err = e.ExecuteActivity(api.WriteDriftActivityName, api.DriftInput{ExperimentID: id, Spec: spec, Training: training, Report: rep})
	if err != nil {
		t.Fatalf("drift of %s: %v", id, err)
	}
	var drift api.DriftResult
	if err := v.Get(&drift); err != nil {
		t.Fatal(err)
	}
	// The manifest indexes the completed run (its checkpoint is not in the
	// fake store, so index it directly as WriteManifest does).
	if err := indexRun(context.Background(), e.store, &spec, id, api.ObjectRef{Key: manifestFor(t, e, spec, id, training), SHA256: ""}, &rep); err != nil {
		t.Fatal(err)
	}
	return drift
}

// manifestFor stores a minimal manifest listing the training checkpoints.
func manifestFor(t *testing.T, e *env, spec api.ExperimentSpec, id string, training []api.TrainWorkflowResult) string {
	t.Helper()
	m := Manifest{SchemaVersion: ManifestSchemaVersion, ExperimentID: id}
	for _, tr := range training {
		for i, c := range tr.History {
			m.Checkpoints = append(m.Checkpoints, ManifestCheckpoint{Agent: tr.Agent, Chunk: i, SHA256: c.Checkpoint.SHA256})
		}
	}
	data, _ := json.Marshal(m)
	key := experimentKey(&spec, id, api.ManifestObject)
	if _, err := putVerified(e, key, data); err != nil {
		t.Fatal(err)
	}
	return key
}

func TestDriftComparesWithThePreviousRunOfTheSameSpec(t *testing.T) {
	spec := testSpec(t)
	e := newEnv(t)
	first := completeRun(t, e, spec, "run-1", 100, "aa")
	if first.Previous != "" || first.Identical || !strings.Contains(first.Summary, "First completed run") {
		t.Fatalf("first run's drift %+v", first)
	}
	same := completeRun(t, e, spec, "run-2", 100, "aa")
	if same.Previous != "run-1" || !same.Identical || !strings.Contains(same.Summary, "byte-identical to run-1") {
		t.Fatalf("identical run's drift %+v", same)
	}
	changed := completeRun(t, e, spec, "run-3", 500, "bb")
	if changed.Previous != "run-2" || changed.Identical {
		t.Fatalf("changed run's drift %+v", changed)
	}
	var d Drift
	if err := json.Unmarshal(mustGet(t, e.store, changed.Key, ""), &d); err != nil {
		t.Fatal(err)
	}
	if d.CheckpointsIdentical || d.MetricsIdentical || d.EarlierRuns != 2 || d.PreviousCodeVersion != "" {
		t.Fatalf("drift %+v", d)
	}
	var cost *DriftMetric
	for i, m := range d.Metrics {
		if m.Controller == "static-2" && m.Metric == "cost_replica_seconds" {
			cost = &d.Metrics[i]
		}
	}
	if cost == nil || cost.Previous != 100.5 || cost.Current != 500.5 || cost.Diff != 400 || cost.Within {
		t.Fatalf("cost drift %+v, want 100.5 -> 500.5 outside the earlier spread", cost)
	}
	if !strings.Contains(strings.Join(d.Differences, "\n"), "checkpoint agent chunk 0 differs") {
		t.Fatalf("differences %v", d.Differences)
	}
	// Another spec hash has its own history.
	other := spec
	other.Spec.Agent.Seed++
	if fresh := completeRun(t, e, other, "run-4", 100, "aa"); fresh.Previous != "" {
		t.Fatalf("a run of another spec compared itself with %s", fresh.Previous)
	}
}

func putVerified(e *env, key string, data []byte) (objstore.ObjectInfo, error) {
	return objstore.PutVerified(context.Background(), e.store, key, data)
}
