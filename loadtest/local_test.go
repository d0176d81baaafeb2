package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/grlscaler/grlscaler/envs/app"
	"github.com/grlscaler/grlscaler/envs/load"
)

func newLocalRunner(t *testing.T, dir string, opts LocalOptions) *LocalRunner {
	t.Helper()
	if opts.Locust == "" {
		opts.Locust = locustBin(t)
	}
	r, err := NewLocalRunner(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// steadyScenario is a constant-users Online Boutique scenario with the
// upstream journey's tasks and a think time, for tests with real Locust.
func steadyScenario(t *testing.T, users float64, d time.Duration, wait load.Wait) load.Scenario {
	t.Helper()
	peak, err := load.Lookup(load.OnlineBoutique, "peak")
	if err != nil {
		t.Fatal(err)
	}
	s := load.Scenario{App: load.OnlineBoutique, Name: "steady", Duration: d,
		Stages: []load.Stage{{End: d, Users: users}}, Wait: wait, Tasks: peak.Tasks}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	return s
}

func waitDone(t *testing.T, r Runner, h Handle, limit time.Duration) Status {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	st, err := Wait(ctx, r, h, 200*time.Millisecond)
	if err != nil {
		t.Fatalf("waiting for job %s: %v (last status %+v)", h.ID, err, st)
	}
	return st
}

// TestLocalRunnerAchievesTheDeclaredRate runs real Locust with a generated
// file against the emulated Online Boutique frontend and holds the achieved
// request rate to the scenario's declared one.
//
// The scenario has 50 constant users who think between(0.4 s, 0.6 s) after
// each request. A user is a closed loop: it sends a request, waits for the
// response (the latency L), then thinks for a mean of 0.5 s, so by the
// renewal-reward theorem it sends 1 / (0.5 s + L) requests per second, and
// the scenario declares users / (mean wait + L) =
// load.Scenario.TaskRate(t, L). The frontend answers after 5 ms; L is the
// mean response time Locust measured (the 5 ms plus the client's own
// overhead, about 7 ms in all), so the declared rate is about
// 50 / 0.507 = 98.6 RPS. The steady window leaves out the first 3 s (users
// start within the first second and their first cycles are in step) and
// the last second.
func TestLocalRunnerAchievesTheDeclaredRate(t *testing.T) {
	const users, latency = 50, 5 * time.Millisecond
	const run = 20 * time.Second
	b, srv := startBoutique(t, latency)
	s := steadyScenario(t, users, run, load.Wait{Kind: load.Between, Min: 400 * time.Millisecond, Max: 600 * time.Millisecond})
	job, err := NewJob(s, app.OnlineBoutique(), srv.URL, GenerateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r := newLocalRunner(t, t.TempDir(), LocalOptions{})
	h, err := r.Start(context.Background(), job)
	if err != nil {
		t.Fatal(err)
	}
	st := waitDone(t, r, h, run+time.Minute)
	if st.State != StateSucceeded || st.ExitCode == nil || *st.ExitCode != 0 {
		t.Fatalf("status %+v", st)
	}
	res, err := r.Results(context.Background(), h)
	if err != nil {
		t.Fatal(err)
	}
	if res.Source != SourceSamples {
		t.Errorf("series from %s, want the sampler's", res.Source)
	}

	// Samples carry the wall clock, to align them with the cluster's metrics.
	prevUnix := float64(st.Started.Add(-time.Second).UnixMilli()) / 1000
	for _, sm := range res.Aggregate.Samples {
		if end := float64(st.Finished.Add(time.Second).UnixMilli()) / 1000; sm.Unix <= prevUnix || sm.Unix > end {
			t.Errorf("sample at %.3f s has wall clock %.3f, want after %.3f and by %.3f", sm.Time, sm.Unix, prevUnix, end)
		}
		prevUnix = sm.Unix
	}

	var n int64
	var secs float64
	for _, sm := range res.Aggregate.Samples {
		if sm.Time-sm.Interval >= 3 && sm.Time <= run.Seconds()-1 {
			n += sm.Requests
			secs += sm.Interval
			if sm.Users != users {
				t.Errorf("%d users at %.1f s, want %d", sm.Users, sm.Time, users)
			}
		}
	}
	if secs < 10 {
		t.Fatalf("steady window only %.1f s long: %+v", secs, res.Aggregate.Samples)
	}
	achieved := float64(n) / secs
	measured := time.Duration(res.Total.Mean * float64(time.Millisecond))
	declared := s.TaskRate(run/2, measured)
	t.Logf("achieved %.1f RPS over %.1f s, declared %.1f RPS (%d users, mean response %v); %d requests in all",
		achieved, secs, declared, users, measured, res.Total.Requests)
	if math.Abs(achieved-declared) > 0.10*declared {
		t.Errorf("achieved %.1f RPS, declared %.1f: more than 10 %% apart", achieved, declared)
	}

	counts, rejected, sessions := b.snapshot()
	if len(rejected) > 0 {
		t.Errorf("the frontend rejected %d requests, e.g. %s", len(rejected), rejected[0])
	}
	if sessions != users {
		t.Errorf("%d sessions, want one per user (%d): users must keep the session cookie", sessions, users)
	}
	if res.Total.Failures != 0 {
		t.Errorf("%d failures: %+v", res.Total.Failures, res.Failures)
	}
	// Every task is one request of its type, named after it; the server saw
	// what Locust counted (give or take requests in flight at the end).
	mix := s.RequestMix()
	for _, tot := range res.ByRequest {
		if tot.RequestType != tot.Name {
			t.Errorf("entry %s %s maps to request type %q", tot.Method, tot.Name, tot.RequestType)
		}
		if d := counts[tot.Name] - int(tot.Requests); d < 0 || d > users {
			t.Errorf("%s: server saw %d, Locust counted %d", tot.Name, counts[tot.Name], tot.Requests)
		}
		share := float64(tot.Requests) / float64(res.Total.Requests)
		if math.Abs(share-mix[tot.Name]) > 0.05 {
			t.Errorf("%s is %.3f of requests, declared %.3f", tot.Name, share, mix[tot.Name])
		}
	}
	if len(res.ByRequest) != len(mix) {
		t.Errorf("%d request entries, want %d: %+v", len(res.ByRequest), len(mix), res.ByRequest)
	}
}

// quickJob is a short Online Boutique job against host.
func quickJob(t *testing.T, host string, d time.Duration) Job {
	t.Helper()
	s := steadyScenario(t, 4, d, load.Wait{Kind: load.ConstantThroughput, TasksPerSecond: 5})
	job, err := NewJob(s, app.OnlineBoutique(), host, GenerateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return job
}

func record(t *testing.T, r *LocalRunner, h Handle) jobRecord {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(r.dir, h.ID, recordFile))
	if err != nil {
		t.Fatal(err)
	}
	var rec jobRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	return rec
}

// waitForSamples waits until the job's sampler has written a row.
func waitForSamples(t *testing.T, r *LocalRunner, h Handle) {
	t.Helper()
	path := filepath.Join(r.dir, h.ID, csvPrefix+"_"+FileSamples)
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if b, err := os.ReadFile(path); err == nil && bytes.Count(b, []byte("\n")) > 1 {
			return
		}
	}
	t.Fatalf("no samples after 30 s; %s", logTail(filepath.Join(r.dir, h.ID)))
}

func TestLocalRunnerStopsLocustWhenTheContextEnds(t *testing.T) {
	t.Parallel()
	_, srv := startBoutique(t, time.Millisecond)
	r := newLocalRunner(t, t.TempDir(), LocalOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	h, err := r.Start(ctx, quickJob(t, srv.URL, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Results(context.Background(), h); !errors.Is(err, ErrNotDone) {
		t.Errorf("results of a running job: %v, want ErrNotDone", err)
	}
	waitForSamples(t, r, h)
	cancel()
	st := waitDone(t, r, h, 30*time.Second)
	if st.State != StateStopped || !strings.Contains(st.Reason, "context canceled") {
		t.Errorf("status %+v, want stopped because the context ended", st)
	}
	if rec := record(t, r, h); processRunning(rec.PID, filepath.Join(r.dir, h.ID)) || rec.State != StateStopped {
		t.Errorf("Locust (pid %d) still runs, or the record says %s", rec.PID, rec.State)
	}
	// SIGTERM lets Locust write its statistics: a stopped run has partial results.
	res, err := r.Results(context.Background(), h)
	if err != nil {
		t.Fatalf("results of a stopped job: %v", err)
	}
	if res.Total.Requests == 0 {
		t.Error("a stopped job's results have no requests")
	}
}

func TestLocalRunnerStopWaitsForLocustToExit(t *testing.T) {
	t.Parallel()
	_, srv := startBoutique(t, time.Millisecond)
	r := newLocalRunner(t, t.TempDir(), LocalOptions{})
	h, err := r.Start(context.Background(), quickJob(t, srv.URL, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	waitForSamples(t, r, h)
	st, err := r.Stop(context.Background(), h)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != StateStopped || st.Reason != "stopped on request" || st.Finished.IsZero() {
		t.Errorf("status after Stop %+v", st)
	}
	again, err := r.Stop(context.Background(), h)
	if err != nil || again != st {
		t.Errorf("stopping a stopped job: %+v, %v", again, err)
	}
	if _, err := r.Status(context.Background(), Handle{ID: "nope"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("status of an unknown job: %v, want ErrNotFound", err)
	}
}

// Locust exits with 1 whenever a request failed; a run that finished with
// every request refused is still a run, and its failures are its result.
func TestLocalRunnerCountsExitCodeOneWithCompleteResultsAsSuccess(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + l.Addr().String()
	l.Close()
	r := newLocalRunner(t, t.TempDir(), LocalOptions{})
	h, err := r.Start(context.Background(), quickJob(t, refused, 3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	st := waitDone(t, r, h, time.Minute)
	if st.State != StateSucceeded || st.ExitCode == nil || *st.ExitCode != 1 {
		t.Fatalf("status %+v, want succeeded with exit code 1", st)
	}
	res, err := r.Results(context.Background(), h)
	if err != nil {
		t.Fatal(err)
	}
	if res.Total.Requests == 0 || res.Total.FailureRate != 1 || len(res.Failures) == 0 {
		t.Errorf("totals %+v, failures %+v: want every request failed", res.Total, res.Failures)
	}
}

func TestLocalRunnerFailsABrokenLocustfile(t *testing.T) {
	t.Parallel()
	r := newLocalRunner(t, t.TempDir(), LocalOptions{})
	h, err := r.Start(context.Background(), Job{Locustfile: []byte("this is not python(\n"), Host: "http://127.0.0.1:1", Duration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	st := waitDone(t, r, h, time.Minute)
	if st.State != StateFailed || !strings.Contains(st.Reason, "SyntaxError") {
		t.Errorf("status %+v, want failed with Locust's SyntaxError", st)
	}
	if _, err := r.Results(context.Background(), h); !errors.Is(err, ErrNoResults) {
		t.Errorf("results of a failed job: %v, want ErrNoResults", err)
	}
}

func TestLocalRunnerFailsAJobThatOverrunsItsDuration(t *testing.T) {
	t.Parallel()
	_, srv := startBoutique(t, time.Millisecond)
	r := newLocalRunner(t, t.TempDir(), LocalOptions{Grace: time.Second})
	job := quickJob(t, srv.URL, time.Minute)
	job.Duration = 2 * time.Second // the file's shape runs a minute
	h, err := r.Start(context.Background(), job)
	if err != nil {
		t.Fatal(err)
	}
	st := waitDone(t, r, h, 30*time.Second)
	if st.State != StateFailed || !strings.Contains(st.Reason, "still running 1s after its 2s duration") {
		t.Errorf("status %+v, want failed for overrunning", st)
	}
}

func TestLocalRunnerStartsANamedJobOnce(t *testing.T) {
	t.Parallel()
	_, srv := startBoutique(t, time.Millisecond)
	r := newLocalRunner(t, t.TempDir(), LocalOptions{})
	job := quickJob(t, srv.URL, time.Minute)
	job.Name = "eval-peak-agent-1"
	h1, err := r.Start(context.Background(), job)
	if err != nil {
		t.Fatal(err)
	}
	h2, err := r.Start(context.Background(), job)
	if err != nil {
		t.Fatal(err)
	}
	if h1 != h2 || len(r.Jobs()) != 1 {
		t.Errorf("a second start of %s gave %v after %v (%d jobs)", job.Name, h2, h1, len(r.Jobs()))
	}
	if _, err := r.Stop(context.Background(), h1); err != nil {
		t.Fatal(err)
	}
	job.Name = "Not_A_Label"
	if _, err := r.Start(context.Background(), job); err == nil {
		t.Error("started a job whose name is not a DNS-1123 label")
	}
}

// TestNewLocalRunnerFailsJobsItDidNotSeeEnd leaves records as a runner
// that died would: one whose Locust is gone, one whose Locust (here a
// stand-in process in its own group, its command line naming the job's
// directory) still runs. A new runner fails both, with reasons, stops the
// stand-in, and keeps a finished job as it was.
func TestNewLocalRunnerFailsJobsItDidNotSeeEnd(t *testing.T) {
	dir := t.TempDir()
	write := func(id string, state State, pid int) string {
		jobDir := filepath.Join(dir, id)
		if err := os.MkdirAll(jobDir, 0o750); err != nil {
			t.Fatal(err)
		}
		rec := jobRecord{Status: Status{ID: id, State: state, Started: time.Now().UTC()}, Host: "http://x", Duration: time.Minute, PID: pid}
		if err := writeRecord(jobDir, rec); err != nil {
			t.Fatal(err)
		}
		return jobDir
	}
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	write("gone", StateRunning, gone.Process.Pid)
	aliveDir := filepath.Join(dir, "alive")
	alive := exec.Command("sh", "-c", "sleep 60; :", aliveDir)
	alive.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := alive.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- alive.Wait() }()
	write("alive", StateRunning, alive.Process.Pid)
	write("done", StateSucceeded, 0)

	r, err := NewLocalRunner(dir, LocalOptions{Locust: "locust", StopTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for id, want := range map[string]string{"gone": "ended while no runner watched it", "alive": "a new runner stopped it"} {
		st, err := r.Status(ctx, Handle{ID: id})
		if err != nil {
			t.Fatal(err)
		}
		if st.State != StateFailed || !strings.Contains(st.Reason, want) || st.Finished.IsZero() {
			t.Errorf("%s: %+v, want failed: %q", id, st, want)
		}
	}
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Error("the stand-in Locust still runs")
	}
	if st, err := r.Status(ctx, Handle{ID: "done"}); err != nil || st.State != StateSucceeded {
		t.Errorf("finished job: %+v, %v", st, err)
	}
	// The failure is recorded: the next runner reads it as it is.
	r2, err := NewLocalRunner(dir, LocalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := r2.Status(ctx, Handle{ID: "gone"}); st.State != StateFailed {
		t.Errorf("after a second restart: %+v", st)
	}
}

// Locust and the file it runs get the runner's environment without its
// credentials: the agent's token, S3 keys, a Kubernetes token.
func TestLocalRunnerKeepsSecretsOutOfLocustsEnvironment(t *testing.T) {
	t.Setenv(TokenEnv, "agent-token-value")
	t.Setenv("GRL_S3_SECRET_KEY", "s3-secret-value")
	t.Setenv("K8S_TOKEN", "k8s-token-value")
	t.Setenv("GRL_HARMLESS", "harmless-value")
	r := newLocalRunner(t, t.TempDir(), LocalOptions{})
	// A file that prints its environment and defines no user: Locust exits
	// with an error after the import.
	file := "import os\nfor k, v in sorted(os.environ.items()):\n    print('ENV', k, v)\n"
	h, err := r.Start(context.Background(), Job{Locustfile: []byte(file), Host: "http://127.0.0.1:1", Duration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	waitDone(t, r, h, time.Minute)
	out, err := os.ReadFile(filepath.Join(r.dir, h.ID, logFile))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "ENV GRL_HARMLESS harmless-value") {
		t.Fatalf("the file did not print its environment:\n%s", out)
	}
	for _, secret := range []string{"agent-token-value", "s3-secret-value", "k8s-token-value"} {
		if strings.Contains(string(out), secret) {
			t.Errorf("Locust's environment holds %q", secret)
		}
	}
}

func TestJobValidateChecksTheHostForTheApp(t *testing.T) {
	for _, tc := range []struct {
		app, host string
		ok        bool
	}{
		{"onlineboutique", "http://frontend.onlineboutique.svc", true},
		{"onlineboutique", "https://shop.example:8443", true},
		{"onlineboutique", "frontend:80", false},
		{"onlineboutique", "redis://r:6379", false},
		{"redis", "redis://redis-leader.redis.svc:6379", true},
		{"redis", "rediss://r:6380/0", true},
		{"redis", "127.0.0.1:6379", true},
		{"redis", "http://r:6379", false},
		{"redis", "redis-leader", false},
		{"", "anything://goes", true},
		{"", "", false},
	} {
		err := Job{App: tc.app, Host: tc.host, Locustfile: []byte("x"), Duration: time.Minute}.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("app %q host %q: %v", tc.app, tc.host, err)
		}
	}
}
