package loadtest

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/grlscaler/grlscaler/envs/app"
)

// The files Locust writes with --csv PREFIX, without the "PREFIX_" part,
// and the sampler's file (see GenerateLocustfile).
const (
	FileStats        = "stats.csv"
	FileStatsHistory = "stats_history.csv"
	FileFailures     = "failures.csv"
	FileExceptions   = "exceptions.csv"
	FileSamples      = "samples.csv"
)

// ResultFiles lists the files a run may leave, in a fixed order.
var ResultFiles = []string{FileStats, FileStatsHistory, FileFailures, FileExceptions, FileSamples}

// ErrIncomplete means a run's CSV files do not hold a finished run's
// statistics: Locust did not start, crashed, or was killed too early.
var ErrIncomplete = errors.New("incomplete Locust results")

// Series sources.
const (
	SourceSamples      = "samples"
	SourceStatsHistory = "stats_history"
)

// Sample is one interval of a run. Latencies are in milliseconds and zero
// when the interval had no requests.
type Sample struct {
	// Time is the end of the interval in seconds from the start of the test.
	Time float64 `json:"time"`
	// Interval is the length of the interval in seconds.
	Interval float64 `json:"interval"`
	// Unix is the wall-clock time at the end of the interval, in seconds
	// since 1970, to align samples with the cluster's metrics; 0 when the
	// files do not say (older sampler files), and to the second in Locust's
	// stats history.
	Unix float64 `json:"unix,omitempty"`
	// Users is Locust's user count at the end of the interval.
	Users    int   `json:"users"`
	Requests int64 `json:"requests"`
	Failures int64 `json:"failures"`
	// RPS is Requests / Interval.
	RPS float64 `json:"rps"`
	// FailureRate is Failures / Requests, 0 without requests.
	FailureRate float64 `json:"failure_rate"`
	P50         float64 `json:"p50_ms"`
	P95         float64 `json:"p95_ms"`
	P99         float64 `json:"p99_ms"`
	Mean        float64 `json:"mean_ms"`
	Max         float64 `json:"max_ms"`
}

// Series is the time series of one Locust statistics entry.
type Series struct {
	// RequestType is the app's request type the entry counts, "" for the
	// aggregate or a name that maps to none (see RequestTypeOf).
	RequestType string `json:"request_type"`
	// Method and Name are Locust's Type and Name columns.
	Method  string   `json:"method"`
	Name    string   `json:"name"`
	Samples []Sample `json:"samples"`
}

// Totals are a whole run's statistics of one entry, from Locust's stats
// file. Latencies are in milliseconds.
type Totals struct {
	RequestType string  `json:"request_type"`
	Method      string  `json:"method"`
	Name        string  `json:"name"`
	Requests    int64   `json:"requests"`
	Failures    int64   `json:"failures"`
	RPS         float64 `json:"rps"`
	FailureRate float64 `json:"failure_rate"`
	P50         float64 `json:"p50_ms"`
	P95         float64 `json:"p95_ms"`
	P99         float64 `json:"p99_ms"`
	Mean        float64 `json:"mean_ms"`
	Min         float64 `json:"min_ms"`
	Max         float64 `json:"max_ms"`
}

// Failure is one row of Locust's failures file: an error and how often a
// request failed with it.
type Failure struct {
	RequestType string `json:"request_type"`
	Method      string `json:"method"`
	Name        string `json:"name"`
	Error       string `json:"error"`
	Occurrences int64  `json:"occurrences"`
}

// Exception is one row of Locust's exceptions file: an error in the
// locustfile's own code.
type Exception struct {
	Count     int64  `json:"count"`
	Message   string `json:"message"`
	Traceback string `json:"traceback"`
}

// Results are a run's statistics.
type Results struct {
	// Source says where the series come from: SourceSamples (the generated
	// file's sampler: exact per-interval percentiles, nothing lost at exit)
	// or SourceStatsHistory (Locust's own history, for files that lack the
	// sampler: percentiles over Locust's sliding ten-second window, and up
	// to the last ten seconds missing).
	Source string `json:"source"`
	// Aggregate is the series of all requests.
	Aggregate Series `json:"aggregate"`
	// Requests are the series per entry, ordered by Method then Name.
	Requests []Series `json:"requests"`
	// Total and ByRequest come from Locust's stats file.
	Total      Totals      `json:"total"`
	ByRequest  []Totals    `json:"by_request"`
	Failures   []Failure   `json:"failures"`
	Exceptions []Exception `json:"exceptions"`
	// Files are the raw CSV files, keyed by their ResultFiles name.
	Files map[string]string `json:"files"`
}

// ReadResultFiles reads the files a run with --csv prefix left, keyed by
// their ResultFiles name; missing files are left out.
func ReadResultFiles(prefix string) (map[string][]byte, error) {
	files := map[string][]byte{}
	for _, name := range ResultFiles {
		b, err := os.ReadFile(prefix + "_" + name)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		files[name] = b
	}
	return files, nil
}

// Complete reports whether files hold a finished run: a stats file with its
// Aggregated row, and a series (samples or stats history) with at least one
// aggregate row. Locust exits with 1 whenever a request failed, so the exit
// code cannot tell a finished run from a broken one; this can.
func Complete(files map[string][]byte) error {
	_, err := ParseResults(files, nil)
	return err
}

// ParseResults parses a run's files (keyed by their ResultFiles name) into
// series and totals. Request names are mapped to a's request types (see
// RequestTypeOf); a may be nil. It returns an error wrapping ErrIncomplete
// when the files do not hold a finished run.
func ParseResults(files map[string][]byte, a *app.App) (*Results, error) {
	r := &Results{Files: map[string]string{}}
	for name, b := range files {
		r.Files[name] = string(b)
	}
	total, byReq, err := parseStats(files[FileStats], a)
	if err != nil {
		return nil, err
	}
	r.Total, r.ByRequest = total, byReq

	var series []Series
	if b := files[FileSamples]; len(b) > 0 {
		r.Source = SourceSamples
		series, err = parseSamples(b)
	} else {
		r.Source = SourceStatsHistory
		series, err = parseHistory(files[FileStatsHistory])
	}
	if err != nil {
		return nil, err
	}
	for _, s := range series {
		if s.Name == aggregatedName && s.Method == "" {
			r.Aggregate = s
			continue
		}
		s.RequestType = RequestTypeOf(a, s.Method, s.Name)
		r.Requests = append(r.Requests, s)
	}
	if len(r.Aggregate.Samples) == 0 {
		return nil, fmt.Errorf("%w: no aggregate rows in %s", ErrIncomplete, r.Source)
	}
	slices.SortFunc(r.Requests, func(x, y Series) int {
		return cmpPair(x.Method, x.Name, y.Method, y.Name)
	})

	if r.Failures, err = parseFailures(files[FileFailures], a); err != nil {
		return nil, err
	}
	if r.Exceptions, err = parseExceptions(files[FileExceptions]); err != nil {
		return nil, err
	}
	return r, nil
}

const aggregatedName = "Aggregated"

func cmpPair(a1, a2, b1, b2 string) int {
	if c := strings.Compare(a1, b1); c != 0 {
		return c
	}
	return strings.Compare(a2, b2)
}

// RequestTypeOf maps a Locust entry (its Type and Name columns) to one of
// a's request types, or "" when none fits:
//
//   - a name that is a request type's name (what generated files send);
//   - a path that matches a request type's path, where {x} matches one
//     segment, with the same method (Online Boutique's "GET /cart" of the
//     seed's scripts is view_cart);
//   - for request types without a path (Redis), a name or type equal to the
//     request type's method, ignoring case (the seed's Redis rows were type
//     "Redis", name "GET").
func RequestTypeOf(a *app.App, method, name string) string {
	if a == nil {
		return ""
	}
	if a.RequestTypeIndex(name) >= 0 {
		return name
	}
	for _, rt := range a.RequestTypes {
		if rt.Path != "" && strings.EqualFold(rt.Method, method) && pathMatches(rt.Path, name) {
			return rt.Name
		}
	}
	for _, rt := range a.RequestTypes {
		if rt.Path == "" && (strings.EqualFold(rt.Method, name) || strings.EqualFold(rt.Method, method)) {
			return rt.Name
		}
	}
	return ""
}

func pathMatches(pattern, path string) bool {
	path, _, _ = strings.Cut(path, "?")
	ps, qs := strings.Split(pattern, "/"), strings.Split(path, "/")
	if len(ps) != len(qs) {
		return false
	}
	for i := range ps {
		if strings.HasPrefix(ps[i], "{") && strings.HasSuffix(ps[i], "}") {
			if qs[i] == "" {
				return false
			}
			continue
		}
		if ps[i] != qs[i] {
			return false
		}
	}
	return true
}

// table is a CSV file read by column name.
type table struct {
	name string
	cols map[string]int
	rows [][]string
}

func readTable(name string, b []byte, required ...string) (*table, error) {
	rd := csv.NewReader(bytes.NewReader(b))
	rd.FieldsPerRecord = -1
	header, err := rd.Read()
	if err == io.EOF {
		return nil, fmt.Errorf("%w: %s is empty", ErrIncomplete, name)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	t := &table{name: name, cols: map[string]int{}}
	for i, h := range header {
		t.cols[h] = i
	}
	for _, c := range required {
		if _, ok := t.cols[c]; !ok {
			return nil, fmt.Errorf("%s: no column %q (is it a Locust %s?)", name, c, name)
		}
	}
	for {
		rec, err := rd.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			// A file cut off mid-row by a killed Locust: keep the rows before.
			if errors.Is(err, csv.ErrQuote) || errors.Is(err, csv.ErrFieldCount) {
				break
			}
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if len(rec) < len(header) {
			break // a truncated last line
		}
		t.rows = append(t.rows, rec)
	}
	return t, nil
}

func (t *table) str(row []string, col string) string {
	if i, ok := t.cols[col]; ok && i < len(row) {
		return row[i]
	}
	return ""
}

// num parses a numeric cell; Locust writes "N/A" or "" where it has no value.
func (t *table) num(row []string, col string) (float64, error) {
	s := t.str(row, col)
	if s == "" || s == "N/A" {
		return 0, nil
	}
	x, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
		return 0, fmt.Errorf("%s: column %q: bad number %q", t.name, col, s)
	}
	return x, nil
}

func (t *table) nums(row []string, cols ...string) ([]float64, error) {
	out := make([]float64, len(cols))
	for i, c := range cols {
		x, err := t.num(row, c)
		if err != nil {
			return nil, err
		}
		out[i] = x
	}
	return out, nil
}

func parseStats(b []byte, a *app.App) (Totals, []Totals, error) {
	if len(b) == 0 {
		return Totals{}, nil, fmt.Errorf("%w: no %s", ErrIncomplete, FileStats)
	}
	t, err := readTable(FileStats, b, "Type", "Name", "Request Count", "Failure Count", "Requests/s")
	if err != nil {
		return Totals{}, nil, err
	}
	var total Totals
	var byReq []Totals
	found := false
	for _, row := range t.rows {
		v, err := t.nums(row, "Request Count", "Failure Count", "Requests/s", "50%", "95%", "99%",
			"Average Response Time", "Min Response Time", "Max Response Time")
		if err != nil {
			return Totals{}, nil, err
		}
		tt := Totals{Method: t.str(row, "Type"), Name: t.str(row, "Name"),
			Requests: int64(v[0]), Failures: int64(v[1]), RPS: v[2],
			P50: v[3], P95: v[4], P99: v[5], Mean: v[6], Min: v[7], Max: v[8]}
		if tt.Requests > 0 {
			tt.FailureRate = float64(tt.Failures) / float64(tt.Requests)
		}
		if tt.Name == aggregatedName && tt.Method == "" {
			total, found = tt, true
			continue
		}
		tt.RequestType = RequestTypeOf(a, tt.Method, tt.Name)
		byReq = append(byReq, tt)
	}
	if !found {
		return Totals{}, nil, fmt.Errorf("%w: %s has no Aggregated row", ErrIncomplete, FileStats)
	}
	slices.SortFunc(byReq, func(x, y Totals) int { return cmpPair(x.Method, x.Name, y.Method, y.Name) })
	return total, byReq, nil
}

// seriesSet collects series by entry in order of first appearance.
type seriesSet struct {
	index map[[2]string]int
	list  []Series
}

func (s *seriesSet) get(method, name string) *Series {
	if s.index == nil {
		s.index = map[[2]string]int{}
	}
	k := [2]string{method, name}
	i, ok := s.index[k]
	if !ok {
		i = len(s.list)
		s.index[k] = i
		s.list = append(s.list, Series{Method: method, Name: name})
	}
	return &s.list[i]
}

func parseSamples(b []byte) ([]Series, error) {
	t, err := readTable(FileSamples, b, "Time", "Interval", "User Count", "Type", "Name", "Requests", "Failures")
	if err != nil {
		return nil, err
	}
	var set seriesSet
	for _, row := range t.rows {
		v, err := t.nums(row, "Time", "Interval", "User Count", "Requests", "Failures",
			"50%", "95%", "99%", "Average Response Time", "Max Response Time", "Unix Time")
		if err != nil {
			return nil, err
		}
		sm := Sample{Time: v[0], Interval: v[1], Users: int(v[2]), Requests: int64(v[3]), Failures: int64(v[4]),
			P50: v[5], P95: v[6], P99: v[7], Mean: v[8], Max: v[9], Unix: v[10]}
		sm.derive()
		s := set.get(t.str(row, "Type"), t.str(row, "Name"))
		s.Samples = append(s.Samples, sm)
	}
	return set.list, nil
}

func (sm *Sample) derive() {
	if sm.Interval > 0 {
		sm.RPS = float64(sm.Requests) / sm.Interval
	}
	if sm.Requests > 0 {
		sm.FailureRate = float64(sm.Failures) / float64(sm.Requests)
	}
}

// parseHistory turns Locust's stats history (one row per entry and second,
// with cumulative counts) into per-interval samples: counts and means from
// the differences of consecutive rows, percentiles as Locust wrote them
// (its sliding window). Every entry's counts start at zero at the first
// row's timestamp, the start of the test.
func parseHistory(b []byte) ([]Series, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: neither %s nor %s", ErrIncomplete, FileSamples, FileStatsHistory)
	}
	t, err := readTable(FileStatsHistory, b, "Timestamp", "User Count", "Type", "Name", "Total Request Count", "Total Failure Count")
	if err != nil {
		return nil, err
	}
	type cumulative struct {
		ts             float64
		requests, fail float64
		sum            float64 // total response time, ms
	}
	var set seriesSet
	last := map[[2]string]cumulative{}
	start := math.NaN()
	for _, row := range t.rows {
		v, err := t.nums(row, "Timestamp", "User Count", "Total Request Count", "Total Failure Count",
			"Total Average Response Time", "50%", "95%", "99%", "100%")
		if err != nil {
			return nil, err
		}
		if math.IsNaN(start) {
			start = v[0]
		}
		k := [2]string{t.str(row, "Type"), t.str(row, "Name")}
		prev, ok := last[k]
		if !ok {
			prev = cumulative{ts: start} // every count is zero at the start
		}
		cur := cumulative{ts: v[0], requests: v[2], fail: v[3], sum: v[4] * v[2]}
		if cur.ts <= prev.ts {
			// No time has passed (the start, or the same second again):
			// the next row's difference covers these requests.
			continue
		}
		last[k] = cur
		n := cur.requests - prev.requests
		sm := Sample{Time: cur.ts - start, Interval: cur.ts - prev.ts, Unix: cur.ts, Users: int(v[1]),
			Requests: int64(n), Failures: int64(cur.fail - prev.fail)}
		if n > 0 {
			sm.Mean = (cur.sum - prev.sum) / n
			sm.P50, sm.P95, sm.P99, sm.Max = v[5], v[6], v[7], v[8]
		}
		sm.derive()
		s := set.get(k[0], k[1])
		s.Samples = append(s.Samples, sm)
	}
	return set.list, nil
}

func parseFailures(b []byte, a *app.App) ([]Failure, error) {
	if len(b) == 0 {
		return nil, nil
	}
	t, err := readTable(FileFailures, b, "Method", "Name", "Error", "Occurrences")
	if err != nil {
		return nil, err
	}
	var out []Failure
	for _, row := range t.rows {
		n, err := t.num(row, "Occurrences")
		if err != nil {
			return nil, err
		}
		f := Failure{Method: t.str(row, "Method"), Name: t.str(row, "Name"), Error: t.str(row, "Error"), Occurrences: int64(n)}
		f.RequestType = RequestTypeOf(a, f.Method, f.Name)
		out = append(out, f)
	}
	return out, nil
}

func parseExceptions(b []byte) ([]Exception, error) {
	if len(b) == 0 {
		return nil, nil
	}
	t, err := readTable(FileExceptions, b, "Count", "Message", "Traceback")
	if err != nil {
		return nil, err
	}
	var out []Exception
	for _, row := range t.rows {
		n, err := t.num(row, "Count")
		if err != nil {
			return nil, err
		}
		out = append(out, Exception{Count: int64(n), Message: t.str(row, "Message"), Traceback: t.str(row, "Traceback")})
	}
	return out, nil
}
