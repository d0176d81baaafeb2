package worker

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/grlscaler/grlscaler/activities"
	"github.com/grlscaler/grlscaler/experiment"
	"github.com/grlscaler/grlscaler/infra/objstore"
	"github.com/grlscaler/grlscaler/infra/objstore/objstoretest"
	"github.com/grlscaler/grlscaler/infra/temporaltest"
	"github.com/grlscaler/grlscaler/workflows/api"
)

const e2eSpec = `apiVersion: grlscaler.io/v1alpha1
kind: Experiment
metadata:
  name: e2e
spec:
  app: onlineboutique
  warmUp: {duration: 30s}
  agent:
    policy: gcn
    goal: slo
    totalSteps: 100
    chunkSteps: 50
    seed: 7
    hyperparameters: {nSteps: 50, batchSize: 25, epochs: 1}
  load:
    trainingScenario: peak
    evaluationScenarios: [peak]
    duration: 1m
  evaluation:
    controllers:
    - {name: agent, type: agent}
    - {name: hpa-cpu-50, type: hpa, hpa: cpu-50}
    repetitions: 1
    validationSeeds: 1
`

// TestExperimentRunsEndToEndOnTheLocalStack runs a small experiment
// through a real Temporal dev server, a real S3 server and this worker, and
// checks what the store holds afterwards.
func TestExperimentRunsEndToEndOnTheLocalStack(t *testing.T) {
	tc, _ := temporaltest.StartDevServer(t)
	cfg := objstoretest.StartLocalServer(t)
	store, err := objstore.NewMinIO(cfg)
	if err != nil {
		t.Fatal(err)
	}
	spec, err := experiment.Parse("e2e.yaml", []byte(e2eSpec))
	if err != nil {
		t.Fatal(err)
	}
	// Another bucket than the worker's own: the worker opens the spec's.
	spec.Spec.Storage.Bucket = "grl-e2e"

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- Run(ctx, Options{Client: tc, Store: store}) }()

	run, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "e2e", TaskQueue: api.TaskQueue}, api.ExperimentWorkflowName, *spec)
	if err != nil {
		t.Fatal(err)
	}
	var res api.ExperimentResult
	if err := run.Get(ctx, &res); err != nil {
		t.Fatalf("experiment failed: %v", err)
	}
	if res.SpecHash != api.SpecHash(spec) || res.Report.JSONKey == "" {
		t.Errorf("result %+v", res)
	}
	bucket, err := store.OpenBucket(ctx, spec.Spec.Storage.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := bucket.List(ctx, spec.Spec.Storage.Prefix+"/e2e/")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range objs {
		keys = append(keys, o.Key)
	}
	all := strings.Join(keys, "\n")
	for _, want := range []string{"/spec.json", "/checkpoints/agent/50.ckpt", "/checkpoints/agent/100.ckpt", "/evals/hpa-cpu-50/peak/", "/evals/agent/peak/", "/reports/report.json", "/reports/report.md"} {
		if !strings.Contains(all, want) {
			t.Errorf("store lacks %s; it holds:\n%s", want, all)
		}
	}
	checkManifest(t, ctx, bucket, res.Manifest, objs)
	cancel()
	if err := <-done; err != nil {
		t.Errorf("worker: %v", err)
	}
}

// checkManifest reads the manifest the experiment returned and checks that
// every object it lists has the listed checksum, that every chunk's
// checkpoint and every activity's log is listed, and that nothing stored
// is missing from it but the manifest and the manifest writer's own log.
func checkManifest(t *testing.T, ctx context.Context, store objstore.Store, ref api.ObjectRef, objs []objstore.ObjectInfo) {
	t.Helper()
	data, _, err := objstore.GetVerified(ctx, store, ref.Key, ref.SHA256)
	if err != nil {
		t.Fatalf("manifest: %v", err)
	}
	var m activities.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("manifest: %v", err)
	}
	if m.Outcome != api.OutcomeCompleted || m.Seed != 7 || m.SpecHash == "" || m.CodeVersion == "" {
		t.Errorf("manifest header: outcome %q seed %d hash %q code %q", m.Outcome, m.Seed, m.SpecHash, m.CodeVersion)
	}
	listed := map[string]bool{ref.Key: true}
	for _, c := range m.Checkpoints {
		if _, _, err := objstore.GetVerified(ctx, store, c.Key, c.SHA256); err != nil {
			t.Errorf("checkpoint %s: %v", c.Key, err)
		}
		listed[c.Key] = true
	}
	if len(m.Checkpoints) != 2 || m.Checkpoints[1].Step != 100 || m.Checkpoints[1].Chunk != 1 {
		t.Errorf("manifest checkpoints %+v, want chunks 0 and 1 up to step 100", m.Checkpoints)
	}
	kinds := map[string]int{}
	for _, a := range m.Artifacts {
		if _, _, err := objstore.GetVerified(ctx, store, a.Key, a.SHA256); err != nil {
			t.Errorf("%s %s: %v", a.Kind, a.Key, err)
		}
		kinds[a.Kind]++
		listed[a.Key] = true
		if a.Kind == activities.KindLog && strings.Contains(a.Key, "/"+api.TrainChunkActivityName+"-") {
			b, _, _ := objstore.GetVerified(ctx, store, a.Key, a.SHA256)
			if !strings.Contains(string(b), `msg="trained chunk"`) || !strings.Contains(string(b), "level=INFO") {
				t.Errorf("training log %s lacks the chunk's record:\n%s", a.Key, b)
			}
		}
	}
	// Logs: deploy, warm-up, 2 chunks, 4 evaluation runs (agent, HPA, and
	// both on their validation seed), report, drift, cleanup. Reports: JSON,
	// Markdown, CSV, HTML, 4 plots (replicas and p95 on peak, cost vs SLO,
	// training) and the drift report (JSON, Markdown).
	want := map[string]int{activities.KindSpec: 1, activities.KindChunkMetrics: 2, activities.KindSeries: 4, activities.KindReport: 10, activities.KindLog: 11}
	for k, n := range want {
		if kinds[k] != n {
			t.Errorf("manifest lists %d %s artifacts, want %d (all: %v)", kinds[k], k, n, kinds)
		}
	}
	for _, o := range objs {
		if !listed[o.Key] && !strings.Contains(o.Key, "/"+api.WriteManifestActivityName+"-") {
			t.Errorf("stored object %s is not in the manifest", o.Key)
		}
	}
}
