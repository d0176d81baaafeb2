package cli

import (
	"context"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/grlscaler/grlscaler/infra/objstore"
	"github.com/grlscaler/grlscaler/report"
	"github.com/grlscaler/grlscaler/workflows/api"
)

// ci95 is a statistic with mean m and the interval [lo, hi] over 5 runs.
func ci95(m, lo, hi float64) report.Stat {
	return report.Stat{Mean: m, CI95Low: lo, CI95High: hi, N: 5}
}

func ptr[T any](v T) *T { return &v }

func TestCompareDiffsTwoStatistics(t *testing.T) {
	const tol = 1e-12 // the inputs are exact in binary up to one rounding
	cases := []struct {
		name        string
		a, b        *report.Stat
		wantDiff    *float64
		wantRel     *float64
		wantOverlap *bool
	}{
		{"cheaper, intervals apart", ptr(ci95(100, 90, 110)), ptr(ci95(80, 75, 85)), ptr(-20.0), ptr(-0.2), ptr(false)},
		{"dearer, intervals overlap", ptr(ci95(100, 90, 110)), ptr(ci95(105, 95, 115)), ptr(5.0), ptr(0.05), ptr(true)},
		{"intervals touching overlap", ptr(ci95(1, 0, 2)), ptr(ci95(3, 2, 4)), ptr(2.0), ptr(2.0), ptr(true)},
		{"relative to the magnitude of a negative a", ptr(ci95(-50, -60, -40)), ptr(ci95(-25, -30, -20)), ptr(25.0), ptr(0.5), ptr(false)},
		{"both zero", ptr(ci95(0, 0, 0)), ptr(ci95(0, 0, 0)), ptr(0.0), ptr(0.0), ptr(true)},
		{"from zero has no relative difference", ptr(ci95(0, 0, 0)), ptr(ci95(0.1, 0.05, 0.15)), ptr(0.1), nil, ptr(false)},
		{"missing in A", nil, ptr(ci95(1, 0, 2)), nil, nil, nil},
		{"missing in B", ptr(ci95(1, 0, 2)), nil, nil, nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := diffStats(tc.a, tc.b)
			checkFloat(t, "a", d.A, meanOf(tc.a), tol)
			checkFloat(t, "b", d.B, meanOf(tc.b), tol)
			checkFloat(t, "diff", d.Diff, tc.wantDiff, tol)
			checkFloat(t, "rel_diff", d.RelDiff, tc.wantRel, tol)
			if (d.CIOverlap == nil) != (tc.wantOverlap == nil) || (d.CIOverlap != nil && *d.CIOverlap != *tc.wantOverlap) {
				t.Errorf("ci_overlap %v, want %v", show(d.CIOverlap), show(tc.wantOverlap))
			}
		})
	}
}

func meanOf(s *report.Stat) *float64 {
	if s == nil {
		return nil
	}
	return &s.Mean
}

func show[T any](p *T) any {
	if p == nil {
		return "null"
	}
	return *p
}

func checkFloat(t *testing.T, what string, got, want *float64, tol float64) {
	t.Helper()
	if (got == nil) != (want == nil) || (got != nil && math.Abs(*got-*want) > tol) {
		t.Errorf("%s %v, want %v", what, show(got), show(want))
	}
}

// compareReport is a schema v2 report with controllers of the given
// costs (other metrics scaled from it); a name ending in "!" is invalid,
// a negative cost has no valid run.
func compareReport(id string, costs map[string]float64, order ...string) *report.Report {
	r := &report.Report{SchemaVersion: report.SchemaVersion, ExperimentID: id, Name: id, App: "onlineboutique"}
	for _, name := range order {
		cost := costs[name]
		c := report.Controller{Name: strings.TrimSuffix(name, "!"), Kind: report.KindHPA, Valid: !strings.HasSuffix(name, "!"), Metrics: map[string]report.Stat{}}
		if cost >= 0 {
			for i, m := range comparedMetrics {
				v := cost / math.Pow(10, float64(i))
				c.Metrics[m] = ci95(v, v*0.95, v*1.05)
			}
		}
		r.Controllers = append(r.Controllers, c)
	}
	return r
}

func TestCompareReportsPairsControllersByName(t *testing.T) {
	a := compareReport("a", map[string]float64{"gnn-ppo": 1000, "hpa-cpu70": 2000, "static-3!": 3000, "old": 10}, "gnn-ppo", "hpa-cpu70", "static-3!", "old")
	b := compareReport("b", map[string]float64{"hpa-cpu70": 2000, "gnn-ppo": 800, "static-3": 3000, "new": -1}, "hpa-cpu70", "gnn-ppo", "static-3", "new")
	rows := compareReports("a", a, "b", b)
	if len(rows) != 5*len(comparedMetrics) {
		t.Fatalf("%d rows, want %d (five controllers, %d metrics)", len(rows), 5*len(comparedMetrics), len(comparedMetrics))
	}
	var order []string
	for i, r := range rows {
		if r.Metric != comparedMetrics[i%len(comparedMetrics)] {
			t.Errorf("row %d has metric %s, want %s", i, r.Metric, comparedMetrics[i%len(comparedMetrics)])
		}
		if i%len(comparedMetrics) == 0 {
			order = append(order, r.Controller)
		}
	}
	if want := []string{"gnn-ppo", "hpa-cpu70", "static-3", "old", "new"}; !slices.Equal(order, want) {
		t.Errorf("controllers %v, want A's in its order then B's others: %v", order, want)
	}
	row := func(controller string) metricDiff { return rows[slices.Index(order, controller)*len(comparedMetrics)] }
	if r := row("gnn-ppo"); r.OnlyIn != "" || r.InvalidIn != nil || *r.Diff != -200 || *r.RelDiff != -0.2 || *r.CIOverlap {
		t.Errorf("gnn-ppo cost: %+v, want diff -200, rel -0.2, no overlap", r)
	}
	if r := row("static-3"); !slices.Equal(r.InvalidIn, []string{"a"}) || r.Diff == nil || *r.Diff != 0 {
		t.Errorf("static-3: %+v, want invalid in a and compared", r)
	}
	if r := row("old"); r.OnlyIn != "a" || r.A == nil || r.B != nil || r.Diff != nil {
		t.Errorf("old: %+v, want only in a with a's mean", r)
	}
	if r := row("new"); r.OnlyIn != "b" || r.A != nil || r.B != nil {
		t.Errorf("new: %+v, want only in b, without statistics", r)
	}
}

// TestCompareReadsTwoExperimentsReports runs grlctl compare on two closed
// experiments whose report.json objects the test stores. GRL_S3_BUCKET
// names another bucket: the bucket must come from each memo.
func TestCompareReadsTwoExperimentsReports(t *testing.T) {
	s := startStack(t)
	s.setS3Env(t)
	put := func(t *testing.T, id string, r any) {
		t.Helper()
		data, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		key := api.ExperimentKey(s.spec(t, id, nil).Spec.Storage.Prefix, id, api.ReportJSONObject)
		if _, err := objstore.PutVerified(context.Background(), s.store, key, data); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"cmp-a", "cmp-b", "cmp-v1", "cmp-v0", "cmp-none"} {
		s.startFake(t, s.spec(t, id, nil))
		s.finish(t, id, "")
	}
	s.startFake(t, s.spec(t, "cmp-running", nil))
	put(t, "cmp-a", compareReport("cmp-a", map[string]float64{"gnn-ppo": 1000, "hpa-cpu70": 2000, "old": 5}, "gnn-ppo", "hpa-cpu70", "old"))
	put(t, "cmp-b", compareReport("cmp-b", map[string]float64{"gnn-ppo": 800, "hpa-cpu70!": 2010, "new": 7}, "gnn-ppo", "hpa-cpu70!", "new"))
	// Version 1's layout: groups instead of controllers.
	put(t, "cmp-v1", map[string]any{"schema_version": 1, "experiment_id": "cmp-v1", "groups": []any{}})
	put(t, "cmp-v0", map[string]any{"experiment_id": "cmp-v0"})

	t.Run("json", func(t *testing.T) {
		code, out, errOut := s.grlctl(t, "compare", "cmp-a", "cmp-b", "-o", "json")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		var rows []map[string]any
		if err := json.Unmarshal([]byte(out), &rows); err != nil {
			t.Fatalf("not a JSON array: %v\n%s", err, out)
		}
		if len(rows) != 4*len(comparedMetrics) {
			t.Fatalf("%d rows, want %d", len(rows), 4*len(comparedMetrics))
		}
		for _, r := range rows {
			for _, k := range []string{"controller", "metric", "a", "b", "diff", "rel_diff", "ci_overlap"} {
				if _, ok := r[k]; !ok {
					t.Fatalf("row %v lacks %q", r, k)
				}
			}
		}
		want := map[string]any{"controller": "gnn-ppo", "metric": report.MetricCost, "a": 1000.0, "b": 800.0, "diff": -200.0, "rel_diff": -0.2, "ci_overlap": false}
		for k, v := range want {
			if rows[0][k] != v {
				t.Errorf("first row %s = %v, want %v (row %v)", k, rows[0][k], v, rows[0])
			}
		}
		hpa := rows[len(comparedMetrics)]
		if hpa["controller"] != "hpa-cpu70" || hpa["ci_overlap"] != true || !slices.Equal(hpa["invalid_in"].([]any), []any{"cmp-b"}) {
			t.Errorf("hpa-cpu70 row %v, want overlapping intervals, invalid in cmp-b", hpa)
		}
		if old, nw := rows[2*len(comparedMetrics)], rows[3*len(comparedMetrics)]; old["only_in"] != "cmp-a" || old["b"] != nil || nw["only_in"] != "cmp-b" || nw["a"] != nil {
			t.Errorf("rows of the controllers in one report: %v and %v", old, nw)
		}
	})
	t.Run("text", func(t *testing.T) {
		code, out, errOut := s.grlctl(t, "compare", "cmp-a", "cmp-b")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		lines := strings.Split(out, "\n")
		for _, want := range [][]string{
			{"CONTROLLER", "METRIC", "cmp-a", "cmp-b", "DIFF", "REL", "DIFF", "CI", "OVERLAP", "NOTE"},
			{"gnn-ppo", report.MetricCost, "1000", "800", "-200", "-20.0%", "no"},
			{"hpa-cpu70", report.MetricCost, "2000", "2010", "10", "+0.5%", "yes", "invalid", "in", "cmp-b"},
			{"only", "in", "cmp-a:", "old"},
			{"only", "in", "cmp-b:", "new"},
		} {
			if !slices.ContainsFunc(lines, func(l string) bool { return slices.Equal(strings.Fields(l), want) }) {
				t.Errorf("no line %q in\n%s", strings.Join(want, " "), out)
			}
		}
	})

	cases := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"schema version 1", []string{"cmp-a", "cmp-v1"}, 1, `experiment "cmp-v1" has a report of schema version 1; grlctl compare reads versions 2 to 3`},
		{"no schema version", []string{"cmp-v0", "cmp-a"}, 1, `experiment "cmp-v0" has a report of schema version 0 (it has no schema_version: an older grlscaler wrote it); grlctl compare reads versions 2 to 3`},
		{"no report", []string{"cmp-none", "cmp-a"}, 1, `experiment "cmp-none" has no report yet`},
		{"running", []string{"cmp-a", "cmp-running"}, 1, `experiment "cmp-running" is still running`},
		{"unknown experiment", []string{"cmp-a", "no-such-experiment"}, 2, `no experiment "no-such-experiment"`},
		{"one ID", []string{"cmp-a"}, 2, "accepts 2 arg(s)"},
		{"unknown output format", []string{"cmp-a", "cmp-b", "-o", "yaml"}, 2, "yaml"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := s.grlctl(t, append([]string{"compare"}, tc.args...)...)
			if code != tc.wantCode || out != "" || !strings.Contains(errOut, tc.wantErr) {
				t.Errorf("exit %d, stdout %q, stderr %q; want %d and %q", code, out, errOut, tc.wantCode, tc.wantErr)
			}
		})
	}

	t.Run("schema version 4", func(t *testing.T) {
		r := compareReport("cmp-b", map[string]float64{"gnn-ppo": 1}, "gnn-ppo")
		r.SchemaVersion = 4
		put(t, "cmp-b", r)
		code, _, errOut := s.grlctl(t, "compare", "cmp-a", "cmp-b")
		if want := `experiment "cmp-b" has a report of schema version 4; grlctl compare reads versions 2 to 3`; code != 1 || !strings.Contains(errOut, want) {
			t.Errorf("exit %d, stderr %q; want 1 and %q", code, errOut, want)
		}
	})
}
