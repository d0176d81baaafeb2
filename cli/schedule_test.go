package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/grlscaler/grlscaler/activities"
)

// TestScheduleRunsAreReproducible creates a schedule of a real experiment
// on the twin, triggers it twice, and reads the drift report of the second
// run: with the spec's fixed seed, checkpoints and metrics are
// byte-identical to the first run's. It also pauses, lists, describes and
// deletes the schedule.
func TestScheduleRunsAreReproducible(t *testing.T) {
	s := startStack(t)
	s.setS3Env(t)
	file := filepath.Join(t.TempDir(), "repro.yaml")
	if err := os.WriteFile(file, []byte(s.specDoc("repro")), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) string {
		t.Helper()
		code, out, errOut := s.grlctl(t, args...)
		if code != 0 {
			t.Fatalf("grlctl %s: exit %d: %s", strings.Join(args, " "), code, errOut)
		}
		return out
	}
	run("schedule", "create", "nightly", file, "--every", "24h")
	if code, _, errOut := s.grlctl(t, "schedule", "create", "nightly", file, "--every", "24h"); code != 2 || !strings.Contains(errOut, "already exists") {
		t.Fatalf("creating it again: exit %d, %s", code, errOut)
	}

	// completedRuns returns the schedule's completed runs, oldest first.
	completedRuns := func() []string {
		var v scheduleView
		if err := json.Unmarshal([]byte(run("schedule", "describe", "nightly", "-o", "json")), &v); err != nil {
			t.Fatal(err)
		}
		var done []string
		for _, id := range v.RecentRuns {
			if e, err := describeExperiment(context.Background(), s.tc, id); err == nil && e.Status == "completed" {
				done = append(done, id)
			}
		}
		return done
	}
	for want := 1; want <= 2; want++ {
		run("schedule", "trigger", "nightly")
		eventually(t, func() string { return "schedule nightly's completed runs: " + strings.Join(completedRuns(), ", ") },
			func() bool { return len(completedRuns()) == want })
	}

	var d activities.Drift
	if err := json.Unmarshal([]byte(run("drift", "nightly", "-o", "json")), &d); err != nil {
		t.Fatal(err)
	}
	runs := completedRuns()
	if d.ExperimentID != runs[1] || d.Previous != runs[0] || !d.CheckpointsIdentical || !d.MetricsIdentical || len(d.Differences) != 0 {
		t.Fatalf("drift of %v: %+v", runs, d)
	}
	if md := run("drift", "nightly"); !strings.Contains(md, "byte-identical to "+runs[0]) {
		t.Fatalf("drift markdown:\n%s", md)
	}

	run("schedule", "pause", "nightly", "--note", "maintenance")
	// The list comes from the visibility store, which lags a moment.
	var list []scheduleView
	eventually(t, func() string { return fmt.Sprintf("schedule list %+v", list) }, func() bool {
		list = nil
		if err := json.Unmarshal([]byte(run("schedule", "list", "-o", "json")), &list); err != nil {
			t.Fatal(err)
		}
		return len(list) == 1 && list[0].Name == "nightly" && list[0].Paused && list[0].Spec == "every 24h0m0s"
	})
	run("schedule", "unpause", "nightly")
	run("schedule", "delete", "nightly")
	if code, _, errOut := s.grlctl(t, "schedule", "describe", "nightly"); code != 2 || !strings.Contains(errOut, `no schedule "nightly"`) {
		t.Fatalf("describe after delete: exit %d, %s", code, errOut)
	}
}

func TestScheduleCreateRejectsBadInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no timing", []string{"schedule", "create", "n", "../examples/quickstart.yaml"}, "exactly one of --cron and --every"},
		{"both timings", []string{"schedule", "create", "n", "../examples/quickstart.yaml", "--cron", "0 3 * * *", "--every", "1h"}, "exactly one of --cron and --every"},
		{"bad overlap", []string{"schedule", "create", "n", "../examples/quickstart.yaml", "--every", "1h", "--overlap", "sometimes"}, `unknown --overlap "sometimes"`},
		{"bad file", []string{"schedule", "create", "n", "missing.yaml", "--every", "1h"}, "missing.yaml"},
		{"missing argument", []string{"schedule", "create", "n"}, "accepts 2 arg"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := runGrlctl(t, tc.args...)
			if code != 2 || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d, stderr %q; want 2 containing %q", code, errOut, tc.want)
			}
		})
	}
}
