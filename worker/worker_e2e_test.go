package worker

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

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
	spec.Spec.Storage.Bucket = cfg.Bucket

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
	objs, err := store.List(ctx, spec.Spec.Storage.Prefix+"/e2e/")
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
	cancel()
	if err := <-done; err != nil {
		t.Errorf("worker: %v", err)
	}
}
