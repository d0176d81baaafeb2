package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/grlscaler/grlscaler/infra/objstore"
	"github.com/grlscaler/grlscaler/loadtest"
	"github.com/grlscaler/grlscaler/workflows/api"
)

// fakeLocust is a loadtest.Runner whose jobs end when the test says, or
// when their context ends (as the real runners do).
type fakeLocust struct {
	mu      sync.Mutex
	kinds   []string
	jobs    []loadtest.Job
	state   map[string]loadtest.State
	results *loadtest.Results
}

func newFakeLocust() *fakeLocust {
	return &fakeLocust{state: map[string]loadtest.State{}, results: &loadtest.Results{
		Total: loadtest.Totals{Requests: 600, Failures: 6, RPS: 20, P50: 40, P95: 120, P99: 300},
	}}
}

func (f *fakeLocust) Start(ctx context.Context, job loadtest.Job) (loadtest.Handle, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.jobs = append(f.jobs, job)
	f.state[job.Name] = loadtest.StateRunning
	context.AfterFunc(ctx, func() { f.set(job.Name, loadtest.StateStopped, true) })
	return loadtest.Handle{ID: job.Name}, nil
}

// set moves a job to state; onlyRunning leaves an ended job alone.
func (f *fakeLocust) set(id string, s loadtest.State, onlyRunning bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !onlyRunning || f.state[id] == loadtest.StateRunning {
		f.state[id] = s
	}
}

func (f *fakeLocust) Status(_ context.Context, h loadtest.Handle) (loadtest.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, ok := f.state[h.ID]
	if !ok {
		return loadtest.Status{}, loadtest.ErrNotFound
	}
	return loadtest.Status{ID: h.ID, State: st}, nil
}

func (f *fakeLocust) Stop(ctx context.Context, h loadtest.Handle) (loadtest.Status, error) {
	f.set(h.ID, loadtest.StateStopped, true)
	return f.Status(ctx, h)
}

func (f *fakeLocust) Results(_ context.Context, h loadtest.Handle) (*loadtest.Results, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch f.state[h.ID] {
	case loadtest.StateRunning:
		return nil, loadtest.ErrNotDone
	case loadtest.StateFailed:
		return nil, loadtest.ErrNoResults
	}
	return f.results, nil
}

func (f *fakeLocust) snapshot() ([]string, []loadtest.Job, map[string]loadtest.State) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := map[string]loadtest.State{}
	for k, v := range f.state {
		st[k] = v
	}
	return append([]string(nil), f.kinds...), append([]loadtest.Job(nil), f.jobs...), st
}

func loadEnv(t *testing.T, edit func(*api.Spec)) (*env, *fakeLocust, api.ExperimentSpec) {
	t.Helper()
	e := newEnv(t)
	f := newFakeLocust()
	e.acts.LoadRunners = func(_ context.Context, _ *api.ExperimentSpec, kind string) (loadtest.Runner, error) {
		f.mu.Lock()
		f.kinds = append(f.kinds, kind)
		f.mu.Unlock()
		return f, nil
	}
	return e, f, k8sSpec(t, edit)
}

func TestLoadStageRunsTheScenarioAndStoresLocustsResults(t *testing.T) {
	e, f, spec := loadEnv(t, nil)
	go func() {
		// Locust runs to the end of its shape.
		for {
			if _, jobs, _ := f.snapshot(); len(jobs) > 0 {
				f.set(jobs[0].Name, loadtest.StateSucceeded, true)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	res, err := e.acts.RunLoad(context.Background(), api.LoadInput{
		ExperimentID: testID, Spec: spec, Name: "load-exp-1-eval-a1", Scenario: "peak", Duration: api.Duration(90 * time.Second),
	})
	if err != nil {
		t.Fatal(err)
	}
	kinds, jobs, _ := f.snapshot()
	if len(jobs) != 1 || kinds[0] != api.LocustKubernetes {
		t.Fatalf("jobs %d on runners %v, want one on the spec's default (kubernetes)", len(jobs), kinds)
	}
	j := jobs[0]
	if j.Name != "load-exp-1-eval-a1" || j.Scenario != "peak" || j.Duration != 90*time.Second ||
		j.Host != "http://frontend.ob.svc.cluster.local:80" || !strings.Contains(string(j.Locustfile), "LoadTestShape") {
		t.Errorf("job %s scenario %s duration %s host %s", j.Name, j.Scenario, j.Duration, j.Host)
	}
	if res.Requests != 600 || res.Failures != 6 || res.LatencyP95Ms != 120 || res.State != "succeeded" {
		t.Errorf("result %+v", res)
	}
	data, _, err := objstore.GetVerified(context.Background(), e.store, res.ResultsKey, res.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	var stored loadtest.Results
	if err := json.Unmarshal(data, &stored); err != nil || stored.Total.Requests != 600 {
		t.Errorf("stored results %+v (%v)", stored.Total, err)
	}
}

func TestLoadBesideWorkIsNamedPerStartAndStoppedWithIt(t *testing.T) {
	e, f, spec := loadEnv(t, func(s *api.Spec) {
		s.Load.Locust.Runner = api.LocustRemote
	})
	ld := e.acts.startLoad(context.Background(), &spec, testID, "peak", time.Hour, "train", "agent", "0")
	var jobs []loadtest.Job
	for deadline := time.Now().Add(10 * time.Second); len(jobs) == 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		_, jobs, _ = f.snapshot()
	}
	if len(jobs) != 1 || !strings.HasPrefix(jobs[0].Name, "load-exp-1-train-agent-0-") {
		t.Fatalf("jobs %+v, want one named after the work", jobs)
	}
	// Another start of the same work (a retry) gets a job of its own.
	again := e.acts.startLoad(context.Background(), &spec, testID, "peak", time.Hour, "train", "agent", "0")
	defer again.stop()
	for deadline := time.Now().Add(10 * time.Second); len(jobs) < 2 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		_, jobs, _ = f.snapshot()
	}
	if len(jobs) != 2 || jobs[1].Name == jobs[0].Name {
		t.Fatalf("a retry's load job %+v has the first one's name", jobs)
	}
	if err := ld.ended(); err != nil {
		t.Fatalf("running load reports %v", err)
	}
	ld.stop()
	kinds, _, states := f.snapshot()
	if states[jobs[0].Name] != loadtest.StateStopped || kinds[0] != api.LocustRemote {
		t.Errorf("after stop: %v on %v", states, kinds)
	}
	if err := ld.ended(); err == nil {
		t.Error("stopped load does not report that it ended")
	}
}

func TestLoadThatFailsFailsTheWorkItWasFor(t *testing.T) {
	e, f, spec := loadEnv(t, nil)
	ld := e.acts.startLoad(context.Background(), &spec, testID, "peak", time.Minute, "eval")
	for {
		if _, jobs, _ := f.snapshot(); len(jobs) > 0 {
			f.set(jobs[0].Name, loadtest.StateFailed, true)
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	_, err := ld.wait(context.Background())
	if err == nil || !errors.Is(err, loadtest.ErrNoResults) {
		t.Fatalf("wait: %v, want the runner's no-results error", err)
	}
	if ld.failed() == nil {
		t.Error("failed() is nil after a failed load")
	}
}

func TestKubernetesStageRunnerRunsLoadAsTheLocustJob(t *testing.T) {
	e, f, spec := loadEnv(t, func(s *api.Spec) {
		s.Execution.StageRunners = map[string]string{api.StageNameLoad: api.StageRunnerKubernetes}
	})
	go func() {
		for {
			if _, jobs, _ := f.snapshot(); len(jobs) > 0 {
				f.set(jobs[0].Name, loadtest.StateSucceeded, true)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	// No Jobs runner for grlscaler's image is configured: the load stage
	// must not need one.
	if _, err := e.acts.RunLoad(context.Background(), api.LoadInput{ExperimentID: testID, Spec: spec, Name: "load-x-a1", Scenario: "peak", Duration: api.Duration(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if kinds, _, _ := f.snapshot(); len(kinds) != 1 || kinds[0] != api.LocustKubernetes {
		t.Errorf("runners %v, want the Locust Job runner", kinds)
	}
}

func TestLoadJobNamesAreDNSLabels(t *testing.T) {
	for _, tc := range []struct {
		parts []string
		want  string
	}{
		{[]string{"exp-1", "eval", "agent", "peak", "", "0", "a1"}, "load-exp-1-eval-agent-peak-0-a1"},
		{[]string{"Exp_1", "train", "gcn.agent", "3", "a2"}, "load-exp-1-train-gcn-agent-3-a2"},
	} {
		if got := loadJobName(tc.parts[0], tc.parts[1:]...); got != tc.want {
			t.Errorf("loadJobName(%q) = %q, want %q", tc.parts, got, tc.want)
		}
	}
	long := loadJobName(strings.Repeat("x", 60), "eval", "agent", "a1")
	if len(long) > 63 || !strings.HasPrefix(long, "load-xxx") {
		t.Errorf("long name %q (%d characters)", long, len(long))
	}
	if long == loadJobName(strings.Repeat("x", 60), "eval", "agent", "a2") {
		t.Error("long names of different work collide")
	}
}

// refusingLocust refuses every job as invalid, as an agent answers 400.
type refusingLocust struct{ *fakeLocust }

func (refusingLocust) Start(context.Context, loadtest.Job) (loadtest.Handle, error) {
	return loadtest.Handle{}, fmt.Errorf("%w: job app %q: this agent runs redis", loadtest.ErrBadJob, "onlineboutique")
}

func TestLoadTheRunnerRefusesIsNotRetried(t *testing.T) {
	e, f, spec := loadEnv(t, nil)
	e.acts.LoadRunners = func(context.Context, *api.ExperimentSpec, string) (loadtest.Runner, error) {
		return refusingLocust{f}, nil
	}
	_, err := e.acts.RunLoad(context.Background(), api.LoadInput{ExperimentID: testID, Spec: spec, Name: "load-x-a1", Scenario: "peak", Duration: api.Duration(time.Minute)})
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || !appErr.NonRetryable() || appErr.Type() != api.ErrTypeInvalidSpec {
		t.Fatalf("got %v, want a non-retryable %s error", err, api.ErrTypeInvalidSpec)
	}
}
