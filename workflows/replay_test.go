// Replay tests: every history under testdata/histories is replayed
// against the workflows as they are now, and any nondeterminism (a command
// the code now issues that the recorded history did not, or in another
// order) fails the test. The histories come from real runs on the local
// stack, one subdirectory per recorded version of the workflows: a
// completed experiment with two agents whose TrainWorkflows continue as
// new, one cancelled during training, one whose deploy fails and one whose
// training fails, each with all its child workflows and their runs.
//
//   - initial: the workflows before EvaluateWorkflow's validation runs
//     (GetVersion "validation-runs" at DefaultVersion).
//   - validation-runs: with them (version 1).
//
// To record a set (it replaces the files of that set only), run from the
// repository root:
//
//	GRL_VERSITYGW=$PWD/bin/versitygw-v1.8.0 GRL_TEMPORAL=$PWD/bin/temporal-v1.5.1 go test ./worker -run TestRecordHistories -record -record-set NAME
//
// Re-recording the existing sets is only right when a change is meant to
// be incompatible with the experiments already running (they would fail
// on the new code): then delete the old sets and record one new set.
// Otherwise gate the change with workflow.GetVersion, keep the old sets so
// that old runs are checked against the old branch, and record a new set,
// named after the change, for the new branch.

package workflows

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/grlscaler/grlscaler/workflows/api"
)

const historiesDir = "testdata/histories"

// recordedHistory is one recorded workflow run.
type recordedHistory struct {
	// name is <set>/<file>.
	name string
	// workflowID is the run's workflow ID, the file name's first part
	// (<workflow ID>.run<N>.json). ExperimentWorkflow derives its
	// children's IDs and activity inputs from it, so replay uses it too.
	workflowID string
	history    *historypb.History
}

func (h recordedHistory) workflowType() string {
	return h.history.GetEvents()[0].GetWorkflowExecutionStartedEventAttributes().GetWorkflowType().GetName()
}

func loadHistories(t *testing.T) []recordedHistory {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(historiesDir, "*", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no histories in %s; record them (see the comment at the top of this file)", historiesDir)
	}
	var hs []recordedHistory
	for _, f := range files {
		r, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		h, err := client.HistoryFromJSON(r, client.HistoryJSONOptions{})
		r.Close()
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if len(h.GetEvents()) == 0 || h.GetEvents()[0].GetWorkflowExecutionStartedEventAttributes() == nil {
			t.Fatalf("%s: not a workflow history (no WorkflowExecutionStarted event first)", f)
		}
		name, err := filepath.Rel(historiesDir, f)
		if err != nil {
			t.Fatal(err)
		}
		id, _, _ := strings.Cut(filepath.Base(f), ".")
		hs = append(hs, recordedHistory{name: filepath.ToSlash(name), workflowID: id, history: h})
	}
	return hs
}

// replay replays h on a new replayer with the workflows register
// registers. It returns what the SDK logged at
// warning level and above (a nondeterministic replay logs a "Workflow
// panic" with its stack) and the replay's error.
func replay(h recordedHistory, register func(worker.WorkflowReplayer)) (logs string, err error) {
	r := worker.NewWorkflowReplayer()
	register(r)
	var buf syncBuffer
	logger := tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn})))
	err = r.ReplayWorkflowHistoryWithOptions(logger, h.history, worker.ReplayWorkflowHistoryOptions{
		OriginalExecution: workflow.Execution{ID: h.workflowID},
	})
	return buf.String(), err
}

// syncBuffer is a bytes.Buffer that workflow goroutines can log into.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestWorkflowsReplayRecordedHistories(t *testing.T) {
	hs := loadHistories(t)
	types := map[string]bool{}
	for _, h := range hs {
		types[h.workflowType()] = true
		t.Run(h.name, func(t *testing.T) {
			if logs, err := replay(h, func(r worker.WorkflowReplayer) { Register(r) }); err != nil {
				t.Fatalf("%s (%s) no longer replays: %v\nSDK log:\n%s", h.name, h.workflowType(), err, logs)
			}
		})
	}
	// An incomplete recording would leave a workflow unguarded.
	for _, name := range []string{api.ExperimentWorkflowName, api.TrainWorkflowName, api.EvaluateWorkflowName} {
		if !types[name] {
			t.Errorf("no recorded history of %s in %s", name, historiesDir)
		}
	}
}

// deployAfterWarmUp is ExperimentWorkflow's opening with two activities
// swapped: the change the replay test exists to catch.
func deployAfterWarmUp(ctx workflow.Context, spec api.ExperimentSpec) (api.ExperimentResult, error) {
	id := workflow.GetInfo(ctx).WorkflowExecution.ID
	if err := workflow.UpsertMemo(ctx, ExperimentMemo(&spec)); err != nil {
		return api.ExperimentResult{}, err
	}
	if _, err := executeWarmUp(ctx, api.WarmUpInput{ExperimentID: id, Spec: spec}); err != nil {
		return api.ExperimentResult{}, err
	}
	_, err := executeDeploy(ctx, api.DeployInput{ExperimentID: id, Spec: spec})
	return api.ExperimentResult{}, err
}

// TestReplayRejectsReorderedActivities checks that the replay test can
// fail: a recorded experiment does not replay against a workflow that
// calls its first two activities in the other order.
func TestReplayRejectsReorderedActivities(t *testing.T) {
	var checked int
	for _, h := range loadHistories(t) {
		if h.workflowType() != api.ExperimentWorkflowName || !hasWarmUp(h.history) {
			continue
		}
		checked++
		t.Run(h.name, func(t *testing.T) {
			_, err := replay(h, func(r worker.WorkflowReplayer) {
				r.RegisterWorkflowWithOptions(deployAfterWarmUp, workflow.RegisterOptions{Name: api.ExperimentWorkflowName})
			})
			if err == nil {
				t.Fatal("a reordered workflow replays its old history without error")
			}
			// TMPRL1100 is the SDK's code for every nondeterminism error.
			if !strings.Contains(err.Error(), "TMPRL1100") {
				t.Errorf("got %v, want a nondeterminism error (TMPRL1100)", err)
			}
		})
	}
	if checked == 0 {
		t.Fatalf("no recorded ExperimentWorkflow history with a warm-up in %s", historiesDir)
	}
}

// hasWarmUp reports whether a history scheduled the WarmUp activity.
func hasWarmUp(h *historypb.History) bool {
	for _, ev := range h.GetEvents() {
		if ev.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName() == api.WarmUpActivityName {
			return true
		}
	}
	return false
}
