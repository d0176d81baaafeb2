package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

func runGrlctl(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = Execute(context.Background(), args, IO{Out: &out, Err: &errOut})
	return code, out.String(), errOut.String()
}

func TestSimJSONHasTheDocumentedKeys(t *testing.T) {
	code, out, errOut := runGrlctl(t, "sim", "--app", "onlineboutique", "--scenario", "peak", "--controller", "hpa", "--hpa-cpu", "50", "--seed", "7", "--duration", "5m", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	for _, k := range []string{"app", "scenario", "controller", "seed", "duration_s", "cost_replica_seconds", "slo_violation_rate",
		"latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "error_rate", "scaling_actions", "services"} {
		if _, ok := got[k]; !ok {
			t.Errorf("missing key %q", k)
		}
	}
	services, _ := got["services"].([]any)
	if len(services) != 11 {
		t.Fatalf("services: %d entries, want 11", len(services))
	}
	first, _ := services[0].(map[string]any)
	for _, k := range []string{"name", "avg_replicas", "max_replicas", "avg_cpu_millicores", "latency_p95_ms"} {
		if _, ok := first[k]; !ok {
			t.Errorf("services[0] missing key %q", k)
		}
	}
	if got["duration_s"] != 300.0 || got["seed"] != 7.0 || got["controller"] != "hpa-cpu-50" {
		t.Errorf("duration_s %v seed %v controller %v", got["duration_s"], got["seed"], got["controller"])
	}
}

func TestSimOutputIsByteIdenticalForTheSameSeed(t *testing.T) {
	args := []string{"sim", "--scenario", "fluctuating", "--seed", "11", "-o", "json"}
	_, a, _ := runGrlctl(t, args...)
	_, b, _ := runGrlctl(t, args...)
	if a != b || a == "" {
		t.Fatalf("two runs with seed 11 differ:\n%s\n%s", a, b)
	}
	_, c, _ := runGrlctl(t, "sim", "--scenario", "fluctuating", "--seed", "12", "-o", "json")
	if c == a {
		t.Error("seeds 11 and 12 gave the same output")
	}
}

func TestSimTablePrintsEveryServiceAndTheTotals(t *testing.T) {
	code, out, errOut := runGrlctl(t, "sim", "--app", "redis", "--scenario", "rushsale", "--controller", "static", "--static-replicas", "2")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"redis-leader", "redis-follower", "cost", "replica-seconds", "SLO violations", "latency p50/95/99", "failed requests", "scaling actions"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func TestSimRejectsBadInputNamingTheValueAndTheChoices(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"unknown app", []string{"--app", "boutique"}, []string{`"boutique"`, "onlineboutique", "redis"}},
		{"unknown scenario", []string{"--scenario", "pk"}, []string{`"pk"`, "offpeak", "stable_peak"}},
		{"unknown controller", []string{"--controller", "vpa"}, []string{`"vpa"`, "hpa", "static"}},
		{"unknown output", []string{"-o", "yaml"}, []string{`"yaml"`, "table", "json"}},
		{"bad preset", []string{"--hpa-preset", "gpu-20"}, []string{"gpu-20"}},
		{"negative cpu target", []string{"--hpa-cpu", "-5"}, []string{"--hpa-cpu"}},
		{"no metric", []string{"--hpa-cpu", "0"}, []string{"--hpa-cpu", "--hpa-mem"}},
		{"max below min", []string{"--min-replicas", "3", "--max-replicas", "2"}, []string{"--min-replicas 3", "--max-replicas 2"}},
		{"duration below a step", []string{"--duration", "10s"}, []string{"--duration 10s"}},
		{"not a duration", []string{"--duration", "soon"}, []string{"soon"}},
		{"bad synthetic size", []string{"--app", "synthetic-1"}, []string{"synthetic-1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runGrlctl(t, append([]string{"sim"}, tt.args...)...)
			if code != 2 {
				t.Fatalf("exit %d, want 2 (usage); stdout:\n%s", code, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr %q does not mention %s", errOut, w)
				}
			}
		})
	}
}
