package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/grlscaler/grlscaler/workflows/api"
)

// TestWatchFollowsProgressUntilTheExperimentCloses watches a fake
// experiment through a stage change to each possible ending, and checks the
// JSON lines (one per change, with status's keys) and the exit code.
func TestWatchFollowsProgressUntilTheExperimentCloses(t *testing.T) {
	s := startStack(t)
	cases := []struct {
		name       string
		end        func(t *testing.T, id string)
		wantStatus string
		wantCode   int
		wantErr    []string
	}{
		{"completed", func(t *testing.T, id string) { s.signal(t, id, signalFinish, "") }, "completed", 0, nil},
		{"failed", func(t *testing.T, id string) { s.signal(t, id, signalFinish, "reward diverged") }, "failed", 1, []string{"failed", "reward diverged"}},
		{"terminated", func(t *testing.T, id string) {
			if err := s.tc.TerminateWorkflow(context.Background(), id, "", "operator stop"); err != nil {
				t.Fatal(err)
			}
		}, "terminated", 1, []string{"terminated", "operator stop"}},
		{"canceled", func(t *testing.T, id string) {
			if err := s.tc.CancelWorkflow(context.Background(), id, ""); err != nil {
				t.Fatal(err)
			}
		}, "canceled", 1, []string{"canceled"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := "watch-" + tc.name
			s.startFake(t, s.spec(t, id, nil))
			out, errOut, wait := s.background(t, "watch", id, "-o", "json", "--interval", "20ms")
			eventually(t, func() string { return "no first line: " + out.String() + errOut.String() },
				func() bool { return strings.Contains(out.String(), `"stage":"deploy"`) })
			s.signal(t, id, signalProgress, trainingProgress)
			eventually(t, func() string { return "no training line: " + out.String() + errOut.String() },
				func() bool { return strings.Contains(out.String(), `"stage":"train"`) })
			tc.end(t, id)
			if code := wait(); code != tc.wantCode {
				t.Errorf("exit %d, want %d; stderr: %s", code, tc.wantCode, errOut)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(errOut.String(), w) {
					t.Errorf("stderr %q lacks %q", errOut, w)
				}
			}
			if tc.wantCode == 0 && errOut.String() != "" {
				t.Errorf("stderr: %s", errOut)
			}

			recs := jsonLines(t, out.String())
			_, statusOut, _ := s.grlctl(t, "status", id, "-o", "json")
			var status map[string]any
			if err := json.Unmarshal([]byte(statusOut), &status); err != nil {
				t.Fatalf("status -o json: %v: %s", err, statusOut)
			}
			wantKeys := slices.Sorted(maps.Keys(status))
			for i, rec := range recs {
				if got := slices.Sorted(maps.Keys(rec)); !slices.Equal(got, wantKeys) {
					t.Errorf("line %d keys %v, want status's %v", i, got, wantKeys)
				}
				if i > 0 && reflect.DeepEqual(rec, recs[i-1]) {
					t.Errorf("line %d repeats line %d: %v", i, i-1, rec)
				}
			}
			var sawTraining bool
			for _, rec := range recs {
				if rec["stage"] == "train" && rec["chunk"] == 1.0 && rec["steps"] == 50.0 && rec["latest_reward"] == -3.5 {
					sawTraining = true
				}
			}
			if !sawTraining {
				t.Errorf("no line shows the training progress %+v:\n%s", trainingProgress, out)
			}
			if last := recs[len(recs)-1]; last["status"] != tc.wantStatus || last["id"] != id {
				t.Errorf("last line %v, want status %s", last, tc.wantStatus)
			}
		})
	}
}

// TestWatchPrintsALineOnlyWhenProgressChanges polls fast and checks that
// plain (non-terminal) output has one line per distinct state, with no
// carriage returns.
func TestWatchPrintsALineOnlyWhenProgressChanges(t *testing.T) {
	s := startStack(t)
	s.startFake(t, s.spec(t, "watch-text", nil))
	out, errOut, wait := s.background(t, "watch", "watch-text", "--interval", "10ms")
	eventually(t, func() string { return out.String() + errOut.String() },
		func() bool { return strings.Contains(out.String(), "stage deploy") })
	time.Sleep(100 * time.Millisecond) // ten polls that change nothing
	s.signal(t, "watch-text", signalProgress, trainingProgress)
	eventually(t, func() string { return out.String() + errOut.String() },
		func() bool { return strings.Contains(out.String(), "stage train") })
	s.signal(t, "watch-text", signalFinish, "")
	if code := wait(); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if strings.Contains(out.String(), "\r") {
		t.Errorf("output to a non-terminal has carriage returns: %q", out)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	want := []string{"running | stage deploy", "running | stage train | chunk 1/2 | steps 50/100 | reward -3.5 | ETA 30s", "completed | stage train"}
	if len(lines) != len(want) {
		t.Fatalf("got %d lines, want %d:\n%s", len(lines), len(want), out)
	}
	for i, w := range want {
		if !strings.Contains(lines[i], "watch-text "+w) {
			t.Errorf("line %d = %q, want it to contain %q", i, lines[i], w)
		}
	}
}

// TestWatchFollowsARealExperimentToCompletion watches an experiment run by
// the real worker.
func TestWatchFollowsARealExperimentToCompletion(t *testing.T) {
	s := startStack(t)
	s.submit(t, "watch-real", false)
	code, out, errOut := s.grlctl(t, "watch", "watch-real", "-o", "json", "--interval", "50ms")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	recs := jsonLines(t, out)
	if last := recs[len(recs)-1]; last["status"] != "completed" || last["total_steps"] != 50.0 {
		t.Errorf("last line %v, want completed with 50 total steps", last)
	}
}

func TestWatchRejectsBadInput(t *testing.T) {
	s := startStack(t)
	cases := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"unknown experiment", []string{"watch", "no-such-experiment"}, "no-such-experiment"},
		{"unknown output format", []string{"watch", "x", "-o", "yaml"}, "yaml"},
		{"non-positive interval", []string{"watch", "x", "--interval", "0s"}, "--interval"},
		{"no ID", []string{"watch"}, "arg"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := s.grlctl(t, tc.args...)
			if code != 2 || !strings.Contains(errOut, tc.wantErr) {
				t.Errorf("exit %d, stderr %q; want 2 mentioning %q", code, errOut, tc.wantErr)
			}
		})
	}
}

func TestProgressLineShowsBarStageChunkStepsRewardAndETA(t *testing.T) {
	cases := []struct {
		name string
		st   watchState
		want string
	}{
		{"before training", watchState{status: "running", progress: api.Progress{Stage: api.StageDeploy, Chunks: 2, TotalSteps: 100}},
			"[--------------------]   0% exp running | stage deploy | chunk 0/2 | steps 0/100 | reward - | ETA -"},
		{"half trained", watchState{status: "running", progress: trainingProgress},
			"[##########----------]  50% exp running | stage train | chunk 1/2 | steps 50/100 | reward -3.5 | ETA 30s"},
		{"completed", watchState{status: "completed", progress: api.Progress{Stage: api.StageDone, Chunk: 2, Chunks: 2, Steps: 100, TotalSteps: 100, LatestReward: 1.25}},
			"[####################] 100% exp completed | stage done | chunk 2/2 | steps 100/100 | reward 1.25 | ETA -"},
		{"no progress known", watchState{status: "running"},
			"[--------------------]   0% exp running | stage - | chunk 0/0 | steps 0/0 | reward - | ETA -"},
		{"stage runs served from the store", watchState{status: "running", progress: cachedProgress},
			"[####################] 100% exp running | stage evaluate | chunk 2/2 | steps 100/100 | reward 1.25 | ETA - | cached 3/5"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := progressLine("exp", tc.st); got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestProgressRendererRedrawsOneLineOnATerminal(t *testing.T) {
	var buf bytes.Buffer
	r := &progressRenderer{out: &buf, id: "exp", tty: true}
	for _, st := range []watchState{{status: "running"}, {status: "running", progress: trainingProgress}} {
		if err := r.show(st); err != nil {
			t.Fatal(err)
		}
	}
	if strings.Contains(buf.String(), "\n") {
		t.Errorf("redrawn line has a newline before finish: %q", buf.String())
	}
	r.finish()
	got := buf.String()
	if strings.Count(got, "\r") != 2 || strings.Count(got, "\x1b[K") != 2 || !strings.HasSuffix(got, "ETA 30s\x1b[K\n") {
		t.Errorf("terminal output %q: want two \\r-redraws clearing the line's end, then one newline", got)
	}
}

// cachedProgress is an experiment in evaluation whose deploy and first
// training chunk were served from the store.
var cachedProgress = api.Progress{
	Stage: api.StageEvaluate, Chunk: 2, Chunks: 2, Steps: 100, TotalSteps: 100, LatestReward: 1.25,
	Runs: api.StageRunCounts{Deploy: api.StageRuns{Cached: 1}, WarmUp: api.StageRuns{Cached: 1}, TrainChunk: api.StageRuns{Ran: 1, Cached: 1}, EvaluateRun: api.StageRuns{Ran: 1}},
}

// TestStatusShowsStageRunsServedFromTheStore: status lists each stage's
// finished runs, ran and cached, in its text and, per stage, in its JSON,
// and watch -o json has the same.
func TestStatusShowsStageRunsServedFromTheStore(t *testing.T) {
	s := startStack(t)
	s.startFake(t, s.spec(t, "status-cached", nil))
	s.signal(t, "status-cached", signalProgress, cachedProgress)
	var out string
	eventually(t, func() string { return out }, func() bool {
		_, out, _ = s.grlctl(t, "status", "status-cached")
		return strings.Contains(out, "stage evaluate")
	})
	want := "status-cached: running, stage evaluate, chunk 2/2, steps 100/100; stage runs: deploy 1 cached, warm-up 1 cached, train-chunk 1 ran 1 cached, evaluate-run 1 ran\n"
	if out != want {
		t.Errorf("status:\n%q\nwant\n%q", out, want)
	}

	_, js, _ := s.grlctl(t, "status", "status-cached", "-o", "json")
	var rec struct {
		Stages map[string]api.StageRuns `json:"stages"`
	}
	if err := json.Unmarshal([]byte(js), &rec); err != nil {
		t.Fatalf("status -o json: %v: %s", err, js)
	}
	wantStages := map[string]api.StageRuns{
		api.StageNameDeploy: {Cached: 1}, api.StageNameWarmUp: {Cached: 1}, api.StageNameTrainChunk: {Ran: 1, Cached: 1},
		api.StageNameEvaluateRun: {Ran: 1}, api.StageNameReport: {},
	}
	if !maps.Equal(rec.Stages, wantStages) {
		t.Errorf("status -o json stages %v, want %v", rec.Stages, wantStages)
	}
	s.signal(t, "status-cached", signalFinish, "")
	_, watched, _ := s.grlctl(t, "watch", "status-cached", "-o", "json")
	recs := jsonLines(t, watched)
	if got := recs[len(recs)-1]["stages"]; !reflect.DeepEqual(got, map[string]any{
		"deploy": map[string]any{"ran": 0.0, "cached": 1.0}, "warm-up": map[string]any{"ran": 0.0, "cached": 1.0},
		"train-chunk": map[string]any{"ran": 1.0, "cached": 1.0}, "evaluate-run": map[string]any{"ran": 1.0, "cached": 0.0},
		"report": map[string]any{"ran": 0.0, "cached": 0.0},
	}) {
		t.Errorf("watch -o json stages %v", got)
	}
}

func TestStageRunsText(t *testing.T) {
	for _, tc := range []struct {
		runs api.StageRunCounts
		want string
	}{
		{api.StageRunCounts{}, ""},
		{cachedProgress.Runs, "deploy 1 cached, warm-up 1 cached, train-chunk 1 ran 1 cached, evaluate-run 1 ran"},
		{api.StageRunCounts{Report: api.StageRuns{Ran: 1}}, "report 1 ran"},
	} {
		if got := stageRunsText(tc.runs); got != tc.want {
			t.Errorf("stageRunsText(%+v) = %q, want %q", tc.runs, got, tc.want)
		}
	}
}
