package cli

import (
	"context"
	"strings"
	"testing"

	"github.com/grlscaler/grlscaler/infra/objstore"
	"github.com/grlscaler/grlscaler/workflows/api"
)

// putLog stores a log object of experiment id as the worker does.
func putLog(t *testing.T, s *stack, spec *api.ExperimentSpec, rel, content string) string {
	t.Helper()
	key := api.ExperimentKey(spec.Spec.Storage.Prefix, spec.Metadata.Name, api.LogsDir, rel)
	if _, err := objstore.PutVerified(context.Background(), s.store, key, []byte(content)); err != nil {
		t.Fatal(err)
	}
	return key
}

// TestLogsPrintsTheExperimentsLogObjectsInKeyOrder stores log objects
// (and objects that are not this experiment's logs) and prints them with
// each filter.
func TestLogsPrintsTheExperimentsLogObjectsInKeyOrder(t *testing.T) {
	s := startStack(t)
	s.setS3Env(t)
	spec := s.spec(t, "logs-exp", nil)
	s.startFake(t, spec)
	// Stored out of key order.
	train2 := putLog(t, s, spec, "logs-exp-train-agent/TrainChunk-7-attempt2.log", "chunk 1 again") // no final newline
	deploy := putLog(t, s, spec, "logs-exp/DeployApp-5-attempt1.log", "deployed\n")
	train1 := putLog(t, s, spec, "logs-exp-train-agent/TrainChunk-7-attempt1.log", "chunk 1\nlost worker\n")
	// Not logs of logs-exp: its spec, and another experiment whose ID
	// starts with logs-exp.
	putLog(t, s, s.spec(t, "logs-exp2", nil), "logs-exp2/DeployApp-1-attempt1.log", "other experiment\n")
	if _, err := objstore.PutVerified(context.Background(), s.store, api.ExperimentKey(spec.Spec.Storage.Prefix, "logs-exp", api.SpecObject), []byte("{}")); err != nil {
		t.Fatal(err)
	}

	// Key order: logs-exp-train-agent/ sorts before logs-exp/ ('-' < '/').
	all := "==> " + train1 + " <==\nchunk 1\nlost worker\n\n==> " + train2 + " <==\nchunk 1 again\n\n==> " + deploy + " <==\ndeployed\n"
	cases := []struct {
		name string
		// closeFirst ends the experiment before the command runs.
		closeFirst bool
		args       []string
		wantOut    string
		wantErr    string
	}{
		{"all", false, nil, all, ""},
		{"activity", false, []string{"--activity", "TrainChunk"}, "==> " + train1 + " <==\nchunk 1\nlost worker\n\n==> " + train2 + " <==\nchunk 1 again\n", ""},
		{"activity in other case", false, []string{"--activity", "deployapp"}, "==> " + deploy + " <==\ndeployed\n", ""},
		{"activity without logs", false, []string{"--activity", "WarmUp"}, "", "no logs of activity WarmUp under s3://"},
		{"follow of a closed experiment returns", true, []string{"-f"}, all, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.closeFirst {
				s.finish(t, "logs-exp", "")
			}
			code, out, errOut := s.grlctl(t, append([]string{"logs", "logs-exp"}, tc.args...)...)
			if code != 0 || out != tc.wantOut || !strings.Contains(errOut, tc.wantErr) {
				t.Errorf("exit %d, stderr %q; printed\n%s\nwant\n%s", code, errOut, out, tc.wantOut)
			}
		})
	}

	t.Run("json", func(t *testing.T) {
		code, out, errOut := s.grlctl(t, "logs", "logs-exp", "-o", "json")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		recs := jsonLines(t, out)
		if len(recs) != 3 || recs[0]["key"] != train1 || recs[0]["content"] != "chunk 1\nlost worker\n" || recs[2]["key"] != deploy {
			t.Errorf("JSON lines:\n%s", out)
		}
	})
}

// TestLogsFollowPrintsNewLogsUntilTheExperimentCloses adds log objects
// while logs -f runs, the last one just before the experiment closes.
func TestLogsFollowPrintsNewLogsUntilTheExperimentCloses(t *testing.T) {
	s := startStack(t)
	s.setS3Env(t)
	spec := s.spec(t, "logs-follow", nil)
	s.startFake(t, spec)
	first := putLog(t, s, spec, "logs-follow/DeployApp-5-attempt1.log", "deployed\n")
	out, errOut, wait := s.background(t, "logs", "logs-follow", "-f", "--interval", "20ms")
	eventually(t, func() string { return "first log not printed: " + out.String() + errOut.String() },
		func() bool { return strings.Contains(out.String(), first) })
	second := putLog(t, s, spec, "logs-follow/WarmUp-6-attempt1.log", "warm\n")
	eventually(t, func() string { return "second log not printed: " + out.String() + errOut.String() },
		func() bool { return strings.Contains(out.String(), second) })
	// Sorts before the others, and arrives just before the experiment
	// closes: printed after them, once.
	last := putLog(t, s, spec, "logs-follow/Cleanup-9-attempt1.log", "cleaned\n")
	s.finish(t, "logs-follow", "")
	if code := wait(); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	want := "==> " + first + " <==\ndeployed\n\n==> " + second + " <==\nwarm\n\n==> " + last + " <==\ncleaned\n"
	if out.String() != want {
		t.Errorf("printed\n%s\nwant\n%s", out, want)
	}
}

// TestLogsReportsALogThatFailsVerification prints the good logs and exits
// 1 naming the object that could not be verified.
func TestLogsReportsALogThatFailsVerification(t *testing.T) {
	s := startStack(t)
	s.setS3Env(t)
	spec := s.spec(t, "logs-bad", nil)
	s.startFake(t, spec)
	good := putLog(t, s, spec, "logs-bad/DeployApp-5-attempt1.log", "deployed\n")
	bad := api.ExperimentKey(spec.Spec.Storage.Prefix, "logs-bad", api.LogsDir, "logs-bad/WarmUp-6-attempt1.log")
	if _, err := objstore.PutBytes(context.Background(), s.store, bad, []byte("unverifiable\n"), ""); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := s.grlctl(t, "logs", "logs-bad")
	if code != 1 || out != "==> "+good+" <==\ndeployed\n" || !strings.Contains(errOut, bad) || !strings.Contains(errOut, "sha256") {
		t.Errorf("exit %d, stdout %q, stderr %q; want 1, the good log, and the bad one named", code, out, errOut)
	}
	for _, tc := range []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"unknown experiment", []string{"no-such-experiment"}, 2, `no experiment "no-such-experiment"`},
		{"unknown output format", []string{"logs-bad", "-o", "yaml"}, 2, "yaml"},
		{"non-positive interval", []string{"logs-bad", "--interval", "0s"}, 2, "--interval"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := s.grlctl(t, append([]string{"logs"}, tc.args...)...)
			if code != tc.wantCode || !strings.Contains(errOut, tc.wantErr) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, errOut, tc.wantCode, tc.wantErr)
			}
		})
	}
}
