package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/grlscaler/grlscaler/experiment"
	"github.com/grlscaler/grlscaler/infra/objstore"
	"github.com/grlscaler/grlscaler/infra/objstore/objstoretest"
	"github.com/grlscaler/grlscaler/infra/temporaltest"
	"github.com/grlscaler/grlscaler/worker"
	"github.com/grlscaler/grlscaler/workflows"
	"github.com/grlscaler/grlscaler/workflows/api"
)

// testDeadline bounds every wait in these tests: generous, because a
// loaded machine running the race detector is slow, and never reached when
// things work.
const testDeadline = 60 * time.Second

// Signals that drive fakeExperiment.
const (
	fakeQueue = "grlctl-test"
	// signalProgress carries the api.Progress the query reports next.
	signalProgress = "progress"
	// signalFinish carries "" to complete, or a failure message.
	signalFinish = "finish"
)

// fakeExperiment stands in for ExperimentWorkflow, registered under its
// name on fakeQueue, so that tests hold an experiment in any stage and end
// it as they choose: it answers the progress query with the last
// signalProgress (upserting GrlStage as the real one does), completes or
// fails on signalFinish, and closes as canceled when cancelled.
func fakeExperiment(ctx workflow.Context, _ api.ExperimentSpec) error {
	p := api.Progress{Stage: api.StageDeploy}
	if err := workflow.SetQueryHandler(ctx, api.ProgressQueryName, func() (api.Progress, error) { return p, nil }); err != nil {
		return err
	}
	stageKey := temporal.NewSearchAttributeKeyKeyword(api.SearchAttrStage)
	_, upsert := workflow.GetTypedSearchAttributes(ctx).GetKeyword(stageKey)
	var finish *string
	sel := workflow.NewSelector(ctx)
	sel.AddReceive(workflow.GetSignalChannel(ctx, signalProgress), func(c workflow.ReceiveChannel, _ bool) {
		c.Receive(ctx, &p)
		if upsert {
			_ = workflow.UpsertTypedSearchAttributes(ctx, stageKey.ValueSet(string(p.Stage)))
		}
	})
	sel.AddReceive(workflow.GetSignalChannel(ctx, signalFinish), func(c workflow.ReceiveChannel, _ bool) {
		var msg string
		c.Receive(ctx, &msg)
		finish = &msg
	})
	sel.AddReceive(ctx.Done(), func(workflow.ReceiveChannel, bool) {})
	for finish == nil && ctx.Err() == nil {
		sel.Select(ctx)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if *finish != "" {
		return temporal.NewNonRetryableApplicationError(*finish, "TestFailure", nil)
	}
	return nil
}

// stack is a Temporal dev server and an S3 server on loopback, served by
// the real worker (api.TaskQueue) and by fakeExperiment (fakeQueue).
type stack struct {
	tc    client.Client
	addr  string
	cfg   objstore.Config
	store *objstore.MinIOStore
}

func startStack(t *testing.T) *stack {
	t.Helper()
	tc, addr := temporaltest.StartDevServer(t)
	cfg := objstoretest.StartLocalServer(t)
	store, err := objstore.NewMinIO(cfg)
	if err != nil {
		t.Fatal(err)
	}
	fake := sdkworker.New(tc, fakeQueue, sdkworker.Options{})
	fake.RegisterWorkflowWithOptions(fakeExperiment, workflow.RegisterOptions{Name: api.ExperimentWorkflowName})
	if err := fake.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- worker.Run(ctx, worker.Options{Client: tc, Store: store}) }()
	// Registered after the servers' cleanups, so it runs before them.
	t.Cleanup(func() {
		fake.Stop()
		cancel()
		if err := <-stopped; err != nil {
			t.Errorf("worker: %v", err)
		}
	})
	return &stack{tc: tc, addr: addr, cfg: cfg, store: store}
}

// spec is tinySpec (app redis, policy mlp, goal cost, mode sim) named
// name, in the stack's bucket, edited by edit.
func (s *stack) spec(t *testing.T, name string, edit func(*api.Spec)) *api.ExperimentSpec {
	t.Helper()
	spec, err := experiment.Parse(name+".yaml", []byte(s.specDoc(name)))
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(&spec.Spec)
	}
	return spec
}

func (s *stack) specDoc(name string) string {
	return strings.Replace(strings.Replace(tinySpec, "BUCKET", s.cfg.Bucket, 1), "name: cli-e2e", "name: "+name, 1)
}

// submit runs tinySpec named name as a real experiment with grlctl submit
// and returns its spec.
func (s *stack) submit(t *testing.T, name string, wait bool) *api.ExperimentSpec {
	t.Helper()
	s.submitYAML(t, name, s.specDoc(name), wait)
	return s.spec(t, name, nil)
}

// submitYAML runs the experiment.yaml doc with grlctl submit.
func (s *stack) submitYAML(t *testing.T, name, doc string, wait bool) {
	t.Helper()
	file := filepath.Join(t.TempDir(), name+".yaml")
	if err := os.WriteFile(file, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"submit", file}
	if wait {
		args = append(args, "--wait")
	}
	if code, _, errOut := s.grlctl(t, args...); code != 0 {
		t.Fatalf("submit %s: exit %d: %s", name, code, errOut)
	}
}

// startFake starts fakeExperiment with the memo and search attributes
// grlctl submit gives a real one.
func (s *stack) startFake(t *testing.T, spec *api.ExperimentSpec) {
	t.Helper()
	_, err := s.tc.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{
		ID:                    spec.Metadata.Name,
		TaskQueue:             fakeQueue,
		Memo:                  workflows.ExperimentMemo(spec),
		TypedSearchAttributes: workflows.StartSearchAttributes(spec),
	}, api.ExperimentWorkflowName, *spec)
	if err != nil {
		t.Fatal(err)
	}
}

func (s *stack) signal(t *testing.T, id, name string, arg any) {
	t.Helper()
	if err := s.tc.SignalWorkflow(context.Background(), id, "", name, arg); err != nil {
		t.Fatalf("signal %s to %s: %v", name, id, err)
	}
}

// finish ends a fake experiment (failure "" completes it) and waits until
// it has closed.
func (s *stack) finish(t *testing.T, id, failure string) {
	t.Helper()
	s.signal(t, id, signalFinish, failure)
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	err := s.tc.GetWorkflow(ctx, id, "").Get(ctx, nil)
	if (err != nil) != (failure != "") {
		t.Fatalf("fake experiment %s ended with %v, want failure %q", id, err, failure)
	}
}

// grlctl runs grlctl against the stack's Temporal server.
func (s *stack) grlctl(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	return runGrlctl(t, append(args, "--address", s.addr)...)
}

// setS3Env points grlctl's S3 settings at the stack's server, with
// GRL_S3_BUCKET naming another bucket: commands must take the bucket from
// the experiment's memo.
func (s *stack) setS3Env(t *testing.T) {
	t.Setenv(objstore.EnvEndpoint, s.cfg.Endpoint)
	t.Setenv(objstore.EnvBucket, "not-the-experiments-bucket")
	t.Setenv(objstore.EnvAccessKey, s.cfg.AccessKey)
	t.Setenv(objstore.EnvSecretKey, s.cfg.SecretKey)
	t.Setenv(objstore.EnvRegion, s.cfg.Region)
}

// syncBuffer is a bytes.Buffer that a command running in the background
// writes while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// background runs grlctl against the stack in a goroutine; wait returns
// its exit code once it has returned (failing the test after
// testDeadline).
func (s *stack) background(t *testing.T, args ...string) (out, errOut *syncBuffer, wait func() int) {
	t.Helper()
	out, errOut = &syncBuffer{}, &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- Execute(ctx, append(args, "--address", s.addr), IO{Out: out, Err: errOut}) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return out, errOut, func() int {
		t.Helper()
		select {
		case code := <-done:
			done <- code
			return code
		case <-time.After(testDeadline):
			t.Fatalf("grlctl %s still running after %v; stdout:\n%s\nstderr:\n%s", strings.Join(args, " "), testDeadline, out, errOut)
			return -1
		}
	}
}

// eventually polls cond until it holds, failing the test with what()
// after testDeadline.
func eventually(t *testing.T, what func() string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testDeadline)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not after %v: %s", testDeadline, what())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// trainingProgress is a mid-training progress the fake experiment reports.
var trainingProgress = api.Progress{
	Stage: api.StageTrain, Chunk: 1, Chunks: 2, Steps: 50, TotalSteps: 100, LatestReward: -3.5, ETA: api.Duration(30 * time.Second),
}

// jsonLines decodes JSON lines, failing the test on anything else.
func jsonLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var recs []map[string]any
	for line := range strings.Lines(out) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("line %q is not a JSON object: %v", line, err)
		}
		recs = append(recs, rec)
	}
	return recs
}
