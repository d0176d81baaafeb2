package worker

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/grlscaler/grlscaler/activities"
	"github.com/grlscaler/grlscaler/experiment"
	"github.com/grlscaler/grlscaler/infra/objstore"
	"github.com/grlscaler/grlscaler/infra/objstore/objstoretest"
	"github.com/grlscaler/grlscaler/infra/temporaltest"
	"github.com/grlscaler/grlscaler/workflows/api"
)

const sweepSpec = `apiVersion: grlscaler.io/v1alpha1
kind: Experiment
metadata:
  name: sweep
spec:
  app: redis
  warmUp: {duration: 0s}
  agent:
    policy: gcn
    goal: cost
    totalSteps: 200
    chunkSteps: 50
    hyperparameters: {nSteps: 50, batchSize: 25, epochs: 1}
  load: {trainingScenario: peak, evaluationScenarios: [peak], duration: 1m}
  evaluation:
    controllers:
    - {name: agent, type: agent}
    - {name: hpa-cpu-50, type: hpa, hpa: cpu-50}
    repetitions: 1
    validationSeeds: 1
  matrix: {seeds: [1, 2], policies: [gcn, mlp], concurrency: 4}
`

// TestSweepRunsEveryCombinationOnTwoWorkers runs a 2 seeds x 2 policies
// sweep on the twin with two workers (each its own client identity)
// sharing the training queue: four experiments complete, the sweep report
// aggregates each policy over its two seeds, and training chunks ran on
// both workers.
func TestSweepRunsEveryCombinationOnTwoWorkers(t *testing.T) {
	_, addr := temporaltest.StartDevServer(t)
	cfg := objstoretest.StartLocalServer(t)
	store, err := objstore.NewMinIO(cfg)
	if err != nil {
		t.Fatal(err)
	}
	spec, err := experiment.Parse("sweep.yaml", []byte(sweepSpec))
	if err != nil {
		t.Fatal(err)
	}
	spec.Spec.Storage.Bucket = cfg.Bucket

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	quiet := tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	var workers []chan error
	var tc client.Client
	for _, identity := range []string{"worker-a", "worker-b"} {
		c, err := client.Dial(client.Options{HostPort: addr, Identity: identity, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		tc = c
		done := make(chan error, 1)
		go func() { done <- Run(ctx, Options{Client: c, Store: store}) }()
		workers = append(workers, done)
	}

	run, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "sweep", TaskQueue: api.TaskQueue}, api.SweepWorkflowName, *spec)
	if err != nil {
		t.Fatal(err)
	}
	var res api.SweepResult
	if err := run.Get(ctx, &res); err != nil {
		t.Fatalf("sweep: %v", err)
	}
	if len(res.Failed) != 0 {
		t.Fatalf("failed experiments %v", res.Failed)
	}
	data, _, err := objstore.GetVerified(ctx, store, res.Report.JSONKey, res.Report.JSONSHA256)
	if err != nil {
		t.Fatal(err)
	}
	var sw activities.Sweep
	if err := json.Unmarshal(data, &sw); err != nil {
		t.Fatal(err)
	}
	want := []string{"sweep-seed1-gcn", "sweep-seed1-mlp", "sweep-seed2-gcn", "sweep-seed2-mlp"}
	if len(sw.Members) != len(want) {
		t.Fatalf("members %+v", sw.Members)
	}
	for i, m := range sw.Members {
		if m.Name != want[i] || m.Report == "" || m.Error != "" {
			t.Errorf("member %d: %+v, want %s completed", i, m, want[i])
		}
	}
	cells := map[string]activities.SweepCell{}
	for _, c := range sw.Cells {
		cells[c.Group+"/"+c.Controller+"/"+c.Metric] = c
	}
	for _, group := range []string{"policy=gcn", "policy=mlp"} {
		for _, ctrl := range []string{"agent", "hpa-cpu-50"} {
			if c, ok := cells[group+"/"+ctrl+"/cost_replica_seconds"]; !ok || c.Stat.N != 2 {
				t.Errorf("%s %s cost: %+v, want the mean of 2 seeds", group, ctrl, c)
			}
		}
	}

	// Training chunks of the four experiments ran on both workers.
	identities := map[string]int{}
	for _, id := range want {
		it := tc.GetWorkflowHistory(ctx, id+"-train-agent", "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			e, err := it.Next()
			if err != nil {
				t.Fatal(err)
			}
			if a := e.GetActivityTaskStartedEventAttributes(); a != nil {
				identities[a.GetIdentity()]++
			}
		}
	}
	if identities["worker-a"] == 0 || identities["worker-b"] == 0 {
		t.Errorf("training chunks per worker: %v; want both workers to train", identities)
	}
	t.Logf("training chunks per worker: %v", identities)
	cancel()
	for _, done := range workers {
		if err := <-done; err != nil {
			t.Errorf("worker: %v", err)
		}
	}
}
