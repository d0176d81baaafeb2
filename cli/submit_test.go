package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/grlscaler/grlscaler/infra/objstore"
	"github.com/grlscaler/grlscaler/infra/objstore/objstoretest"
	"github.com/grlscaler/grlscaler/infra/temporaltest"
	"github.com/grlscaler/grlscaler/worker"
)

const tinySpec = `apiVersion: grlscaler.io/v1alpha1
kind: Experiment
metadata:
  name: cli-e2e
spec:
  app: redis
  warmUp: {duration: 0s}
  agent:
    policy: mlp
    goal: cost
    totalSteps: 50
    chunkSteps: 50
    hyperparameters: {nSteps: 50, batchSize: 25, epochs: 1}
  load:
    trainingScenario: peak
    evaluationScenarios: [peak]
    duration: 30s
  evaluation:
    controllers:
    - {name: agent, type: agent}
    - {name: static-1, type: static, replicas: 1}
    repetitions: 1
    validationSeeds: 1
  storage: {bucket: BUCKET}
`

// TestSubmitAndStatusAgainstTheLocalStack submits an experiment with
// grlctl to a real Temporal dev server served by a worker, waits for it,
// and reads its status as a script would.
func TestSubmitAndStatusAgainstTheLocalStack(t *testing.T) {
	tc, addr := temporaltest.StartDevServer(t)
	cfg := objstoretest.StartLocalServer(t)
	store, err := objstore.NewMinIO(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- worker.Run(ctx, worker.Options{Client: tc, Store: store}) }()
	// Stop the worker before the client and servers go (cleanups run after).
	defer func() {
		cancel()
		if err := <-stopped; err != nil {
			t.Errorf("worker: %v", err)
		}
	}()

	file := filepath.Join(t.TempDir(), "tiny.yaml")
	if err := os.WriteFile(file, []byte(strings.Replace(tinySpec, "BUCKET", cfg.Bucket, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runGrlctl(t, "submit", file, "--wait", "--address", addr, "-o", "json")
	if code != 0 {
		t.Fatalf("submit: exit %d: %s", code, errOut)
	}
	var sub map[string]any
	if err := json.Unmarshal([]byte(out), &sub); err != nil {
		t.Fatalf("submit output is not JSON: %v\n%s", err, out)
	}
	if sub["id"] != "cli-e2e" || sub["run_id"] == "" || sub["report"] == nil {
		t.Errorf("submit printed %v", sub)
	}
	code, out, errOut = runGrlctl(t, "status", "cli-e2e", "--address", addr, "-o", "json")
	if code != 0 {
		t.Fatalf("status: exit %d: %s", code, errOut)
	}
	var st map[string]any
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"id", "status", "stage", "chunk", "chunks", "steps"} {
		if _, ok := st[k]; !ok {
			t.Errorf("status lacks %q: %v", k, st)
		}
	}
	if st["status"] != "completed" {
		t.Errorf("status %v, want completed", st["status"])
	}
	if code, _, errOut := runGrlctl(t, "status", "no-such-experiment", "--address", addr); code != 2 || !strings.Contains(errOut, "no-such-experiment") {
		t.Errorf("status of an unknown experiment: exit %d, stderr %q; want 2 naming it", code, errOut)
	}
}
