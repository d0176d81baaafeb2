package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/grlscaler/grlscaler/experiment"
	"github.com/grlscaler/grlscaler/infra/objstore"
	"github.com/grlscaler/grlscaler/infra/objstore/objstoretest"
	"github.com/grlscaler/grlscaler/infra/temporaltest"
	"github.com/grlscaler/grlscaler/worker"
	"github.com/grlscaler/grlscaler/workflows/api"
)

// stageSpec is a small quickstart: two chunks, two scenarios, an agent,
// an HPA (with a validation seed) and static replicas.
const stageSpec = `apiVersion: grlscaler.io/v1alpha1
kind: Experiment
metadata:
  name: staged
spec:
  app: onlineboutique
  warmUp: {duration: 1m}
  agent:
    policy: gcn
    totalSteps: 1000
    chunkSteps: 500
    seed: 5
    hyperparameters: {nSteps: 250, batchSize: 50, epochs: 2}
  load: {trainingScenario: peak, evaluationScenarios: [peak, rushsale], duration: 2m}
  evaluation:
    controllers:
    - {name: agent, type: agent}
    - {name: hpa-cpu-50, type: hpa, hpa: cpu-50}
    - {name: static-2, type: static, replicas: 2}
    repetitions: 2
    validationSeeds: 1
  storage: {bucket: BUCKET, prefix: PREFIX}
  execution: {stageRunner: RUNNER, heartbeatTimeout: 5s}
`

// stageStack is a dev server, an S3 server and an in-process worker whose
// stage subprocesses are this test binary running as grlctl (TestMain).
type stageStack struct {
	tc    client.Client
	cfg   objstore.Config
	store *objstore.MinIOStore
	run   func(t *testing.T, spec *api.ExperimentSpec) api.ExperimentResult
}

func startStageStack(t *testing.T) *stageStack {
	t.Helper()
	tc, _ := temporaltest.StartDevServer(t)
	cfg := objstoretest.StartLocalServer(t)
	store, err := objstore.NewMinIO(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(envArgs, "stage") // the children run as grlctl, with their own arguments
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- worker.Run(ctx, worker.Options{Client: tc, Store: store, StageCommand: []string{os.Args[0], "stage"}, StageEnv: cfg.Environ()})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("worker: %v", err)
		}
	})
	return &stageStack{tc: tc, cfg: cfg, store: store, run: func(t *testing.T, spec *api.ExperimentSpec) api.ExperimentResult {
		t.Helper()
		rctx, rcancel := context.WithTimeout(context.Background(), 8*time.Minute)
		defer rcancel()
		var res api.ExperimentResult
		if err := startExperiment(t, rctx, tc, spec).Get(rctx, &res); err != nil {
			t.Fatalf("experiment %s (%s): %v", spec.Metadata.Name, spec.Spec.Execution.StageRunner, err)
		}
		return res
	}}
}

func stagedSpec(t *testing.T, bucket, prefix, runner string) *api.ExperimentSpec {
	t.Helper()
	doc := strings.NewReplacer("BUCKET", bucket, "PREFIX", prefix, "RUNNER", runner).Replace(stageSpec)
	spec, err := experiment.Parse("staged.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

// reportObjects returns every object under the experiment's reports/, by
// name.
func reportObjects(t *testing.T, store objstore.Store, prefix, id string) map[string][]byte {
	t.Helper()
	ctx := context.Background()
	objs, err := store.List(ctx, api.ExperimentKey(prefix, id, "reports")+"/")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, o := range objs {
		data, _, err := objstore.GetVerified(ctx, store, o.Key, "")
		if err != nil {
			t.Fatal(err)
		}
		out[path.Base(o.Key)] = data
	}
	return out
}

// TestSubprocessStagesGiveTheSameReportAsInProcess runs the same
// experiment twice, every stage in the worker and then every stage as a
// grlctl stage child process, and compares the reports byte for byte.
func TestSubprocessStagesGiveTheSameReportAsInProcess(t *testing.T) {
	s := startStageStack(t)
	s.run(t, stagedSpec(t, s.cfg.Bucket, "inproc", api.StageRunnerInProcess))
	s.run(t, stagedSpec(t, s.cfg.Bucket, "subproc", api.StageRunnerSubprocess))

	in, sub := reportObjects(t, s.store, "inproc", "staged"), reportObjects(t, s.store, "subproc", "staged")
	delete(in, "drift.json")
	delete(in, "drift.md")
	delete(sub, "drift.json") // the second run compares itself with the first
	delete(sub, "drift.md")
	if len(in) < 8 || len(in) != len(sub) {
		t.Fatalf("report objects: in process %d, subprocess %d", len(in), len(sub))
	}
	for name, data := range in {
		if !bytes.Equal(data, sub[name]) {
			t.Errorf("reports/%s differs between in-process and subprocess stages", name)
		}
	}
	// The stages really ran in child processes: their objects are there.
	ctx := context.Background()
	for prefix, want := range map[string]bool{"inproc": false, "subproc": true} {
		objs, err := s.store.List(ctx, api.ExperimentKey(prefix, "staged", "stages")+"/")
		if err != nil {
			t.Fatal(err)
		}
		if (len(objs) > 0) != want {
			t.Errorf("%s: %d stage objects", prefix, len(objs))
		}
	}
}

// childrenRunning returns the PIDs of this process's children whose
// command line contains all of words.
func childrenRunning(words ...string) []int {
	procs, _ := filepath.Glob("/proc/[0-9]*/stat")
	var pids []int
	for _, stat := range procs {
		b, err := os.ReadFile(stat)
		if err != nil {
			continue
		}
		var pid, ppid int
		var comm, state string
		if _, err := fmt.Sscanf(string(b), "%d %s %s %d", &pid, &comm, &state, &ppid); err != nil || ppid != os.Getpid() {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join(filepath.Dir(stat), "cmdline"))
		ok := true
		for _, w := range words {
			ok = ok && bytes.Contains(cmdline, []byte(w))
		}
		if ok {
			pids = append(pids, pid)
		}
	}
	return pids
}

// TestKilledSubprocessStageIsRetried kills a training chunk's child
// process with SIGKILL: the activity fails retryably, Temporal runs it
// again, and the experiment completes.
func TestKilledSubprocessStageIsRetried(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("needs /proc to find the stage process")
	}
	s := startStageStack(t)
	spec := stagedSpec(t, s.cfg.Bucket, "killed", api.StageRunnerSubprocess)
	spec.Metadata.Name = "killed"
	spec.Spec.Agent.TotalSteps, spec.Spec.Agent.ChunkSteps = 20000, 10000
	spec.Spec.Agent.Hyperparameters.NSteps = 500
	spec.Spec.Agent.Validation.Every = 0
	spec.Spec.Load.EvaluationScenarios = []string{"peak"}
	spec.Spec.Evaluation.Repetitions = 1

	killed := make(chan int, 1)
	go func() {
		deadline := time.Now().Add(3 * time.Minute)
		for time.Now().Before(deadline) {
			if pids := childrenRunning("stage", api.StageNameTrainChunk); len(pids) > 0 {
				time.Sleep(300 * time.Millisecond) // well into the chunk
				_ = syscall.Kill(pids[0], syscall.SIGKILL)
				killed <- pids[0]
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		close(killed)
	}()
	res := s.run(t, spec)
	if pid, ok := <-killed; !ok || pid == 0 {
		t.Fatal("no train-chunk stage process was seen to kill")
	}
	attempts := trainChunkAttempts(t, context.Background(), s.tc, "killed-train-agent")
	retried := 0
	for _, a := range attempts {
		if a > 1 {
			retried++
		}
	}
	if retried != 1 || res.Report.JSONKey == "" {
		t.Fatalf("TrainChunk attempts %v, report %q: want one chunk retried and a report", attempts, res.Report.JSONKey)
	}
}
