package worker

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/grlscaler/grlscaler/activities"
	"github.com/grlscaler/grlscaler/experiment"
	"github.com/grlscaler/grlscaler/infra/objstore"
	"github.com/grlscaler/grlscaler/infra/objstore/objstoretest"
	"github.com/grlscaler/grlscaler/infra/temporaltest"
	"github.com/grlscaler/grlscaler/workflows"
	"github.com/grlscaler/grlscaler/workflows/api"
)

var (
	record = flag.Bool("record", false,
		"TestRecordHistories: run experiments on the local stack and record their histories (see workflows/replay_test.go)")
	recordSet = flag.String("record-set", time.Now().UTC().Format("2006-01-02"),
		"TestRecordHistories: the set (subdirectory of "+historiesDir+") to record into, replacing its files")
)

// historiesDir holds the histories workflows.TestWorkflowsReplayRecordedHistories
// replays: one subdirectory per set, each the recording of one version of
// the workflows, with one JSON file per workflow run, named
// <workflow ID>.run<N>.json.
const historiesDir = "../workflows/testdata/histories"

// suggestContinueAsNewAfter is the history length from which the recording
// server suggests continue-as-new (the server's default is 4096 events).
// TrainWorkflow's history grows by 6 events per chunk, and it checks the
// suggestion after each chunk: at 12, its first run stops after two chunks
// and the recorded TrainWorkflows continue as new, through the same
// GetContinueAsNewSuggested path a long training takes in production.
const suggestContinueAsNewAfter = 12

// recordBucket is the spec's bucket for every recorded experiment.
const recordBucket = "grl-record"

// TestRecordHistories records the histories that the workflows package's
// replay test checks its workflows against. It runs only with -record:
//
//	GRL_VERSITYGW=$PWD/bin/versitygw-v1.8.0 GRL_TEMPORAL=$PWD/bin/temporal-v1.5.1 \
//	    go test ./worker -run TestRecordHistories -record [-record-set NAME]
//
// It records into historiesDir/NAME (default: today's date), replacing the
// files there and leaving the other sets alone. After a workflow change
// gated with workflow.GetVersion, record a new set and keep the old ones:
// experiments started before the change replay through the old branch.
// Delete old sets only after a change meant to be incompatible with
// running experiments.
func TestRecordHistories(t *testing.T) {
	if !*record {
		t.Skip("records workflow histories only with -record")
	}
	if *recordSet == "" || *recordSet != filepath.Base(*recordSet) || strings.HasPrefix(*recordSet, ".") {
		t.Fatalf("-record-set %q: want a plain directory name", *recordSet)
	}
	tc := startDevServerSuggestingContinueAsNew(t, suggestContinueAsNewAfter)
	store, err := objstore.NewMinIO(objstoretest.StartLocalServer(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- Run(ctx, Options{Client: tc, Store: store}) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("worker: %v", err)
		}
	})

	dir := filepath.Join(historiesDir, *recordSet)
	old, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range old {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}

	// Each case starts one experiment, as grlctl submit does, and checks
	// how it ended; then every run of it and of its children is recorded.
	for _, rc := range []struct {
		id string
		// spec edits the base spec.
		spec func(*api.Spec)
		// before runs after the start, while the experiment runs.
		before func(t *testing.T, ctx context.Context, id string)
		// plant runs before the start.
		plant func(t *testing.T, ctx context.Context, spec *api.ExperimentSpec)
		check func(t *testing.T, err error)
		// continueAsNew requires a TrainWorkflow that continued as new.
		continueAsNew bool
	}{
		{
			// Two agents (gcn and an mlp baseline), an HPA and a warm-up,
			// four chunks per agent: every stage, with continue-as-new.
			id: "completed",
			check: func(t *testing.T, err error) {
				if err != nil {
					t.Fatalf("experiment failed: %v", err)
				}
			},
			continueAsNew: true,
		},
		{
			// Cancelled while an agent's TrainChunk runs: the children are
			// cancelled and the deferred Cleanup and WriteManifest run.
			id: "canceled",
			spec: func(s *api.Spec) {
				s.Agent.TotalSteps, s.Agent.ChunkSteps = 2000, 1000
			},
			before: func(t *testing.T, ctx context.Context, id string) {
				waitForStartedTrainChunk(t, ctx, tc, id+"-train-agent")
				if err := tc.CancelWorkflow(ctx, id, ""); err != nil {
					t.Fatal(err)
				}
			},
			check: func(t *testing.T, err error) {
				var canceled *temporal.CanceledError
				if !errors.As(err, &canceled) {
					t.Fatalf("got %v, want a cancelled experiment", err)
				}
			},
		},
		{
			// DeployApp refuses replay mode with a non-retryable
			// NotImplemented error, before anything is deployed.
			id: "failed-deploy",
			spec: func(s *api.Spec) {
				s.Cluster.Mode = api.ModeReplay
				s.Cluster.Replay = &api.Replay{Dataset: "observations.csv"}
			},
			check: func(t *testing.T, err error) {
				if !hasApplicationErrorType(err, activities.ErrTypeNotImplemented) {
					t.Fatalf("got %v, want a %s error", err, activities.ErrTypeNotImplemented)
				}
			},
		},
		{
			// A corrupt checkpoint fails the gcn agent's second chunk
			// without retries: the mlp agent's training is cancelled and
			// the deferred Cleanup and WriteManifest run. The checkpoint of
			// the first chunk is planted before the start, and TrainChunk
			// reuses a checkpoint that is already stored.
			id: "failed-training",
			plant: func(t *testing.T, ctx context.Context, spec *api.ExperimentSpec) {
				bucket, err := store.OpenBucket(ctx, recordBucket)
				if err != nil {
					t.Fatal(err)
				}
				key := activities.CheckpointKey(spec, "failed-training", "agent", int64(spec.Spec.Agent.ChunkSteps))
				if _, err := objstore.PutVerified(ctx, bucket, key, []byte("not a checkpoint")); err != nil {
					t.Fatal(err)
				}
			},
			check: func(t *testing.T, err error) {
				if !hasApplicationErrorType(err, api.ErrTypeCorruptCheckpoint) {
					t.Fatalf("got %v, want a %s error", err, api.ErrTypeCorruptCheckpoint)
				}
			},
		},
	} {
		t.Run(rc.id, func(t *testing.T) {
			spec := recordSpec(t, rc.id, rc.spec)
			if rc.plant != nil {
				rc.plant(t, ctx, spec)
			}
			run, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
				ID:                    rc.id,
				TaskQueue:             api.TaskQueue,
				Memo:                  workflows.ExperimentMemo(spec),
				TypedSearchAttributes: workflows.StartSearchAttributes(spec),
			}, api.ExperimentWorkflowName, *spec)
			if err != nil {
				t.Fatal(err)
			}
			if rc.before != nil {
				rc.before(t, ctx, rc.id)
			}
			rc.check(t, run.Get(ctx, nil))

			runs := recordRuns(t, ctx, tc, dir, rc.id, run.GetRunID(), map[string]int{})
			if rc.continueAsNew && !runs.continued {
				t.Errorf("no TrainWorkflow continued as new; the recording server should suggest it after %d events", suggestContinueAsNewAfter)
			}
		})
	}
}

// recordSpec is a small experiment: onlineboutique on the twin, a 30s
// warm-up, a gcn agent and an mlp baseline trained for 200 steps in chunks
// of 50, and a 1m evaluation of both agents and the HPA on one scenario.
func recordSpec(t *testing.T, id string, edit func(*api.Spec)) *api.ExperimentSpec {
	t.Helper()
	doc := `apiVersion: grlscaler.io/v1alpha1
kind: Experiment
metadata:
  name: ` + id + `
spec:
  app: onlineboutique
  warmUp: {duration: 30s}
  agent:
    policy: gcn
    goal: slo
    totalSteps: 200
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
    - {name: mlp, type: agent, policy: mlp}
    - {name: hpa-cpu-50, type: hpa, hpa: cpu-50}
    repetitions: 1
    validationSeeds: 1
  storage: {bucket: ` + recordBucket + `}
`
	spec, err := experiment.Parse(id+".yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(&spec.Spec)
		if err := experiment.Validate(spec); err != nil {
			t.Fatalf("edited spec: %v", err)
		}
	}
	return spec
}

// waitForStartedTrainChunk polls the TrainWorkflow with workflow ID id
// until a TrainChunk activity of it has started.
func waitForStartedTrainChunk(t *testing.T, ctx context.Context, c client.Client, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for {
		desc, err := c.DescribeWorkflow(ctx, id, "")
		if err == nil {
			for _, a := range desc.RawResponse.GetPendingActivities() {
				if a.GetActivityType().GetName() == api.TrainChunkActivityName &&
					a.GetState() == enumspb.PENDING_ACTIVITY_STATE_STARTED {
					return
				}
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no TrainChunk of %s started: %v (last describe error: %v)", id, ctx.Err(), err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// hasApplicationErrorType reports whether err's chain holds an
// ApplicationError of type typ.
func hasApplicationErrorType(err error, typ string) bool {
	for err != nil {
		var ae *temporal.ApplicationError
		if !errors.As(err, &ae) {
			return false
		}
		if ae.Type() == typ {
			return true
		}
		err = ae.Unwrap()
	}
	return false
}

type recorded struct {
	// continued is set when a TrainWorkflow run continued as new.
	continued bool
}

// recordRuns writes into dir the history of run runID of workflow id, and then,
// recursively, of the run it continued as (if any) and of every child it
// started. n counts the runs written per workflow ID, which numbers the
// files.
func recordRuns(t *testing.T, ctx context.Context, c client.Client, dir, id, runID string, n map[string]int) recorded {
	t.Helper()
	var rec recorded
	h := closedHistory(t, ctx, c, id, runID)
	n[id]++
	writeHistory(t, filepath.Join(dir, fmt.Sprintf("%s.run%d.json", id, n[id])), id, h)

	for _, ev := range h.GetEvents() {
		if a := ev.GetChildWorkflowExecutionStartedEventAttributes(); a != nil {
			child := recordRuns(t, ctx, c, dir, a.GetWorkflowExecution().GetWorkflowId(), a.GetWorkflowExecution().GetRunId(), n)
			rec.continued = rec.continued || child.continued
		}
	}
	last := h.GetEvents()[len(h.GetEvents())-1]
	if a := last.GetWorkflowExecutionContinuedAsNewEventAttributes(); a != nil {
		if a.GetWorkflowType().GetName() == api.TrainWorkflowName {
			rec.continued = true
		}
		next := recordRuns(t, ctx, c, dir, id, a.GetNewExecutionRunId(), n)
		rec.continued = rec.continued || next.continued
	}
	return rec
}

// closedHistory returns the full history of a run, waiting (long poll)
// until the run has closed.
func closedHistory(t *testing.T, ctx context.Context, c client.Client, id, runID string) *historypb.History {
	t.Helper()
	h := &historypb.History{}
	it := c.GetWorkflowHistory(ctx, id, runID, true, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatalf("history of %s run %s: %v", id, runID, err)
		}
		h.Events = append(h.Events, ev)
	}
	if len(h.Events) == 0 {
		t.Fatalf("history of %s run %s is empty", id, runID)
	}
	return h
}

// writeHistory writes h as the replayer reads it: protojson of
// historypb.History, the format of `temporal workflow show --output json`
// (client.HistoryFromJSON reads it back, and accepts the standard
// SCREAMING_SNAKE enum names as well as the CLI's camelCase ones). It reads
// the file back and replays it, so that a bad recording fails here rather
// than in the workflows package.
func writeHistory(t *testing.T, path, id string, h *historypb.History) {
	t.Helper()
	data, err := temporalproto.CustomJSONMarshalOptions{Indent: " "}.Marshal(h)
	if err != nil {
		t.Fatalf("encode %s: %v", path, err)
	}
	data = append(data, '\n')
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	back, err := client.HistoryFromJSON(bytes.NewReader(data), client.HistoryJSONOptions{})
	if err != nil {
		t.Fatalf("read back %s: %v", path, err)
	}
	if !temporalproto.DeepEqual(h, back) {
		t.Fatalf("%s does not read back as the history it was written from", path)
	}
	r := sdkworker.NewWorkflowReplayer()
	workflows.Register(r)
	logger := tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err := r.ReplayWorkflowHistoryWithOptions(logger, back, sdkworker.ReplayWorkflowHistoryOptions{
		OriginalExecution: workflow.Execution{ID: id},
	}); err != nil {
		t.Fatalf("replay %s: %v", path, err)
	}
	t.Logf("recorded %s: %d events, %d bytes", filepath.Base(path), len(h.GetEvents()), len(data))
}

// startDevServerSuggestingContinueAsNew is temporaltest.StartDevServer
// with the server suggesting continue-as-new once a history holds after
// events. StartDevServer takes no server flags, and continue-as-new is
// otherwise suggested only after thousands of events.
func startDevServerSuggestingContinueAsNew(t *testing.T, after int) client.Client {
	t.Helper()
	bin := os.Getenv(temporaltest.EnvTemporal)
	if _, err := os.Stat(bin); bin == "" || err != nil {
		t.Fatalf("%s=%q: the Temporal dev server binary is missing; run `make tools`", temporaltest.EnvTemporal, bin)
	}
	port := freePort(t)
	args := []string{"server", "start-dev", "--ip", "127.0.0.1", "--port", fmt.Sprint(port),
		"--headless", "--db-filename", filepath.Join(t.TempDir(), "temporal.db"), "--log-level", "error",
		"--dynamic-config-value", fmt.Sprintf("limit.historyCount.suggestContinueAsNew=%d", after)}
	for _, name := range api.SearchAttributeNames {
		args = append(args, "--search-attribute", name+"=Keyword")
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start temporal dev server: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	hostPort := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := client.Dial(client.Options{
			HostPort: hostPort,
			Logger:   tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))),
		})
		if err == nil {
			hctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, err = c.CheckHealth(hctx, &client.CheckHealthRequest{})
			cancel()
			if err == nil {
				t.Cleanup(c.Close)
				return c
			}
			c.Close()
		}
		if time.Now().After(deadline) {
			t.Fatalf("temporal dev server on %s not ready after 60s: %v", hostPort, err)
		}
		time.Sleep(200 * time.Millisecond)
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
