package activities

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"io"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/grlscaler/grlscaler/experiment"
	"github.com/grlscaler/grlscaler/infra/objstore"
	"github.com/grlscaler/grlscaler/model"
	"github.com/grlscaler/grlscaler/report"
	"github.com/grlscaler/grlscaler/workflows/api"
)

const testYAML = `apiVersion: grlscaler.io/v1alpha1
kind: Experiment
metadata:
  name: tiny
spec:
  app: onlineboutique
  cluster:
    mode: sim
    stepPeriod: 15s
  warmUp:
    duration: 1m
  agent:
    algorithm: ppo
    policy: gcn
    head: joint
    goal: slo
    slo: 500ms
    totalSteps: 100
    chunkSteps: 50
    episodeSteps: 25
    seed: 7
    hyperparameters:
      nSteps: 50
      batchSize: 25
      epochs: 1
  load:
    trainingScenario: peak
    evaluationScenarios: [peak]
    duration: 2m
  evaluation:
    controllers:
      - {name: agent, type: agent}
      - {name: hpa-cpu-50, type: hpa, hpa: cpu-50, minReplicas: 1, maxReplicas: 8}
      - {name: static-2, type: static, replicas: 2}
    repetitions: 2
    validationSeeds: 1
    slo: 500ms
`

const testID = "exp-1"

func testSpec(t *testing.T) api.ExperimentSpec {
	t.Helper()
	spec, err := experiment.Parse("tiny.yaml", []byte(testYAML))
	if err != nil {
		t.Fatalf("parse spec: %v", err)
	}
	return *spec
}

type env struct {
	*testsuite.TestActivityEnvironment
	acts   *Activities
	store  *objstore.Memory
	writes *countingStore
}

// countingStore counts the verified writes of every key, so tests can tell
// whether an activity recomputed an object.
type countingStore struct {
	*objstore.Memory
	mu   sync.Mutex
	puts map[string]int
}

func (c *countingStore) PutSHA256(ctx context.Context, key string, r io.Reader, size int64, contentType, sha256Hex string) (objstore.ObjectInfo, error) {
	c.mu.Lock()
	c.puts[key]++
	c.mu.Unlock()
	return c.Memory.PutSHA256(ctx, key, r, size, contentType, sha256Hex)
}

func (c *countingStore) count(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.puts[key]
}

func newEnv(t *testing.T) *env {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	e := s.NewTestActivityEnvironment()
	store := objstore.NewMemory()
	writes := &countingStore{Memory: store, puts: map[string]int{}}
	acts := &Activities{Store: writes}
	acts.Register(e)
	return &env{TestActivityEnvironment: e, acts: acts, store: store, writes: writes}
}

func trainChunk(t *testing.T, e *env, in api.TrainChunkInput) (api.TrainChunkResult, error) {
	t.Helper()
	v, err := e.ExecuteActivity(api.TrainChunkActivityName, in)
	if err != nil {
		return api.TrainChunkResult{}, err
	}
	var res api.TrainChunkResult
	if err := v.Get(&res); err != nil {
		t.Fatalf("decode result: %v", err)
	}
	return res, nil
}

func mustGet(t *testing.T, s objstore.Store, key, sha string) []byte {
	t.Helper()
	data, _, err := objstore.GetVerified(context.Background(), s, key, sha)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	return data
}

func TestTrainChunk(t *testing.T) {
	spec := testSpec(t)
	e := newEnv(t)
	in0 := api.TrainChunkInput{ExperimentID: testID, Spec: spec, Agent: "agent", Chunk: 0, Steps: 50}
	r0, err := trainChunk(t, e, in0)
	if err != nil {
		t.Fatalf("chunk 0: %v", err)
	}
	if want := "exp-1/checkpoints/agent/50.ckpt"; !strings.HasSuffix(r0.Checkpoint.Key, want) || r0.Checkpoint.Step != 50 {
		t.Fatalf("chunk 0 ref = %+v, want key ending %s at step 50", r0.Checkpoint, want)
	}
	data0 := mustGet(t, e.store, r0.Checkpoint.Key, r0.Checkpoint.SHA256)
	if int64(len(data0)) != r0.Checkpoint.Size {
		t.Fatalf("size %d, ref says %d", len(data0), r0.Checkpoint.Size)
	}
	if _, err := json.Marshal(r0); err != nil {
		t.Fatalf("result does not encode as JSON: %v", err)
	}

	// A retried chunk reuses the stored checkpoint without rewriting it.
	before, err := e.store.Stat(context.Background(), r0.Checkpoint.Key)
	if err != nil {
		t.Fatal(err)
	}
	writes := func() int { return e.writes.count(r0.Checkpoint.Key) }
	if writes() != 1 {
		t.Fatalf("checkpoint written %d times, want once", writes())
	}
	r0b, err := trainChunk(t, e, in0)
	if err != nil {
		t.Fatalf("retried chunk 0: %v", err)
	}
	after, _ := e.store.Stat(context.Background(), r0.Checkpoint.Key)
	if r0b.Checkpoint != r0.Checkpoint || after.LastModified != before.LastModified || after.ETag != before.ETag || writes() != 1 {
		t.Fatalf("retry changed the checkpoint: %+v vs %+v, %d writes", r0b.Checkpoint, r0.Checkpoint, writes())
	}
	if r0b != r0 {
		t.Fatalf("retried chunk's metrics %+v differ from the first attempt's %+v", r0b, r0)
	}

	// A resubmitted experiment with the same ID but another spec trains
	// again instead of reusing the stored checkpoint.
	other := spec
	other.Spec.Agent.Seed++
	rOther, err := trainChunk(t, e, api.TrainChunkInput{ExperimentID: testID, Spec: other, Agent: "agent", Chunk: 0, Steps: 50})
	if err != nil {
		t.Fatal(err)
	}
	if writes() != 2 || rOther.Checkpoint.Key != r0.Checkpoint.Key || rOther.Checkpoint.SHA256 == r0.Checkpoint.SHA256 {
		t.Fatalf("another spec reused the checkpoint: %d writes, %+v vs %+v", writes(), rOther.Checkpoint, r0.Checkpoint)
	}
	// Put the original back for the chunks below: trained again, same bytes.
	if r, err := trainChunk(t, e, in0); err != nil || r.Checkpoint != r0.Checkpoint || writes() != 3 {
		t.Fatalf("retraining the original chunk: %+v, %v, %d writes", r.Checkpoint, err, writes())
	}

	// Training heartbeats after every rollout but the last (whose result
	// follows at once): two rollouts, one heartbeat.
	heartbeats := 0
	e.SetOnActivityHeartbeatListener(func(*activity.Info, converter.EncodedValues) { heartbeats++ })
	if _, err := trainChunk(t, e, api.TrainChunkInput{ExperimentID: testID, Spec: spec, Agent: "heartbeat", Steps: 100}); err != nil || heartbeats != 1 {
		t.Fatalf("a two-rollout chunk heartbeated %d times (err %v), want 1", heartbeats, err)
	}

	in1 := api.TrainChunkInput{ExperimentID: testID, Spec: spec, Agent: "agent", Chunk: 1, Steps: 50, From: &r0.Checkpoint}
	r1, err := trainChunk(t, e, in1)
	if err != nil {
		t.Fatalf("chunk 1: %v", err)
	}
	if r1.Checkpoint.Step != 100 || !strings.HasSuffix(r1.Checkpoint.Key, "/100.ckpt") {
		t.Fatalf("chunk 1 ref = %+v", r1.Checkpoint)
	}
	data1 := mustGet(t, e.store, r1.Checkpoint.Key, r1.Checkpoint.SHA256)

	// Two chunks equal one uninterrupted run of 100 steps.
	tenv, err := trainingEnv(&spec, agentController(&spec, "agent"))
	if err != nil {
		t.Fatal(err)
	}
	tr, err := model.NewTrainer(tenv, model.Options{
		Policy: model.PolicyKind(spec.Spec.Agent.Policy), Head: model.HeadKind(spec.Spec.Agent.Head),
		Hyper: experiment.Hyperparameters(spec.Spec.Agent), Seed: spec.Spec.Agent.Seed,
		ServiceValues: perServiceCredit(&spec, actionSpace(&spec)),
	})
	if err != nil {
		t.Fatal(err)
	}
	eval, err := validationEvaluator(&spec, agentController(&spec, "agent"))
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.SetEvaluator(spec.Spec.Agent.Validation.Every, eval); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Train(context.Background(), 100, nil); err != nil {
		t.Fatal(err)
	}
	var whole bytes.Buffer
	if err := tr.Save(&whole); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(whole.Bytes(), data1) {
		t.Fatalf("chunked checkpoint (%d bytes) differs from an uninterrupted run (%d bytes)", len(data1), whole.Len())
	}
}

func TestTrainChunkCorruptFrom(t *testing.T) {
	spec := testSpec(t)
	e := newEnv(t)
	r0, err := trainChunk(t, e, api.TrainChunkInput{ExperimentID: testID, Spec: spec, Agent: "agent", Steps: 50})
	if err != nil {
		t.Fatal(err)
	}
	data := mustGet(t, e.store, r0.Checkpoint.Key, r0.Checkpoint.SHA256)
	bad := bytes.Clone(data)
	bad[len(bad)/2] ^= 0xff
	if _, err := objstore.PutBytes(context.Background(), e.store, r0.Checkpoint.Key, bad, ""); err != nil {
		t.Fatal(err)
	}
	_, err = trainChunk(t, e, api.TrainChunkInput{ExperimentID: testID, Spec: spec, Agent: "agent", Chunk: 1, Steps: 50, From: &r0.Checkpoint})
	var ae *temporal.ApplicationError
	if !errors.As(err, &ae) || ae.Type() != api.ErrTypeCorruptCheckpoint || !ae.NonRetryable() {
		t.Fatalf("err = %v, want a non-retryable %s application error", err, api.ErrTypeCorruptCheckpoint)
	}
}

func controllerNamed(t *testing.T, spec api.ExperimentSpec, name string) api.Controller {
	t.Helper()
	for _, c := range spec.Spec.Evaluation.Controllers {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no controller %s", name)
	return api.Controller{}
}

func TestEvaluateRun(t *testing.T) {
	spec := testSpec(t)
	e := newEnv(t)
	r0, err := trainChunk(t, e, api.TrainChunkInput{ExperimentID: testID, Spec: spec, Agent: "agent", Steps: 50})
	if err != nil {
		t.Fatal(err)
	}
	steps := int(spec.Spec.Load.Duration.Std() / spec.Spec.Cluster.StepPeriod.Std())
	for _, name := range []string{"hpa-cpu-50", "static-2", "agent"} {
		t.Run(name, func(t *testing.T) {
			in := api.EvaluateRunInput{ExperimentID: testID, Spec: spec, Controller: controllerNamed(t, spec, name), Scenario: "peak", Repetition: 0, Seed: 11}
			if name == "agent" {
				in.Checkpoint = &r0.Checkpoint
			}
			var res [2]api.EvaluateRunResult
			for i := range res {
				v, err := e.ExecuteActivity(api.EvaluateRunActivityName, in)
				if err != nil {
					t.Fatalf("evaluate: %v", err)
				}
				if err := v.Get(&res[i]); err != nil {
					t.Fatal(err)
				}
			}
			if res[0].SHA256 != res[1].SHA256 {
				t.Fatalf("same input, different series: %s vs %s", res[0].SHA256, res[1].SHA256)
			}
			data := mustGet(t, e.store, res[0].SeriesKey, res[0].SHA256)
			rows, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
			if err != nil {
				t.Fatalf("parse csv: %v", err)
			}
			if len(rows) != steps+1 {
				t.Fatalf("%d rows, want header + %d steps", len(rows), steps)
			}
			h := rows[0]
			if h[0] != "time_s" || h[len(h)-1] != "actions" || h[len(h)-2] != "error_rate" || h[len(h)-4] != "p95_ms" {
				t.Fatalf("header = %v", h)
			}
			series, err := report.ParseSeries(res[0].SeriesKey, bytes.NewReader(data))
			if err != nil || len(series.Services) != 11 || len(series.Replicas("frontend")) != steps {
				t.Fatalf("the report cannot read the series: %v", err)
			}
			m := res[0].Metrics
			if m.CostReplicaSeconds <= 0 || m.LatencyP95Ms <= 0 || m.LatencyP50Ms > m.LatencyP95Ms || m.LatencyP95Ms > m.LatencyP99Ms ||
				m.SLOViolationRate < 0 || m.SLOViolationRate > 1 || m.ErrorRate < 0 || m.ErrorRate > 1 ||
				m.CostCPUCoreSeconds <= 0 || m.ReplicasMean < 11 || m.ReplicasMax < 11 || m.LatencyMeanMs <= 0 || m.RecoveryTimeS < 0 {
				t.Fatalf("implausible metrics %+v", m)
			}
			if !res[0].Valid || res[0].Seed != 11 {
				t.Fatalf("run valid %v (%s), seed %d", res[0].Valid, res[0].InvalidReason, res[0].Seed)
			}
			if !strings.HasSuffix(res[0].SeriesKey, "exp-1/evals/"+name+"/peak/0.csv") {
				t.Fatalf("series key %s", res[0].SeriesKey)
			}
		})
	}
}

func TestDeployApp(t *testing.T) {
	spec := testSpec(t)
	e := newEnv(t)
	v, err := e.ExecuteActivity(api.DeployAppActivityName, api.DeployInput{ExperimentID: testID, Spec: spec})
	if err != nil {
		t.Fatalf("deploy: %v", err)
	}
	var res api.DeployResult
	if err := v.Get(&res); err != nil {
		t.Fatal(err)
	}
	if len(res.Services) == 0 || res.Edges == 0 {
		t.Fatalf("deploy result %+v", res)
	}
	want, _ := api.Canonical(&spec)
	if got := mustGet(t, e.store, experimentKey(&spec, testID, "spec.json"), ""); !bytes.Equal(got, want) {
		t.Fatal("stored spec is not the canonical JSON")
	}
	if _, err := e.ExecuteActivity(api.DeployAppActivityName, api.DeployInput{ExperimentID: testID, Spec: spec}); err != nil {
		t.Fatalf("second deploy: %v", err)
	}

	bad := spec
	bad.Spec.Agent.Policy = "transformer"
	_, err = e.ExecuteActivity(api.DeployAppActivityName, api.DeployInput{ExperimentID: testID, Spec: bad})
	var ae *temporal.ApplicationError
	if !errors.As(err, &ae) || ae.Type() != api.ErrTypeInvalidSpec || !ae.NonRetryable() {
		t.Fatalf("err = %v, want a non-retryable %s application error", err, api.ErrTypeInvalidSpec)
	}

	// A spec that skipped validation (k8s mode without its block) is
	// refused by the stage, not half-run.
	k8s := spec
	k8s.Spec.Cluster.Mode = api.ModeK8s
	_, err = e.ExecuteActivity(api.WarmUpActivityName, api.WarmUpInput{ExperimentID: testID, Spec: k8s})
	if !errors.As(err, &ae) || ae.Type() != api.ErrTypeInvalidSpec || !ae.NonRetryable() || !strings.Contains(err.Error(), "cluster.k8s") {
		t.Fatalf("k8s warm-up without cluster.k8s: err = %v, want a non-retryable %s application error naming cluster.k8s", err, api.ErrTypeInvalidSpec)
	}
}

func TestWarmUpAndCleanup(t *testing.T) {
	spec := testSpec(t)
	e := newEnv(t)
	v, err := e.ExecuteActivity(api.WarmUpActivityName, api.WarmUpInput{ExperimentID: testID, Spec: spec})
	if err != nil {
		t.Fatalf("warm up: %v", err)
	}
	var res api.WarmUpResult
	if err := v.Get(&res); err != nil {
		t.Fatal(err)
	}
	if res.Steps != 4 || res.LatencyP95Ms <= 0 {
		t.Fatalf("warm-up result %+v", res)
	}
	for range 2 {
		if _, err := e.ExecuteActivity(api.CleanupActivityName, api.CleanupInput{ExperimentID: testID, Spec: spec}); err != nil {
			t.Fatalf("cleanup: %v", err)
		}
	}
}

// TestWriteReport checks the stored report against numbers worked by hand:
// two HPA configurations, where the one that is better on the test runs is
// worse on the validation seeds (the report must pick by validation), an
// agent paired with the chosen HPA, and a dead static controller.
func TestWriteReport(t *testing.T) {
	spec := testSpec(t)
	spec.Spec.Evaluation.Controllers = []api.Controller{
		{Name: "agent", Type: api.ControllerAgent},
		{Name: "hpa-cpu-50", Type: api.ControllerHPA, HPA: "cpu-50"},
		{Name: "hpa-cpu-80", Type: api.ControllerHPA, HPA: "cpu-80"},
	}
	e := newEnv(t)
	// Every run has a small stored series; the report plots the first
	// test repetition of the agent and of the best HPA.
	run := func(ctrl, split string, rep int, cost, viol float64) api.EvaluateRunResult {
		key := SeriesKey(&spec, testID, ctrl, "peak", split, rep)
		csv := fmt.Sprintf("time_s,frontend_replicas,cart_replicas,p95_ms\n15,1,1,%g\n30,%d,1,90\n45,%d,2,80\n", 100+cost, rep+2, rep+3)
		info, err := objstore.PutVerified(context.Background(), e.store, key, []byte(csv))
		if err != nil {
			t.Fatal(err)
		}
		return api.EvaluateRunResult{Controller: ctrl, Scenario: "peak", Repetition: rep, Split: split, Seed: uint64(rep + 1), Valid: true,
			SeriesKey: key, SHA256: info.SHA256, Metrics: api.RunMetrics{CostReplicaSeconds: cost, SLOViolationRate: viol}}
	}
	runs := []api.EvaluateRunResult{
		// Test runs: cpu-80 looks best here, but must not be chosen on them.
		run("agent", "", 0, 10, 0.1), run("agent", "", 1, 12, 0.1), run("agent", "", 2, 9, 0.2), run("agent", "", 3, 11, 0.0),
		run("hpa-cpu-50", "", 0, 8, 0.2), run("hpa-cpu-50", "", 1, 11, 0.2), run("hpa-cpu-50", "", 2, 9, 0.2), run("hpa-cpu-50", "", 3, 8, 0.2),
		run("hpa-cpu-80", "", 0, 5, 0.0), run("hpa-cpu-80", "", 1, 5, 0.0), run("hpa-cpu-80", "", 2, 5, 0.0), run("hpa-cpu-80", "", 3, 5, 0.0),
		// Validation: cpu-50 violates less.
		run("hpa-cpu-50", api.SplitValidation, 0, 9, 0.05), run("hpa-cpu-80", api.SplitValidation, 0, 6, 0.3),
	}
	dead := run("hpa-cpu-80", "", 4, 5, 0)
	dead.Valid, dead.InvalidReason = false, "HPA hpa-cpu-80 had no usable metric for frontend during the whole run"
	runs = append(runs, dead)
	training := []api.TrainWorkflowResult{{Agent: "agent", Final: api.CheckpointRef{Step: 100},
		History: []api.TrainChunkResult{{Checkpoint: api.CheckpointRef{Step: 50}, MeanEpisodeReward: -2}, {Checkpoint: api.CheckpointRef{Step: 100}, MeanEpisodeReward: -1}}}}
	v, err := e.ExecuteActivity(api.WriteReportActivityName, api.ReportInput{ExperimentID: testID, Spec: spec, Runs: runs, Training: training})
	if err != nil {
		t.Fatalf("write report: %v", err)
	}
	var res api.ReportResult
	if err := v.Get(&res); err != nil {
		t.Fatal(err)
	}
	raw := mustGet(t, e.store, res.JSONKey, res.JSONSHA256)

	// The documented JSON shape, read without the Go types.
	var doc struct {
		SchemaVersion int    `json:"schema_version"`
		ExperimentID  string `json:"experiment_id"`
		Controllers   []struct {
			Name    string                        `json:"name"`
			Kind    string                        `json:"kind"`
			Valid   bool                          `json:"valid"`
			Metrics map[string]map[string]float64 `json:"metrics"`
		} `json:"controllers"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.SchemaVersion != report.SchemaVersion || doc.ExperimentID != testID || len(doc.Controllers) != 3 {
		t.Fatalf("report header: %+v", doc)
	}
	for _, c := range doc.Controllers {
		for _, m := range []string{"cost_replica_seconds", "slo_violation_rate", "latency_p95_ms", "error_rate", "scaling_actions"} {
			st, ok := c.Metrics[m]
			if !ok {
				t.Fatalf("%s lacks %s", c.Name, m)
			}
			for _, k := range []string{"mean", "std", "ci95_low", "ci95_high", "n"} {
				if _, ok := st[k]; !ok {
					t.Fatalf("%s %s lacks %s", c.Name, m, k)
				}
			}
		}
	}
	// hpa-cpu-50 cost [8, 11, 9, 8]: mean 9, s = sqrt(6/3) = 1.414214,
	// half = 3.182446*1.414214/2 = 2.250330.
	c50 := doc.Controllers[1].Metrics["cost_replica_seconds"]
	if doc.Controllers[1].Name != "hpa-cpu-50" || doc.Controllers[1].Kind != "hpa" || !doc.Controllers[1].Valid ||
		c50["n"] != 4 || c50["mean"] != 9 || math.Abs(c50["std"]-1.414214) > 1e-6 || math.Abs(c50["ci95_low"]-6.749670) > 1e-5 {
		t.Fatalf("hpa-cpu-50: %+v %v", doc.Controllers[1], c50)
	}
	if doc.Controllers[2].Valid || doc.Controllers[2].Metrics["cost_replica_seconds"]["n"] != 4 {
		t.Fatalf("hpa-cpu-80 with a dead run must be invalid and keep only its 4 valid runs: %+v", doc.Controllers[2])
	}

	var rep report.Report
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.BestHPA) != 1 || rep.BestHPA[0].Name != "hpa-cpu-50" {
		t.Fatalf("best HPA %+v, want hpa-cpu-50 (chosen on validation, not on the test runs)", rep.BestHPA)
	}
	// agent - hpa-cpu-50 cost, paired by repetition: d = [2, 1, 0, 3]:
	// mean 1.5, t = 2.323790, p = 0.102734 (see report's stats test).
	var cost *report.Comparison
	for i, c := range rep.Comparisons {
		if c.Metric == report.MetricCost {
			cost = &rep.Comparisons[i]
		}
	}
	if cost == nil || cost.Agent != "agent" || cost.Baseline != "hpa-cpu-50" || cost.N != 4 || cost.MeanDiff != 1.5 ||
		!cost.Inferred || math.Abs(*cost.T-2.323790) > 1e-5 || math.Abs(*cost.PValue-0.102734) > 1e-5 {
		t.Fatalf("cost comparison %+v", cost)
	}
	if len(rep.Training) != 1 || len(rep.Training[0].Chunks) != 2 || rep.Training[0].Chunks[1].Step != 100 {
		t.Fatalf("training %+v", rep.Training)
	}
	md := string(mustGet(t, e.store, res.MarkdownKey, res.MarkdownSHA256))
	for _, want := range []string{"| hpa-cpu-50 | hpa | yes | 4 |", "hpa-cpu-80 invalid: peak repetition 4: HPA hpa-cpu-80 had no usable metric", "| peak | hpa-cpu-50 |"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	if !strings.Contains(res.Summary, "best HPA (hpa-cpu-50)") {
		t.Errorf("summary %q does not name the best HPA", res.Summary)
	}
	wantPlots := []string{"cost-vs-slo.png", "p95-peak.png", "replicas-peak.png", "training.png"}
	if !slices.Equal(rep.Plots, wantPlots) {
		t.Errorf("plots %v, want %v", rep.Plots, wantPlots)
	}
	for _, p := range rep.Plots {
		if _, err := png.Decode(bytes.NewReader(mustGet(t, e.store, experimentKey(&spec, testID, "reports", p), ""))); err != nil {
			t.Errorf("plot %s: %v", p, err)
		}
	}
	page := string(mustGet(t, e.store, experimentKey(&spec, testID, api.ReportHTMLObject), ""))
	if strings.Count(page, "data:image/png;base64,") != len(wantPlots) || !strings.Contains(page, "hpa-cpu-80") {
		t.Errorf("report.html does not embed the %d plots or lacks a controller", len(wantPlots))
	}
	csvData := mustGet(t, e.store, experimentKey(&spec, testID, reportCSVObject), "")
	if !bytes.Contains(csvData, []byte("hpa-cpu-50,hpa,true,all,cost_replica_seconds,9,")) {
		t.Errorf("csv lacks the pooled cost row:\n%s", csvData)
	}
}

func writeManifest(t *testing.T, e *env, in api.ManifestInput) (api.ObjectRef, error) {
	t.Helper()
	v, err := e.ExecuteActivity(e.acts.WriteManifest, in)
	if err != nil {
		return api.ObjectRef{}, err
	}
	var ref api.ObjectRef
	if err := v.Get(&ref); err != nil {
		t.Fatal(err)
	}
	return ref, nil
}

func TestWriteManifestIndexesWhatWasStored(t *testing.T) {
	ctx := context.Background()
	spec := testSpec(t)
	put := func(e *env, rel, body string) api.ObjectRef {
		key := experimentKey(&spec, testID, rel)
		info, err := objstore.PutVerified(ctx, e.store, key, []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		return api.ObjectRef{Key: key, SHA256: info.SHA256, Size: info.Size}
	}
	for _, tc := range []struct {
		name string
		// tamper changes the store after the writers returned their refs.
		tamper  func(e *env)
		wantErr string
	}{
		{name: "every object indexed with its writer's checksum"},
		{
			name:    "a checkpoint overwritten after its chunk returned is refused",
			tamper:  func(e *env) { put(e, "checkpoints/agent/50.ckpt", "other bytes") },
			wantErr: "checkpoints/agent/50.ckpt has sha256",
		},
		{
			name: "a missing series is refused",
			tamper: func(e *env) {
				_ = e.store.Delete(ctx, experimentKey(&spec, testID, "evals/hpa/peak/0.csv"))
			},
			wantErr: "evals/hpa/peak/0.csv is missing",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			specRef := put(e, api.SpecObject, "{}")
			ck := put(e, "checkpoints/agent/50.ckpt", "ckpt")
			put(e, "checkpoints/agent/50.metrics.json", "{}")
			series := put(e, "evals/hpa/peak/0.csv", "t,replicas\n")
			put(e, "logs/exp-1/DeployApp-1-attempt1.log", "deployed\n")
			// Not written through PutVerified: no checksum to vouch for.
			if _, err := objstore.PutBytes(ctx, e.store, experimentKey(&spec, testID, "notes.txt"), []byte("x"), ""); err != nil {
				t.Fatal(err)
			}
			if tc.tamper != nil {
				tc.tamper(e)
			}
			in := api.ManifestInput{
				ExperimentID: testID, Spec: spec, Outcome: api.OutcomeCompleted, SpecObject: &specRef,
				Training: []api.TrainWorkflowResult{{Agent: "agent", Final: api.CheckpointRef{Key: ck.Key, SHA256: ck.SHA256, Step: 50},
					History: []api.TrainChunkResult{{Checkpoint: api.CheckpointRef{Key: ck.Key, SHA256: ck.SHA256, Size: ck.Size, Step: 50}}}}},
				Runs: []api.EvaluateRunResult{{Controller: "hpa", Scenario: "peak", SeriesKey: series.Key, SHA256: series.SHA256}},
			}
			ref, err := writeManifest(t, e, in)
			if tc.wantErr != "" {
				var appErr *temporal.ApplicationError
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.As(err, &appErr) || appErr.Type() != api.ErrTypeCorruptObject {
					t.Fatalf("err = %v, want a %s error containing %q", err, api.ErrTypeCorruptObject, tc.wantErr)
				}
				if _, err := e.store.Stat(ctx, experimentKey(&spec, testID, api.ManifestObject)); !errors.Is(err, objstore.ErrNotFound) {
					t.Fatalf("a manifest was written despite the mismatch: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var m Manifest
			if err := json.Unmarshal(mustGet(t, e.store, ref.Key, ref.SHA256), &m); err != nil {
				t.Fatal(err)
			}
			if len(m.Checkpoints) != 1 || m.Checkpoints[0].Key != ck.Key || m.Checkpoints[0].SHA256 != ck.SHA256 {
				t.Fatalf("checkpoints %+v", m.Checkpoints)
			}
			var got []string
			for _, a := range m.Artifacts {
				got = append(got, a.Kind+" "+strings.TrimPrefix(a.Key, experimentKey(&spec, testID)+"/"))
			}
			want := []string{"chunk-metrics checkpoints/agent/50.metrics.json", "series evals/hpa/peak/0.csv", "log logs/exp-1/DeployApp-1-attempt1.log", "spec spec.json"}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Fatalf("artifacts:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

func TestAnAgentControllerTrainsWithItsOwnCostWeight(t *testing.T) {
	spec := testSpec(t)
	w := 0.25
	spec.Spec.Evaluation.Controllers[0].CostWeight = &w
	a, err := lookupApp(&spec)
	if err != nil {
		t.Fatal(err)
	}
	own, err := trainingReward(&spec, a, agentController(&spec, "agent"))
	if err != nil {
		t.Fatal(err)
	}
	shared, err := rewardConfig(&spec, a)
	if err != nil {
		t.Fatal(err)
	}
	if own.CostWeight != 0.25 || shared.CostWeight != spec.Spec.Agent.CostWeight {
		t.Errorf("training cost weight %v (want 0.25), evaluation's %v (want the agent's %v)", own.CostWeight, shared.CostWeight, spec.Spec.Agent.CostWeight)
	}
}
