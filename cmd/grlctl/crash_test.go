package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/grlscaler/grlscaler/activities"
	"github.com/grlscaler/grlscaler/experiment"
	"github.com/grlscaler/grlscaler/infra/objstore"
	"github.com/grlscaler/grlscaler/infra/objstore/objstoretest"
	"github.com/grlscaler/grlscaler/infra/temporaltest"
	"github.com/grlscaler/grlscaler/workflows/api"
)

// crashSpec trains three chunks of 5000 steps (a few seconds each), so a
// test can kill a worker in the middle of the second one. The heartbeat
// timeout is the shortest allowed, so the lost attempt is retried soon.
const crashSpec = `apiVersion: grlscaler.io/v1alpha1
kind: Experiment
metadata:
  name: NAME
spec:
  app: onlineboutique
  warmUp: {duration: 0s}
  agent:
    policy: gcn
    goal: cost
    totalSteps: 15000
    chunkSteps: 5000
    seed: 11
    hyperparameters: {nSteps: 500, batchSize: 100, epochs: 2}
  load:
    trainingScenario: peak
    evaluationScenarios: [peak]
    duration: 1m
  evaluation:
    controllers:
    - {name: agent, type: agent}
    - {name: one, type: static, replicas: 1}
    repetitions: 1
    validationSeeds: 1
  storage: {bucket: BUCKET}
  execution: {heartbeatTimeout: 5s}
`

func loadSpec(t *testing.T, name, bucket string) *api.ExperimentSpec {
	t.Helper()
	doc := strings.NewReplacer("NAME", name, "BUCKET", bucket).Replace(crashSpec)
	spec, err := experiment.Parse(name+".yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

// process is a grlctl subprocess (this test binary, see TestMain).
type process struct {
	cmd *exec.Cmd
	log string
}

// startGrlctl runs grlctl args in a child process with env added to this
// process's environment; its output goes to a file in dir.
func startGrlctl(t *testing.T, dir string, env []string, args ...string) *process {
	t.Helper()
	logPath := filepath.Join(dir, fmt.Sprintf("grlctl-%s-%d.log", args[0], time.Now().UnixNano()))
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(append(os.Environ(), env...), envArgs+"="+strings.Join(args, "\n"))
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	p := &process{cmd: cmd, log: logPath}
	t.Cleanup(p.stop)
	return p
}

// kill kills the process with SIGKILL, as a crash would.
func (p *process) kill() {
	if p.cmd.ProcessState == nil {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
	}
}

// stop asks the process to stop (SIGTERM: grlctl dev then stops the
// servers it started) and kills it, and any child left, after a while.
func (p *process) stop() {
	if p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	exited := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(exited) }()
	select {
	case <-exited:
	case <-time.After(20 * time.Second):
		for _, pid := range childrenOf(p.cmd.Process.Pid) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		_ = p.cmd.Process.Kill()
		<-exited
	}
}

func (p *process) output(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(p.log)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// s3Env is the worker's object-store environment for cfg.
func s3Env(cfg objstore.Config) []string {
	return []string{
		"GRL_S3_ENDPOINT=" + cfg.Endpoint, "GRL_S3_BUCKET=" + cfg.Bucket,
		"GRL_S3_ACCESS_KEY=" + cfg.AccessKey, "GRL_S3_SECRET_KEY=" + cfg.SecretKey,
	}
}

// waitMidChunk waits until the agent's TrainWorkflow has finished chunk
// index chunk-1 and its next TrainChunk attempt is running.
func waitMidChunk(t *testing.T, ctx context.Context, c client.Client, trainID string, chunk int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		var p api.Progress
		if q, err := c.QueryWorkflow(ctx, trainID, "", api.ProgressQueryName); err == nil && q.Get(&p) == nil && p.Chunk == chunk {
			desc, err := c.DescribeWorkflow(ctx, trainID, "")
			if err == nil {
				for _, a := range desc.RawResponse.GetPendingActivities() {
					if a.GetActivityType().GetName() == api.TrainChunkActivityName &&
						a.GetState() == enumspb.PENDING_ACTIVITY_STATE_STARTED && a.GetAttempt() == 1 {
						return
					}
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s never ran chunk %d", trainID, chunk)
}

// trainChunkAttempts returns the final attempt number of every TrainChunk
// in workflow id's history (a retried activity's started event records its
// last attempt).
func trainChunkAttempts(t *testing.T, ctx context.Context, c client.Client, id string) []int32 {
	t.Helper()
	var attempts []int32
	it := c.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	scheduled := map[int64]bool{}
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if a := e.GetActivityTaskScheduledEventAttributes(); a != nil && a.GetActivityType().GetName() == api.TrainChunkActivityName {
			scheduled[e.GetEventId()] = true
		}
		if a := e.GetActivityTaskStartedEventAttributes(); a != nil && scheduled[a.GetScheduledEventId()] {
			attempts = append(attempts, a.GetAttempt())
		}
	}
	return attempts
}

// finalCheckpoint reads the experiment's manifest and returns the bytes of
// its last checkpoint.
func finalCheckpoint(t *testing.T, ctx context.Context, store objstore.Store, res api.ExperimentResult) ([]byte, activities.Manifest) {
	t.Helper()
	data, _, err := objstore.GetVerified(ctx, store, res.Manifest.Key, res.Manifest.SHA256)
	if err != nil {
		t.Fatalf("manifest of %s: %v", res.ExperimentID, err)
	}
	var m activities.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Checkpoints) == 0 {
		t.Fatalf("manifest of %s lists no checkpoint", res.ExperimentID)
	}
	last := m.Checkpoints[len(m.Checkpoints)-1]
	ckpt, _, err := objstore.GetVerified(ctx, store, last.Key, last.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return ckpt, m
}

func startExperiment(t *testing.T, ctx context.Context, c client.Client, spec *api.ExperimentSpec) client.WorkflowRun {
	t.Helper()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: spec.Metadata.Name, TaskQueue: api.TaskQueue}, api.ExperimentWorkflowName, *spec)
	if err != nil {
		t.Fatal(err)
	}
	return run
}

// TestWorkerKilledMidChunkResumesWithTheSameFinalCheckpoint kills the only
// worker with SIGKILL in the middle of the second training chunk and
// starts another: the experiment completes, only the interrupted chunk is
// run twice, and the final checkpoint is byte-identical to that of an
// uninterrupted run of the same spec.
func TestWorkerKilledMidChunkResumesWithTheSameFinalCheckpoint(t *testing.T) {
	tc, addr := temporaltest.StartDevServer(t)
	cfg := objstoretest.StartLocalServer(t)
	store, err := objstore.NewMinIO(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	env := s3Env(cfg)

	first := startGrlctl(t, dir, env, "worker", "--address", addr)
	crashed := loadSpec(t, "crashed", cfg.Bucket)
	run := startExperiment(t, ctx, tc, crashed)
	waitMidChunk(t, ctx, tc, "crashed-train-agent", 1)
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.cmd.Wait()

	second := startGrlctl(t, dir, env, "worker", "--address", addr)
	var res api.ExperimentResult
	if err := run.Get(ctx, &res); err != nil {
		t.Fatalf("experiment after the crash: %v\nworker log:\n%s", err, second.output(t))
	}
	attempts := trainChunkAttempts(t, ctx, tc, "crashed-train-agent")
	if fmt.Sprint(attempts) != "[1 2 1]" {
		t.Errorf("TrainChunk attempts %v, want [1 2 1]: only the interrupted chunk runs again", attempts)
	}

	clean := loadSpec(t, "clean", cfg.Bucket)
	var cleanRes api.ExperimentResult
	if err := startExperiment(t, ctx, tc, clean).Get(ctx, &cleanRes); err != nil {
		t.Fatalf("uninterrupted experiment: %v", err)
	}
	got, m := finalCheckpoint(t, ctx, store, res)
	want, _ := finalCheckpoint(t, ctx, store, cleanRes)
	if !bytes.Equal(got, want) {
		t.Errorf("final checkpoint after the crash (%d bytes) differs from the uninterrupted run's (%d bytes)", len(got), len(want))
	}
	if m.Outcome != api.OutcomeCompleted || len(m.Checkpoints) != 3 {
		t.Errorf("manifest: outcome %s, %d checkpoints", m.Outcome, len(m.Checkpoints))
	}
}

// childPIDs returns the PIDs of pid's children (Linux /proc).
func childPIDs(t *testing.T, pid int) []int {
	t.Helper()
	if _, err := os.Stat(fmt.Sprintf("/proc/%d/task", pid)); err != nil {
		t.Skipf("cannot list the children of %d without /proc: %v", pid, err)
	}
	return childrenOf(pid)
}

// childrenOf returns the PIDs of pid's children, from /proc.
func childrenOf(pid int) []int {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	var pids []int
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, s := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(s); err == nil {
				pids = append(pids, n)
			}
		}
	}
	return pids
}

// TestLocalStackKilledMidRunContinuesAfterRestart kills all of grlctl dev
// (the Temporal dev server, the S3 server and the worker, each with
// SIGKILL) in the middle of training, starts it again on the same state
// directory, and expects the experiment to complete.
func TestLocalStackKilledMidRunContinuesAfterRestart(t *testing.T) {
	temporalBin, s3Bin := os.Getenv(temporaltest.EnvTemporal), os.Getenv(objstoretest.EnvBinary)
	if temporalBin == "" || s3Bin == "" {
		if testing.Short() {
			t.Skip("the pinned Temporal CLI and versitygw are not built (make tools)")
		}
		t.Fatal("GRL_TEMPORAL and GRL_VERSITYGW must name the pinned binaries; run `make test`")
	}
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	tport, uiport, s3port := freePort(t), freePort(t), freePort(t)
	args := []string{"dev", "--dir", state, "--temporal", temporalBin, "--s3", s3Bin,
		"--temporal-port", strconv.Itoa(tport), "--ui-port", strconv.Itoa(uiport), "--s3-port", strconv.Itoa(s3port)}
	startDev := func() *process {
		p := startGrlctl(t, dir, nil, args...)
		deadline := time.Now().Add(2 * time.Minute)
		for {
			if _, err := os.Stat(filepath.Join(state, "ready")); err == nil {
				return p
			}
			if time.Now().After(deadline) {
				t.Fatalf("grlctl dev not ready:\n%s", p.output(t))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	dial := func() client.Client {
		c, err := client.Dial(client.Options{HostPort: fmt.Sprintf("127.0.0.1:%d", tport), Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	dev := startDev()
	c := dial()
	spec := loadSpec(t, "stack-crash", "grlscaler")
	run := startExperiment(t, ctx, c, spec)
	waitMidChunk(t, ctx, c, "stack-crash-train-agent", 1)
	children := childPIDs(t, dev.cmd.Process.Pid)
	for _, pid := range children {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	dev.kill()
	c.Close()
	if len(children) < 2 {
		t.Fatalf("grlctl dev had %d child processes, want the Temporal and S3 servers", len(children))
	}
	_ = os.Remove(filepath.Join(state, "ready")) // a killed dev cannot remove it

	dev = startDev()
	c = dial()
	defer c.Close()
	var res api.ExperimentResult
	if err := c.GetWorkflow(ctx, spec.Metadata.Name, run.GetRunID()).Get(ctx, &res); err != nil {
		t.Fatalf("experiment after the restart: %v\n%s", err, dev.output(t))
	}
	if res.Manifest.Key == "" || res.Report.JSONKey == "" {
		t.Errorf("result after the restart lacks the manifest or report: %+v", res)
	}
}

// TestNoSecretInHistoryLogsOrObjects runs an experiment on a worker whose
// environment holds a K8S_TOKEN and the S3 keys, and looks for them in the
// workflow histories, the worker's output and every stored object.
func TestNoSecretInHistoryLogsOrObjects(t *testing.T) {
	tc, addr := temporaltest.StartDevServer(t)
	cfg := objstoretest.StartLocalServer(t)
	store, err := objstore.NewMinIO(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	token := "k8s-token-marker-5f1d0c7a9e"
	w := startGrlctl(t, t.TempDir(), append(s3Env(cfg), "K8S_TOKEN="+token), "worker", "--address", addr)
	spec := loadSpec(t, "secrets", cfg.Bucket)
	spec.Spec.Agent.TotalSteps, spec.Spec.Agent.ChunkSteps = 1000, 500
	var res api.ExperimentResult
	if err := startExperiment(t, ctx, tc, spec).Get(ctx, &res); err != nil {
		t.Fatalf("experiment: %v\n%s", err, w.output(t))
	}
	markers := map[string]string{"K8S_TOKEN": token, "S3 access key": cfg.AccessKey, "S3 secret key": cfg.SecretKey}
	look := func(where string, data []byte) {
		for name, m := range markers {
			if bytes.Contains(data, []byte(m)) {
				t.Errorf("the %s appears in %s", name, where)
			}
		}
	}

	for _, id := range []string{"secrets", "secrets-train-agent", "secrets-evaluate"} {
		var h historypb.History
		it := tc.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			e, err := it.Next()
			if err != nil {
				t.Fatal(err)
			}
			h.Events = append(h.Events, e)
		}
		js, err := protojson.Marshal(&h)
		if err != nil {
			t.Fatal(err)
		}
		if len(h.Events) == 0 {
			t.Fatalf("no history for %s", id)
		}
		look("the history of "+id, js)
	}
	w.kill()
	look("the worker's output", []byte(w.output(t)))

	objs, err := store.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	logs := 0
	for _, o := range objs {
		data, _, err := objstore.GetBytes(ctx, store, o.Key)
		if err != nil {
			t.Fatal(err)
		}
		look("object "+o.Key, data)
		if strings.Contains(o.Key, "/logs/") {
			logs++
		}
	}
	if logs == 0 || len(objs) < 10 {
		t.Fatalf("the store holds %d objects, %d of them logs: the experiment stored too little to check", len(objs), logs)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// quietLogger keeps the SDK's connection warnings out of the test output
// while the stack restarts.
func quietLogger() tlog.Logger {
	return tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
}
