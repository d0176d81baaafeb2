package loadtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// startAgent serves a LocalRunner on dir through the agent on loopback.
// stop closes the server and the runner, as an agent that shuts down.
func startAgent(t *testing.T, dir, token string) (base string, stop func()) {
	t.Helper()
	r, err := NewLocalRunner(dir, LocalOptions{Locust: locustBin(t)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(NewAgent(r, AgentOptions{Token: token}))
	var once bool
	stop = func() {
		if !once {
			once = true
			srv.Close()
			_ = r.Close()
		}
	}
	t.Cleanup(stop)
	return srv.URL, stop
}

// TestAgentEndToEnd starts a job through RemoteRunner on an agent, reads
// its results (parsed and raw), restarts the agent on the same directory
// and reads the finished job again; a job running when the agent shuts
// down is stopped, and reported so after the restart.
func TestAgentEndToEnd(t *testing.T) {
	t.Parallel()
	b, target := startBoutique(t, time.Millisecond)
	dir := t.TempDir()
	base, stop := startAgent(t, dir, "s3cret")
	remote := &RemoteRunner{BaseURL: base, Token: "s3cret"}
	ctx := context.Background()

	job := quickJob(t, target.URL, 4*time.Second)
	job.Name = "e2e-finished"
	h, err := remote.Start(ctx, job)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := remote.Start(ctx, job); err != nil || again != h {
		t.Errorf("starting %s again gave %v, %v; want the same job %v", job.Name, again, err, h)
	}
	if _, err := remote.Results(ctx, h); !errors.Is(err, ErrNotDone) {
		t.Errorf("results of a running job: %v, want ErrNotDone", err)
	}
	st := waitDone(t, remote, h, time.Minute)
	if st.State != StateSucceeded || st.Name != job.Name {
		t.Fatalf("status %+v", st)
	}
	res, err := remote.Results(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	counts, rejected, _ := b.snapshot()
	if res.Total.Requests == 0 || res.Total.Failures != 0 || len(rejected) > 0 || counts["product"] == 0 {
		t.Errorf("totals %+v, rejected %v", res.Total, rejected)
	}
	for _, name := range []string{FileStats, FileStatsHistory, FileSamples} {
		if !strings.Contains(res.Files[name], "Aggregated") {
			t.Errorf("raw %s missing or without its Aggregated rows", name)
		}
	}
	if len(res.Requests) == 0 || res.Requests[0].RequestType == "" {
		t.Errorf("series not mapped to request types: %+v", res.Requests)
	}

	// A second job is still running when the agent shuts down.
	long := quickJob(t, target.URL, time.Minute)
	hl, err := remote.Start(ctx, long)
	if err != nil {
		t.Fatal(err)
	}
	stop()

	base2, _ := startAgent(t, dir, "s3cret")
	remote2 := &RemoteRunner{BaseURL: base2, Token: "s3cret"}
	st2, err := remote2.Status(ctx, h)
	if err != nil || st2.State != StateSucceeded || !st2.Finished.Equal(st.Finished) {
		t.Errorf("after the restart the finished job is %+v, %v; before it was %+v", st2, err, st)
	}
	res2, err := remote2.Results(ctx, h)
	if err != nil || res2.Total != res.Total {
		t.Errorf("after the restart the results are %+v, %v", res2, err)
	}
	if stl, err := remote2.Status(ctx, hl); err != nil || stl.State != StateStopped || stl.Reason != "the runner was closed" {
		t.Errorf("the job running at shutdown is %+v, %v; want stopped", stl, err)
	}
	jobs, err := remote2.Jobs(ctx)
	if err != nil || len(jobs) != 2 {
		t.Errorf("jobs after the restart: %+v, %v", jobs, err)
	}
	if _, err := remote2.Status(ctx, Handle{ID: "nope"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown job: %v, want ErrNotFound", err)
	}
}

// TestRemoteRunnerStopsTheJobWhenItsContextEnds: the job's context scopes
// it across the network too.
func TestRemoteRunnerStopsTheJobWhenItsContextEnds(t *testing.T) {
	t.Parallel()
	_, target := startBoutique(t, time.Millisecond)
	base, _ := startAgent(t, t.TempDir(), "")
	remote := &RemoteRunner{BaseURL: base}
	ctx, cancel := context.WithCancel(context.Background())
	h, err := remote.Start(ctx, quickJob(t, target.URL, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	st := waitDone(t, remote, h, 30*time.Second)
	if st.State != StateStopped {
		t.Errorf("status %+v, want stopped", st)
	}
}

func TestAgentRequiresItsTokenAndRejectsBadJobs(t *testing.T) {
	t.Parallel()
	r, err := NewLocalRunner(t.TempDir(), LocalOptions{Locust: "/nonexistent/locust"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(NewAgent(r, AgentOptions{Token: "right"}))
	t.Cleanup(srv.Close)
	ctx := context.Background()
	job := Job{Locustfile: []byte("x"), Host: "http://127.0.0.1:1", Duration: time.Second}

	for _, token := range []string{"", "wrong", "right2"} {
		_, err := (&RemoteRunner{BaseURL: srv.URL, Token: token}).Start(ctx, job)
		if err == nil || !strings.Contains(err.Error(), "401") {
			t.Errorf("token %q: %v, want 401", token, err)
		}
		if err != nil && strings.Contains(err.Error(), "right") {
			t.Errorf("the error names a token: %v", err)
		}
	}
	resp, err := http.Get(srv.URL + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("healthz without a token: %v, %v", resp, err)
	}
	if resp != nil {
		resp.Body.Close()
	}

	right := &RemoteRunner{BaseURL: srv.URL, Token: "right"}
	for name, body := range map[string]string{
		"not JSON":         `{`,
		"unknown field":    `{"locustfile": "x", "host": "http://h", "duration": "1m", "users": 5}`,
		"bad duration":     `{"locustfile": "x", "host": "http://h", "duration": "soon"}`,
		"no host":          `{"locustfile": "x", "duration": "1m"}`,
		"name not label":   `{"name": "A B", "locustfile": "x", "host": "http://h", "duration": "1m"}`,
		"unknown app":      `{"app": "shop", "locustfile": "x", "host": "http://h", "duration": "1m"}`,
		"zero duration":    `{"locustfile": "x", "host": "http://h", "duration": "0s"}`,
		"empty locustfile": `{"host": "http://h", "duration": "1m"}`,
	} {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/jobs", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer right")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %s, want 400", name, resp.Status)
		}
	}
	// A Locust that cannot start is the agent's failure to report.
	if _, err := right.Start(ctx, job); err == nil || !strings.Contains(err.Error(), "500") {
		t.Errorf("start without Locust: %v, want 500", err)
	}
}

// refusingRunner refuses every job, as the emulator refuses a job for an
// app it does not run; it serves nothing else.
type refusingRunner struct{ AgentRunner }

func (refusingRunner) Launch(context.Context, Job) (Handle, bool, error) {
	return Handle{}, false, fmt.Errorf("%w: job app %q: this runner runs redis", ErrBadJob, appOnlineBoutique)
}

// TestAgentAnswersARefusedJobWithBadRequest: a job its runner refuses
// (ErrBadJob) is the caller's mistake, 400 bad_request, not the agent's
// failure.
func TestAgentAnswersARefusedJobWithBadRequest(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(NewAgent(refusingRunner{}, AgentOptions{}))
	t.Cleanup(srv.Close)
	body := `{"app": "onlineboutique", "locustfile": "x", "host": "http://h", "duration": "1m"}`
	resp, err := http.Post(srv.URL+"/jobs", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e errorResponse
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusBadRequest || e.Code != codeBadRequest || !strings.Contains(e.Error, "this runner runs redis") {
		t.Errorf("%s %+v, want 400 bad_request with the runner's reason", resp.Status, e)
	}
}

func TestNewRemoteRunnerFromEnvReadsM1Host(t *testing.T) {
	for host, want := range map[string]string{
		"10.0.0.5":                 "http://10.0.0.5:8099",
		"10.0.0.5:9000":            "http://10.0.0.5:9000",
		"http://m1.lab:8099/":      "http://m1.lab:8099",
		"https://m1.lab":           "https://m1.lab:8099",
		"[::1]":                    "http://[::1]:8099",
		" m1 ":                     "http://m1:8099",
		"http://m1.lab:8000/agent": "http://m1.lab:8000/agent",
	} {
		r, err := NewRemoteRunnerFromEnv(func(k string) string {
			return map[string]string{HostEnv: host, TokenEnv: "tok"}[k]
		})
		if err != nil {
			t.Errorf("%q: %v", host, err)
			continue
		}
		if r.BaseURL != want || r.Token != "tok" {
			t.Errorf("%q: %q (token %q), want %q", host, r.BaseURL, r.Token, want)
		}
	}
	for _, host := range []string{"", "ftp://m1", "http://user:pw@m1", "http://"} {
		_, err := NewRemoteRunnerFromEnv(func(k string) string { return map[string]string{HostEnv: host}[k] })
		if err == nil {
			t.Errorf("%q: no error", host)
		} else if strings.Contains(err.Error(), "pw") {
			t.Errorf("%q: the error shows the password: %v", host, err)
		}
	}
}
