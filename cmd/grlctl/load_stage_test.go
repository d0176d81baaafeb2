package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grlscaler/grlscaler/activities"
	"github.com/grlscaler/grlscaler/experiment"
	"github.com/grlscaler/grlscaler/infra/objstore"
	"github.com/grlscaler/grlscaler/infra/objstore/objstoretest"
	"github.com/grlscaler/grlscaler/workflows/api"
)

const loadStageSpec = `apiVersion: grlscaler.io/v1alpha1
kind: Experiment
metadata:
  name: loaded
spec:
  app: onlineboutique
  cluster:
    mode: k8s
    stepPeriod: 2s
    k8s: {namespace: ob, prometheusURL: "http://127.0.0.1:1", linkerd: disabled}
  agent: {totalSteps: 32, chunkSteps: 16, hyperparameters: {nSteps: 16, batchSize: 8}}
  load:
    evaluationScenarios: [offpeak]
    locust: {runner: local, host: %q}
  storage: {bucket: %s}
  execution: {stageRunners: {load: subprocess}}
`

// TestLoadStageRunsLocustInAChildProcess runs the load stage the way a
// worker does with the subprocess runner: `grlctl stage load` (this test
// binary as grlctl) reads its input from the S3 server, runs Debian's
// Locust against a local HTTP target for the scenario, stores Locust's
// results and its output; the worker side reads them back.
func TestLoadStageRunsLocustInAChildProcess(t *testing.T) {
	if _, err := os.Stat("/usr/bin/locust"); err != nil {
		if testing.Short() {
			t.Skip("Locust is not installed (make debian-deps)")
		}
		t.Fatal("Locust is not installed: apt-get install python3-locust (make debian-deps does)")
	}
	var hits atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		_, _ = w.Write([]byte("ok"))
	}))
	defer target.Close()
	cfg := objstoretest.StartLocalServer(t)
	store, err := objstore.NewMinIO(cfg)
	if err != nil {
		t.Fatal(err)
	}
	spec, err := experiment.Parse("loaded.yaml", fmt.Appendf(nil, loadStageSpec, target.URL, cfg.Bucket))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(envArgs, "stage")
	acts := &activities.Activities{Store: store, StageCommand: []string{os.Args[0], "stage"}, StageEnv: cfg.Environ()}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := acts.RunLoad(ctx, api.LoadInput{
		ExperimentID: "loaded", Spec: *spec, Name: "load-loaded-eval-a1", Scenario: "offpeak", Duration: api.Duration(12 * time.Second),
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.State != "succeeded" || res.Requests == 0 || res.Requests > hits.Load() || res.ResultsKey == "" {
		t.Errorf("result %+v; the target saw %d requests", res, hits.Load())
	}
	if _, _, err := objstore.GetVerified(ctx, store, res.ResultsKey, res.SHA256); err != nil {
		t.Errorf("Locust results: %v", err)
	}
	t.Logf("Locust in the stage's child process sent %d requests (%.1f rps, p95 %.0f ms); the target saw %d", res.Requests, res.RPS, res.LatencyP95Ms, hits.Load())
}
