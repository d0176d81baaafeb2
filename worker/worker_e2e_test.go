package worker

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/grlscaler/grlscaler/experiment"
	"github.com/grlscaler/grlscaler/infra/objstore"
	"github.com/grlscaler/grlscaler/infra/objstore/objstoretest"
	"github.com/grlscaler/grlscaler/workflows/api"
)

// EnvTemporal names the Temporal CLI binary the end-to-end tests run as a
// dev server; `make test` sets it after `make tools` builds the pin.
const EnvTemporal = "GRL_TEMPORAL"

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startDevServer runs `temporal server start-dev` on loopback with its
// state in a temp directory and returns a connected client.
func startDevServer(t *testing.T) client.Client {
	t.Helper()
	bin := os.Getenv(EnvTemporal)
	if _, err := os.Stat(bin); bin == "" || err != nil {
		if testing.Short() {
			t.Skipf("%s not set or missing: the Temporal dev server is not built (make tools)", EnvTemporal)
		}
		t.Fatalf("%s=%q: the Temporal dev server binary is missing; run `make tools` (or `make test`, which builds it)", EnvTemporal, bin)
	}
	port := freePort(t)
	cmd := exec.Command(bin, "server", "start-dev", "--ip", "127.0.0.1", "--port", fmt.Sprint(port),
		"--headless", "--db-filename", filepath.Join(t.TempDir(), "temporal.db"), "--log-level", "error")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start temporal dev server: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := client.Dial(client.Options{
			HostPort: fmt.Sprintf("127.0.0.1:%d", port),
			Logger:   Logger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))),
		})
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, err = c.CheckHealth(ctx, &client.CheckHealthRequest{})
			cancel()
			if err == nil {
				t.Cleanup(c.Close)
				return c
			}
			c.Close()
		}
		if time.Now().After(deadline) {
			t.Fatalf("temporal dev server on port %d not ready after 60s: %v", port, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

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
	tc := startDevServer(t)
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
