package loadtest

import (
	"bytes"
	"errors"
	"maps"
	"math"
	"slices"
	"testing"

	"github.com/grlscaler/grlscaler/envs/app"
)

// testdata/ob_run holds the files of a real 14 s run of Locust 2.12.1 with
// a generated file of an earlier version (its samples have no Unix Time):
// 10 users, between(0.2, 0.3), against the emulated frontend, whose GET
// /cart answered 500: 545 requests, 82 failed, Locust exited with 1. Its stats history lost its last four seconds at exit (393
// of the 545 requests), which is why the generated file samples itself.
func readRun(t *testing.T) map[string][]byte {
	t.Helper()
	files, err := ReadResultFiles("testdata/ob_run/locust")
	if err != nil {
		t.Fatal(err)
	}
	if got := slices.Sorted(maps.Keys(files)); len(got) != len(ResultFiles) {
		t.Fatalf("read %v, want all of %v", got, ResultFiles)
	}
	return files
}

func sumSamples(s []Sample) (n, f int64) {
	for _, sm := range s {
		n += sm.Requests
		f += sm.Failures
	}
	return n, f
}

func TestParseResultsOfARealRun(t *testing.T) {
	files := readRun(t)
	res, err := ParseResults(files, app.OnlineBoutique())
	if err != nil {
		t.Fatal(err)
	}
	if res.Source != SourceSamples {
		t.Errorf("source %q", res.Source)
	}
	if res.Total.Requests != 545 || res.Total.Failures != 82 {
		t.Errorf("totals %d requests, %d failures; want 545, 82", res.Total.Requests, res.Total.Failures)
	}
	// The sampler loses nothing: its intervals add up to Locust's totals.
	if n, f := sumSamples(res.Aggregate.Samples); n != 545 || f != 82 {
		t.Errorf("aggregate samples add up to %d requests, %d failures", n, f)
	}
	if len(res.ByRequest) != 6 || len(res.Requests) != 6 {
		t.Fatalf("%d request totals and %d series, want 6 of each", len(res.ByRequest), len(res.Requests))
	}
	byType := map[string]Totals{}
	for _, tot := range res.ByRequest {
		byType[tot.RequestType] = tot
	}
	for _, s := range res.Requests {
		if s.RequestType != s.Name {
			t.Errorf("%s %s maps to %q", s.Method, s.Name, s.RequestType)
		}
		n, f := sumSamples(s.Samples)
		if tot := byType[s.RequestType]; n != tot.Requests || f != tot.Failures {
			t.Errorf("%s: samples add up to %d/%d, stats say %d/%d", s.Name, n, f, tot.Requests, tot.Failures)
		}
	}
	if vc := byType["view_cart"]; vc.FailureRate != 1 || vc.Method != "GET" {
		t.Errorf("view_cart %+v, want every request failed", vc)
	}
	if len(res.Failures) != 1 || res.Failures[0].RequestType != "view_cart" || res.Failures[0].Occurrences != 82 {
		t.Errorf("failures %+v", res.Failures)
	}
	if len(res.Exceptions) != 0 {
		t.Errorf("exceptions %+v", res.Exceptions)
	}
	prev := 0.0
	for _, sm := range res.Aggregate.Samples {
		if sm.Unix != 0 {
			t.Errorf("sample %+v has a wall clock, but this run's sampler wrote none", sm)
		}
		if sm.Time <= prev || sm.Interval <= 0 {
			t.Errorf("sample at %.3f after %.3f, interval %.3f", sm.Time, prev, sm.Interval)
		}
		prev = sm.Time
		if sm.Requests > 0 {
			if want := float64(sm.Requests) / sm.Interval; math.Abs(sm.RPS-want) > 1e-9 {
				t.Errorf("RPS %g, want %g", sm.RPS, want)
			}
			if !(sm.P50 <= sm.P95 && sm.P95 <= sm.P99 && sm.P99 <= sm.Max) {
				t.Errorf("percentiles out of order: %+v", sm)
			}
		}
	}
	if got := res.Files[FileStats]; got != string(files[FileStats]) {
		t.Error("raw stats file not kept")
	}
}

func TestParseResultsFallsBackToLocustsHistory(t *testing.T) {
	files := readRun(t)
	delete(files, FileSamples)
	res, err := ParseResults(files, app.OnlineBoutique())
	if err != nil {
		t.Fatal(err)
	}
	if res.Source != SourceStatsHistory {
		t.Errorf("source %q", res.Source)
	}
	// The history's differences add up to its last cumulative row: 393
	// requests and 62 failures, four seconds short of the totals.
	if n, f := sumSamples(res.Aggregate.Samples); n != 393 || f != 62 {
		t.Errorf("aggregate history adds up to %d requests, %d failures; want 393, 62", n, f)
	}
	for _, sm := range res.Aggregate.Samples {
		if sm.Interval != 1 || sm.Users != 10 || sm.Unix < 1.7e9 {
			t.Errorf("history sample %+v: want 1 s intervals with 10 users", sm)
		}
	}
	for _, s := range res.Requests {
		if s.RequestType == "" {
			t.Errorf("%s %s is not mapped", s.Method, s.Name)
		}
	}
}

func TestParseResultsRejectsIncompleteRuns(t *testing.T) {
	full := readRun(t)
	with := func(edit func(map[string][]byte)) map[string][]byte {
		files := maps.Clone(full)
		edit(files)
		return files
	}
	for name, files := range map[string]map[string][]byte{
		"no stats":                 with(func(f map[string][]byte) { delete(f, FileStats) }),
		"stats without Aggregated": with(func(f map[string][]byte) { f[FileStats] = []byte("Type,Name,Request Count,Failure Count,Requests/s\n") }),
		"empty stats":              with(func(f map[string][]byte) { f[FileStats] = nil }),
		"no series at all":         with(func(f map[string][]byte) { delete(f, FileSamples); delete(f, FileStatsHistory) }),
		"history with only its header": with(func(f map[string][]byte) {
			delete(f, FileSamples)
			f[FileStatsHistory] = full[FileStatsHistory][:bytes.IndexByte(full[FileStatsHistory], '\n')+1]
		}),
		"samples with only their header": with(func(f map[string][]byte) {
			f[FileSamples] = []byte("Time,Interval,User Count,Type,Name,Requests,Failures\n")
		}),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseResults(files, nil)
			if !errors.Is(err, ErrIncomplete) {
				t.Errorf("error %v, want ErrIncomplete", err)
			}
			if err := Complete(files); !errors.Is(err, ErrIncomplete) {
				t.Errorf("Complete: %v", err)
			}
		})
	}
	if err := Complete(full); err != nil {
		t.Errorf("Complete(full run): %v", err)
	}
}

// A Locust killed mid-write leaves a cut-off last line; the rows before it
// still count.
func TestParseResultsToleratesACutOffLastLine(t *testing.T) {
	files := readRun(t)
	s := files[FileSamples]
	files[FileSamples] = s[:len(s)-20]
	res, err := ParseResults(files, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := sumSamples(res.Aggregate.Samples); n == 0 || n > 545 {
		t.Errorf("%d requests", n)
	}
	files[FileStats] = []byte("Type,Name,Request Count,Failure Count,Requests/s\n,Aggregated,x,0,0\n")
	if _, err := ParseResults(files, nil); err == nil {
		t.Error("a bad number in the stats file parsed")
	}
}

func TestRequestTypeOf(t *testing.T) {
	ob, redis := app.OnlineBoutique(), app.Redis()
	tests := []struct {
		a            *app.App
		method, name string
		want         string
	}{
		{ob, "GET", "product", "product"}, // generated files name requests after their type
		{ob, "POST", "add_to_cart", "add_to_cart"},
		{ob, "GET", "/cart", "view_cart"}, // the seed's only request
		{ob, "POST", "/cart", "add_to_cart"},
		{ob, "POST", "/cart/checkout", "checkout"},
		{ob, "GET", "/product/OLJCESPC7Z", "product"},
		{ob, "GET", "/product/OLJCESPC7Z?x=1", "product"},
		{ob, "GET", "/product/", ""},
		{ob, "GET", "/", "home"},
		{ob, "DELETE", "/cart", ""},
		{ob, "GET", "/nowhere", ""},
		{redis, "GET", "get", "get"},
		{redis, "Redis", "GET", "get"}, // the seed's Redis rows
		{redis, "Redis", "zset", "zset"},
		{redis, "Redis", "INFO", "info"},
		{redis, "Redis", "SCAN", ""},
		{nil, "GET", "product", ""},
	}
	for _, tc := range tests {
		name := "nil"
		if tc.a != nil {
			name = tc.a.Name
		}
		if got := RequestTypeOf(tc.a, tc.method, tc.name); got != tc.want {
			t.Errorf("RequestTypeOf(%s, %q, %q) = %q, want %q", name, tc.method, tc.name, got, tc.want)
		}
	}
}
