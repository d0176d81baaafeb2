package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/grlscaler/grlscaler/infra/objstore"
	"github.com/grlscaler/grlscaler/workflows/api"
)

// progressOf queries a (closed) experiment's progress; the stack's worker
// answers by replaying it.
func progressOf(t *testing.T, s *stageStack, id string) api.Progress {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	v, err := s.tc.QueryWorkflow(ctx, id, "", api.ProgressQueryName)
	if err != nil {
		t.Fatalf("progress of %s: %v", id, err)
	}
	var p api.Progress
	if err := v.Get(&p); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRerunIsServedFromTheStageCache runs an experiment whose stages run
// as child processes, then the same experiment again (same ID, same spec):
// every stage of the rerun finds the output the first run stored for the
// same input and build, and is skipped. The progress query counts every
// stage run of the first as ran and of the second as cached, the stored
// logs of the rerun's stages say they were skipped, and the report is the
// first run's.
func TestRerunIsServedFromTheStageCache(t *testing.T) {
	s := startStageStack(t)
	spec := stagedSpec(t, s.cfg.Bucket, "cache", api.StageRunnerSubprocess)
	spec.Metadata.Name = "cached"
	// 2 chunks; 3 controllers x 2 scenarios x 2 repetitions test runs and
	// the HPA and the agent x 2 scenarios x 1 validation seed.
	all := api.StageRunCounts{
		Deploy: api.StageRuns{Ran: 1}, WarmUp: api.StageRuns{Ran: 1}, TrainChunk: api.StageRuns{Ran: 2},
		EvaluateRun: api.StageRuns{Ran: 16}, Report: api.StageRuns{Ran: 1},
	}

	start := time.Now()
	first := s.run(t, spec)
	t.Logf("first run: %v", time.Since(start).Round(time.Millisecond))
	if got := progressOf(t, s, "cached").Runs; got != all {
		t.Fatalf("first run's stage runs %+v, want %+v", got, all)
	}
	before := reportObjects(t, s.store, "cache", "cached")

	start = time.Now()
	second := s.run(t, spec)
	t.Logf("rerun from the cache: %v", time.Since(start).Round(time.Millisecond))
	cached := api.StageRunCounts{}
	for i, r := range all.ByStage() {
		for range r.Ran {
			cached.Add(api.StageNames[i], true)
		}
	}
	if got := progressOf(t, s, "cached").Runs; got != cached {
		t.Fatalf("rerun's stage runs %+v, want every one cached: %+v", got, cached)
	}
	if second.Report.JSONSHA256 != first.Report.JSONSHA256 || second.Report.Cached || first.Report.Cached {
		t.Errorf("report: first %+v, rerun %+v", first.Report, second.Report)
	}
	after := reportObjects(t, s.store, "cache", "cached")
	for _, name := range []string{"report.json", "report.md"} {
		if !bytes.Equal(before[name], after[name]) || len(after[name]) == 0 {
			t.Errorf("reports/%s changed or is missing", name)
		}
	}

	// The rerun's attempt logs (they replace the first run's, having the
	// same workflow and activity IDs) say each stage was skipped.
	ctx := context.Background()
	logs, err := s.store.List(ctx, api.ExperimentKey("cache", "cached", api.LogsDir)+"/")
	if err != nil {
		t.Fatal(err)
	}
	skipped := map[string]int{}
	for _, o := range logs {
		data, _, err := objstore.GetVerified(ctx, s.store, o.Key, "")
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(data, []byte("stage output already stored for this input; skipping the stage")) {
			name := o.Key[strings.LastIndex(o.Key, "/")+1:]
			skipped[name[:strings.Index(name, "-")]]++
		}
	}
	for activity, n := range map[string]int{
		api.DeployAppActivityName: 1, api.WarmUpActivityName: 1, api.TrainChunkActivityName: 2,
		api.EvaluateRunActivityName: 16, api.WriteReportActivityName: 1,
	} {
		if skipped[activity] != n {
			t.Errorf("%d logs of %s say the stage was skipped, want %d (all: %v)", skipped[activity], activity, n, skipped)
		}
	}
}
