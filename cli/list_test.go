package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"go.temporal.io/api/operatorservice/v1"

	"github.com/grlscaler/grlscaler/workflows/api"
)

// listIDs runs grlctl list -o json and returns the IDs it lists, or nil
// and the error output when it fails.
func listIDs(t *testing.T, s *stack, args ...string) ([]string, []map[string]any, string) {
	t.Helper()
	code, out, errOut := s.grlctl(t, append([]string{"list", "-o", "json"}, args...)...)
	if code != 0 {
		return nil, nil, fmt.Sprintf("exit %d: %s", code, errOut)
	}
	var rows []map[string]any
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("list -o json: %v\n%s", err, out)
	}
	var ids []string
	for _, r := range rows {
		ids = append(ids, r["id"].(string))
	}
	slices.Sort(ids)
	return ids, rows, out
}

// TestListFiltersExperiments lists a completed real experiment (with its
// train and evaluate child workflows, which must not be listed), a running
// and a failed fake one, with each filter. Visibility lags, so every case
// polls until the expected rows appear.
func TestListFiltersExperiments(t *testing.T) {
	s := startStack(t)
	done := s.submit(t, "list-done", true) // redis, mlp, cost
	running := s.spec(t, "list-running", func(sp *api.Spec) { sp.App, sp.Agent.Policy, sp.Agent.Goal = "onlineboutique", "gcn", "slo" })
	s.startFake(t, running)
	s.signal(t, "list-running", signalProgress, trainingProgress)
	failed := s.spec(t, "list-failed", func(sp *api.Spec) { sp.Agent.Policy = "gcn" })
	s.startFake(t, failed)
	s.finish(t, "list-failed", "boom")

	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"no filter", nil, []string{"list-done", "list-failed", "list-running"}},
		{"status running", []string{"--status", "running"}, []string{"list-running"}},
		{"status completed", []string{"--status", "completed"}, []string{"list-done"}},
		{"status failed", []string{"--status", "failed"}, []string{"list-failed"}},
		{"status canceled", []string{"--status", "canceled"}, nil},
		{"app", []string{"--app", "redis"}, []string{"list-done", "list-failed"}},
		{"mode", []string{"--mode", "sim"}, []string{"list-done", "list-failed", "list-running"}},
		{"policy", []string{"--policy", "gcn"}, []string{"list-failed", "list-running"}},
		{"goal", []string{"--goal", "slo"}, []string{"list-running"}},
		{"stage", []string{"--stage", "train"}, []string{"list-running"}},
		{"spec hash", []string{"--spec-hash", api.SpecHash(failed)}, []string{"list-failed"}},
		{"raw query", []string{"--query", "WorkflowId = 'list-done' OR WorkflowId = 'list-running'"}, []string{"list-done", "list-running"}},
		{"filters combine", []string{"--app", "redis", "--status", "failed"}, []string{"list-failed"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			var errOut string
			eventually(t, func() string { return fmt.Sprintf("list %v = %v (%s), want %v", tc.args, got, errOut, tc.want) }, func() bool {
				got, _, errOut = listIDs(t, s, tc.args...)
				return slices.Equal(got, tc.want)
			})
		})
	}

	t.Run("limit", func(t *testing.T) {
		if ids, _, errOut := listIDs(t, s, "--limit", "2"); len(ids) != 2 {
			t.Errorf("--limit 2 listed %v (%s)", ids, errOut)
		}
	})

	t.Run("json fields", func(t *testing.T) {
		_, rows, _ := listIDs(t, s)
		byID := map[string]map[string]any{}
		for _, r := range rows {
			byID[r["id"].(string)] = r
		}
		d, r := byID["list-done"], byID["list-running"]
		for k, v := range map[string]any{"status": "completed", "app": "redis", "mode": "sim", "policy": "mlp", "goal": "cost", "spec_hash": api.SpecHash(done)} {
			if d[k] != v {
				t.Errorf("list-done %s = %v, want %v", k, d[k], v)
			}
		}
		if d["run_id"] == "" || d["start_time"] == "" || d["close_time"] == nil {
			t.Errorf("list-done lacks run_id, start_time or close_time: %v", d)
		}
		if r["status"] != "running" || r["stage"] != "train" || r["app"] != "onlineboutique" || r["close_time"] != nil {
			t.Errorf("list-running = %v", r)
		}
		for _, row := range rows {
			for _, k := range []string{"id", "run_id", "status", "app", "mode", "policy", "goal", "stage", "spec_hash", "start_time", "close_time"} {
				if _, ok := row[k]; !ok {
					t.Errorf("row %v lacks %q", row["id"], k)
				}
			}
		}
	})

	t.Run("table", func(t *testing.T) {
		code, out, errOut := s.grlctl(t, "list", "--status", "running")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 2 {
			t.Fatalf("want a header and one row:\n%s", out)
		}
		if got := strings.Fields(lines[0]); !slices.Equal(got, []string{"ID", "STATUS", "APP", "POLICY", "STAGE", "STARTED", "CLOSED"}) {
			t.Errorf("header %v", got)
		}
		row := strings.Fields(lines[1])
		if !slices.Equal(row[:5], []string{"list-running", "running", "onlineboutique", "gcn", "train"}) || row[len(row)-1] != "-" {
			t.Errorf("row %v", row)
		}
	})
}

func TestListRejectsBadInput(t *testing.T) {
	cases := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"unknown status", []string{"--status", "sleeping"}, "timed_out"},
		{"non-positive limit", []string{"--limit", "0"}, "--limit"},
		{"unknown output format", []string{"-o", "yaml"}, "yaml"},
		{"quote in a filter value", []string{"--app", "a' OR 'b"}, "quote"},
		{"an argument", []string{"some-id"}, "unknown command"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := runGrlctl(t, append([]string{"list", "--address", "127.0.0.1:1"}, tc.args...)...)
			if code != 2 || !strings.Contains(errOut, tc.wantErr) {
				t.Errorf("exit %d, stderr %q; want 2 mentioning %q", code, errOut, tc.wantErr)
			}
		})
	}
}

// TestListNamesUnregisteredSearchAttributes removes GrlApp from the
// namespace and checks that filtering on it says how to register it, while
// other listings still work.
func TestListNamesUnregisteredSearchAttributes(t *testing.T) {
	s := startStack(t)
	_, err := s.tc.OperatorService().RemoveSearchAttributes(context.Background(), &operatorservice.RemoveSearchAttributesRequest{
		Namespace: "default", SearchAttributes: []string{api.SearchAttrApp},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"--app", "redis"}, {"--query", "GrlApp = 'redis'"}} {
		code, _, errOut := s.grlctl(t, append([]string{"list"}, args...)...)
		if code != 1 || !strings.Contains(errOut, "GrlApp") || !strings.Contains(errOut, "temporal operator search-attribute create --namespace default --name GrlApp --type Keyword") {
			t.Errorf("list %v: exit %d, stderr %q; want 1 naming GrlApp and how to register it", args, code, errOut)
		}
	}
	if code, _, errOut := s.grlctl(t, "list", "--policy", "mlp"); code != 0 {
		t.Errorf("list --policy (registered): exit %d: %s", code, errOut)
	}
}
