package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/grlscaler/grlscaler/workflows/api"
)

// TestCancelEndsOrRefusesByTheExperimentsState cancels fake experiments
// that are running, already closed, or do not exist.
func TestCancelEndsOrRefusesByTheExperimentsState(t *testing.T) {
	s := startStack(t)
	const running, none = "running", "none"
	cases := []struct {
		name, id string
		// state is running, none (never started), or the failure the
		// experiment closed with ("" for completed).
		state    string
		args     []string
		wantCode int
		wantOut  string
		wantErr  string
	}{
		{"wait prints the final status", "cancel-wait", running, []string{"--wait"}, 0, "cancel-wait: canceled\n", ""},
		{"wait with JSON", "cancel-wait-json", running, []string{"--wait", "-o", "json"}, 0, `"status": "canceled"`, ""},
		{"without wait it requests cancellation", "cancel-request", running, nil, 0, "requested cancellation of experiment cancel-request (run ", ""},
		{"JSON without wait", "cancel-request-json", running, []string{"-o", "json"}, 0, `"status": "cancel_requested"`, ""},
		{"already completed", "cancel-completed", "", nil, 1, "", `experiment "cancel-completed" is not running: it is already completed`},
		{"already failed", "cancel-failed", "boom", nil, 1, "", "already failed"},
		{"unknown experiment", "no-such-experiment", none, nil, 2, "", `no experiment "no-such-experiment"`},
		{"unknown output format", "cancel-bad-output", none, []string{"-o", "yaml"}, 2, "", "yaml"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.state != none {
				s.startFake(t, s.spec(t, tc.id, nil))
			}
			if tc.state != none && tc.state != running {
				s.finish(t, tc.id, tc.state)
			}
			code, out, errOut := s.grlctl(t, append([]string{"cancel", tc.id}, tc.args...)...)
			if code != tc.wantCode || !strings.Contains(out, tc.wantOut) || !strings.Contains(errOut, tc.wantErr) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want %d, stdout with %q, stderr with %q", code, out, errOut, tc.wantCode, tc.wantOut, tc.wantErr)
			}
			if strings.Contains(tc.wantOut, `"status"`) {
				var rec map[string]any
				if err := json.Unmarshal([]byte(out), &rec); err != nil || rec["id"] != tc.id || rec["run_id"] == "" {
					t.Errorf("JSON output %q (%v)", out, err)
				}
			}
			if tc.state != running {
				return
			}
			// Every cancellation ends the experiment as canceled.
			ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
			defer cancel()
			_ = s.tc.GetWorkflow(ctx, tc.id, "").Get(ctx, nil)
			if _, st, _ := s.grlctl(t, "status", tc.id); !strings.HasPrefix(st, tc.id+": canceled,") {
				t.Errorf("status after cancel: %q", st)
			}
		})
	}
}

// TestCancelStopsARealExperiment cancels an experiment run by the real
// worker once it is training (sized to train far longer than the test
// waits) and waits for it to clean up and close as canceled.
func TestCancelStopsARealExperiment(t *testing.T) {
	s := startStack(t)
	doc := strings.NewReplacer("totalSteps: 50", "totalSteps: 1000000", "chunkSteps: 50", "chunkSteps: 1000").Replace(s.specDoc("cancel-real"))
	s.submitYAML(t, "cancel-real", doc, false)
	var st map[string]any
	eventually(t, func() string { return fmt.Sprintf("not training: %v", st) }, func() bool {
		_, out, _ := s.grlctl(t, "status", "cancel-real", "-o", "json")
		_ = json.Unmarshal([]byte(out), &st)
		return st["stage"] == string(api.StageTrain)
	})
	code, out, errOut := s.grlctl(t, "cancel", "cancel-real", "--wait")
	if code != 0 || out != "cancel-real: canceled\n" {
		t.Errorf("exit %d, stdout %q, stderr %q; want 0 and canceled", code, out, errOut)
	}
}
