package emulator

import (
	"bytes"
	"crypto/rand"
	"encoding/csv"
	"encoding/hex"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/grlscaler/grlscaler/envs/load"
	"github.com/grlscaler/grlscaler/envs/sim"
	"github.com/grlscaler/grlscaler/loadtest"
)

// job is one emulated load job: a scenario the twin runs from the job's
// start for its duration, and the twin's steps meanwhile.
type job struct {
	st       loadtest.Status
	scenario load.Scenario
	duration time.Duration
	// Request types in the twin's order (Snapshot.TypeMeanMs), their
	// Locust type column and their share of the tasks.
	types, methods []string
	mix            []float64
	timeoutMs      float64
	steps          []stepRecord
}

// stepRecord is the twin's end-to-end view of one step of a job.
type stepRecord struct {
	// t is the end of the step in seconds from the job's start; unix the
	// wall clock then.
	t, interval, unix float64
	users             float64
	rate, errRate     float64 // user requests per second, failed fraction
	mean, p50, p95    float64
	typeMean          []float64
}

// record appends the step the twin just took, which ended at now.
func (j *job) record(now, tick time.Duration, v *view) {
	s := &v.snap
	j.steps = append(j.steps, stepRecord{
		t: now.Seconds(), interval: tick.Seconds(), unix: float64(v.at.UnixNano()) / 1e9,
		users: j.scenario.UsersAt(now - tick/2),
		rate:  s.TaskRate, errRate: s.ErrorRate,
		mean: s.MeanMs, p50: s.P50Ms, p95: s.P95Ms,
		typeMean: s.TypeMeanMs, // publish gave the view its own copy
	})
}

// finish ends j; e.mu is held. The caller moves the twin on.
func (e *Emulator) finish(j *job, state loadtest.State, reason string) {
	j.st.State, j.st.Reason = state, reason
	j.st.Finished = e.o.Now().UTC()
	if e.active == j {
		e.active = nil
	}
	e.o.Log.Info("emulated load job ended", "id", j.st.ID, "name", j.st.Name, "state", state, "reason", reason, "steps", len(j.steps))
}

// locustScenario finds the scenario a generated Locust file names
// (loadtest's template writes SCENARIO = "app/name").
var locustScenario = regexp.MustCompile(`(?m)^SCENARIO = "([^"]*)"`)

// scenarioOf resolves the scenario a job replays: its Scenario, else the
// one its Locust file was generated from, as "name" or "app/name",
// stretched to the job's duration.
func (e *Emulator) scenarioOf(lj loadtest.Job) (load.Scenario, error) {
	name := lj.Scenario
	if name == "" {
		if m := locustScenario.FindSubmatch(lj.Locustfile); m != nil {
			name = string(m[1])
		}
	}
	if name == "" {
		return load.Scenario{}, fmt.Errorf("no scenario: the emulator replays a load scenario in its twin instead of running Locust; set the start request's scenario (loadtest.Job.Scenario, which loadtest.NewJob fills) or send a generated Locust file")
	}
	if a, n, ok := strings.Cut(name, "/"); ok {
		if a != e.o.App.Name {
			return load.Scenario{}, fmt.Errorf("scenario %q is for app %s; the emulator runs %s", name, a, e.o.App.Name)
		}
		name = n
	}
	sc, err := sim.ScenarioFor(e.o.App, name)
	if err != nil {
		return load.Scenario{}, fmt.Errorf("scenario: %w", err)
	}
	return sc.WithDuration(lj.Duration), nil
}

// newJob builds the job record of a resolved scenario.
func (e *Emulator) newJob(id, name string, sc load.Scenario, d time.Duration) *job {
	j := &job{
		st:       loadtest.Status{ID: id, Name: name, State: loadtest.StateRunning, Started: e.o.Now().UTC()},
		scenario: sc, duration: d,
		timeoutMs: e.o.App.RequestTimeoutSeconds * 1000,
	}
	var total float64
	for _, t := range sc.Tasks {
		total += t.Weight
	}
	// The twin keeps the scenario's task order for its request types.
	for _, t := range sc.Tasks {
		j.types = append(j.types, t.RequestType)
		j.methods = append(j.methods, e.o.App.RequestTypes[e.o.App.RequestTypeIndex(t.RequestType)].Method)
		j.mix = append(j.mix, t.Weight/total)
	}
	return j
}

func newID() (string, error) {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("job id: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// statsColumns are Locust's stats file columns (--csv PREFIX_stats.csv),
// and statsQuantiles its percentile columns before "100%".
var (
	statsColumns = []string{"Type", "Name", "Request Count", "Failure Count", "Median Response Time",
		"Average Response Time", "Min Response Time", "Max Response Time", "Average Content Size",
		"Requests/s", "Failures/s", "50%", "66%", "75%", "80%", "90%", "95%", "98%", "99%", "99.9%", "99.99%", "100%"}
	statsQuantiles = []float64{0.5, 0.66, 0.75, 0.8, 0.9, 0.95, 0.98, 0.99, 0.999, 0.9999}
	// sampleColumns are the generated file's sampler columns
	// (loadtest/locustfile.py.tmpl SAMPLE_COLUMNS).
	sampleColumns = []string{"Time", "Interval", "User Count", "Type", "Name", "Requests", "Failures",
		"50%", "95%", "99%", "Average Response Time", "Max Response Time", "Unix Time"}
)

// A lognormal has neither minimum nor maximum; these quantiles stand in
// for Locust's fastest and slowest request.
const (
	minQuantile = 0.001
	maxQuantile = 0.9999
)

// entryTotals accumulates one Locust entry over a job.
type entryTotals struct {
	method, name    string
	requests, fails int64
	sumMs           float64
	dists           []sim.Lognormal // per step, weighted by its requests
	carryN, carryF  float64         // expected counts so far
	emittedN, emitF int64           // whole counts written so far
}

// files renders the job's steps as the Locust files a generated file's
// run leaves (stats and samples), so that loadtest.ParseResults builds the
// same Results a Locust agent returns. The twin knows rates, not counts:
// each interval gets the whole requests that the rate has accumulated (the
// fractions carry over), and failures likewise. It keeps one end-to-end
// latency distribution; a request type's is that one scaled by the type's
// mean over the overall mean.
func (j *job) files() map[string][]byte {
	ents := make([]*entryTotals, len(j.types))
	for k := range j.types {
		ents[k] = &entryTotals{method: j.methods[k], name: j.types[k]}
	}
	agg := &entryTotals{name: "Aggregated"}
	var samples bytes.Buffer
	sw := csv.NewWriter(&samples)
	_ = sw.Write(sampleColumns)
	var elapsed float64
	for _, s := range j.steps {
		elapsed += s.interval
		head := []string{num(s.t), num(s.interval), strconv.Itoa(int(math.Round(s.users)))}
		var aggN, aggF int64
		for k, en := range ents {
			expected := s.rate * j.mix[k] * s.interval
			en.carryN += expected
			n := int64(math.Floor(en.carryN+1e-9)) - en.emittedN
			en.emittedN += n
			en.carryF += expected * s.errRate
			f := min(int64(math.Floor(en.carryF+1e-9))-en.emitF, n)
			en.emitF += f
			scale := 1.0
			if s.mean > 0 && k < len(s.typeMean) && s.typeMean[k] > 0 {
				scale = s.typeMean[k] / s.mean
			}
			mean := s.mean * scale
			d, ok := fitQuantiles(s.p50*scale, s.p95*scale, float64(n))
			en.add(n, f, mean, d, ok)
			aggN += n
			aggF += f
			_ = sw.Write(append(append(rowHead(head), en.method, en.name), j.intervalCells(n, f, mean, d, ok, s.unix)...))
		}
		d, ok := fitQuantiles(s.p50, s.p95, float64(aggN))
		agg.add(aggN, aggF, s.mean, d, ok)
		_ = sw.Write(append(append(rowHead(head), "", agg.name), j.intervalCells(aggN, aggF, s.mean, d, ok, s.unix)...))
	}
	sw.Flush()

	var stats bytes.Buffer
	tw := csv.NewWriter(&stats)
	_ = tw.Write(statsColumns)
	for _, en := range append(ents, agg) {
		_ = tw.Write(j.totalCells(en, elapsed))
	}
	tw.Flush()
	return map[string][]byte{loadtest.FileStats: stats.Bytes(), loadtest.FileSamples: samples.Bytes()}
}

func (en *entryTotals) add(n, f int64, mean float64, d sim.Lognormal, ok bool) {
	en.requests += n
	en.fails += f
	en.sumMs += float64(n) * mean
	if ok && n > 0 {
		en.dists = append(en.dists, d)
	}
}

// intervalCells are a sample row's counts, latencies and time.
func (j *job) intervalCells(n, f int64, mean float64, d sim.Lognormal, ok bool, unix float64) []string {
	cells := []string{strconv.FormatInt(n, 10), strconv.FormatInt(f, 10)}
	if n > 0 && ok {
		cells = append(cells, j.ms(quantile(d, 0.5)), j.ms(quantile(d, 0.95)), j.ms(quantile(d, 0.99)), j.ms(mean), j.ms(quantile(d, maxQuantile)))
	} else {
		cells = append(cells, "", "", "", "", "")
	}
	return append(cells, strconv.FormatFloat(unix, 'f', 3, 64))
}

// totalCells are a stats row: the whole job's counts and the quantiles of
// its steps' request-weighted mixture.
func (j *job) totalCells(en *entryTotals, elapsed float64) []string {
	rate := func(x int64) string {
		if elapsed <= 0 {
			return "0"
		}
		return num(float64(x) / elapsed)
	}
	row := []string{en.method, en.name, strconv.FormatInt(en.requests, 10), strconv.FormatInt(en.fails, 10)}
	if en.requests == 0 || len(en.dists) == 0 {
		row = append(row, "0", "0", "0", "0", "0", rate(en.requests), rate(en.fails))
		for range statsQuantiles {
			row = append(row, "N/A")
		}
		return append(row, "N/A")
	}
	q := func(p float64) string { return j.ms(sim.MixtureQuantile(en.dists, p)) }
	row = append(row, q(0.5), j.ms(en.sumMs/float64(en.requests)), q(minQuantile), q(maxQuantile), "0", rate(en.requests), rate(en.fails))
	for _, p := range statsQuantiles {
		row = append(row, q(p))
	}
	return append(row, q(maxQuantile))
}

// ms renders a latency, capped at the request timeout as the twin caps its
// percentiles (a slower request fails instead).
func (j *job) ms(x float64) string { return num(math.Min(x, j.timeoutMs)) }

func num(x float64) string { return strconv.FormatFloat(math.Round(x*1000)/1000, 'f', -1, 64) }

// rowHead copies a row's first cells, so rows do not share their backing
// array.
func rowHead(head []string) []string { return append(make([]string, 0, len(head)+10), head...) }
