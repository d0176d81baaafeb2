package emulator

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"

	"github.com/grlscaler/grlscaler/envs/k8s"
	"github.com/grlscaler/grlscaler/loadtest"
)

func TestPodUsageGrowsWithLoad(t *testing.T) {
	t.Parallel()
	s := newScene(t)
	s.step(t, 5)
	idleCPU, idleMem := s.fc.usage("frontend")
	if len(idleCPU) != 1 || idleCPU[0] <= 0 || idleMem[0] <= 0 {
		t.Fatalf("idle frontend usage cpu %v mem %v, want one annotated pod", idleCPU, idleMem)
	}

	if _, err := s.agent.Start(context.Background(), obJob(t, "peak", time.Minute)); err != nil {
		t.Fatal(err)
	}
	s.step(t, 10)
	peakCPU, peakMem := s.fc.usage("frontend")
	// 400 users at 1 request/s cost the frontend 456m at 1.14 ms per call
	// (envs/app/onlineboutique.yaml), more than its 200m limit: one pod
	// runs at the limit.
	if peakCPU[0] < 10*idleCPU[0] || peakCPU[0] > 200 {
		t.Errorf("frontend cpu %vm under peak, idle %vm: want at least 10x idle, at most the 200m limit", peakCPU[0], idleCPU[0])
	}
	if peakMem[0] <= idleMem[0] {
		t.Errorf("frontend memory %v MiB under peak, idle %v MiB: want more (requests in flight)", peakMem[0], idleMem[0])
	}
}

func TestPerPodUsageFallsWithMoreReplicas(t *testing.T) {
	t.Parallel()
	s := newScene(t)
	if _, err := s.agent.Start(context.Background(), obJob(t, "offpeak", 10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	s.step(t, 10)
	one, _ := s.fc.usage("frontend")
	s.fc.scale("frontend", 3)
	// The twin's new frontend pods are ready after 10 s.
	s.step(t, 15)
	three, _ := s.fc.usage("frontend")
	if len(three) != 3 {
		t.Fatalf("%d frontend pods annotated, want 3", len(three))
	}
	for _, c := range three {
		if c >= one[0]/2 {
			t.Errorf("frontend pods at %vm with 3 replicas, %vm with 1: want each well below", three, one[0])
		}
	}
	// The service's total stays about the same: the same load, spread.
	if tot := sum(three); math.Abs(tot-one[0]) > 0.25*one[0] {
		t.Errorf("frontend total %vm with 3 replicas, %vm with 1; want within 25%%", tot, one[0])
	}
}

func TestUsageIsPatchedOnlyWhenItChanges(t *testing.T) {
	t.Parallel()
	s := newScene(t)
	s.step(t, 3)
	s.fc.kube.ClearActions()
	s.step(t, 3) // idle: every pod's usage stays put
	for _, a := range s.fc.kube.Actions() {
		if a.GetVerb() == "patch" {
			t.Errorf("idle step patched %s", a.(k8stesting.PatchAction).GetName())
		}
	}
}

func TestStepsSkipPodsThatDoNotRun(t *testing.T) {
	t.Parallel()
	s := newScene(t)
	p := s.fc.pods("frontend")[0]
	p.Status.Phase = "Pending"
	p.Spec.NodeName = ""
	if _, err := s.fc.kube.CoreV1().Pods(testNS).Update(context.Background(), &p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	s.step(t, 2)
	if got := s.fc.pods("frontend")[0].Annotations[AnnotationUsageCPU]; got != "" {
		t.Errorf("a pending pod got usage %q", got)
	}
}

func TestStepSurvivesAPIErrors(t *testing.T) {
	t.Parallel()
	s := newScene(t)
	if _, err := s.agent.Start(context.Background(), obJob(t, "peak", 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	s.fc.kube.PrependReactor("list", "deployments", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("connection refused")
	})
	var errs int
	for range 5 {
		s.clock.add(time.Second)
		if err := s.em.Step(context.Background()); err != nil {
			errs++
		}
	}
	if errs != 5 {
		t.Errorf("%d of 5 steps reported the failing list", errs)
	}
	// The twin kept time: the 5 s job ended on its own.
	jobs, err := s.agent.Jobs(context.Background())
	if err != nil || len(jobs) != 1 || jobs[0].State != loadtest.StateSucceeded {
		t.Errorf("jobs %+v, %v; want the job succeeded", jobs, err)
	}
}

func TestObserveReadsTheEmulatedPrometheusAndViz(t *testing.T) {
	t.Parallel()
	s := newScene(t)
	s.fc.scale("cartservice", 2)
	if _, err := s.agent.Start(context.Background(), obJob(t, "offpeak", 10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	s.step(t, 20)
	prom, err := k8s.NewPrometheus(s.srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := k8s.NewCluster(k8s.Options{Kube: s.fc.kube, Prometheus: prom, Viz: &k8s.Viz{URL: s.srv.URL + "/api/edges"},
		App: s.em.o.App, Namespace: testNS, Resources: k8s.FromPrometheus, Now: s.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	obs, err := c.Observe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// 100 users at 1 request/s, all entering at the frontend.
	if obs.RPS < 80 || obs.RPS > 110 || !obs.HasLatency || obs.LatencyP50Ms <= 0 ||
		obs.LatencyP95Ms < obs.LatencyP50Ms || obs.LatencyP99Ms < obs.LatencyP95Ms || obs.LatencyMeanMs <= 0 {
		t.Errorf("app rps %v latency %v mean %v p50/95/99 %v/%v/%v", obs.RPS, obs.HasLatency, obs.LatencyMeanMs, obs.LatencyP50Ms, obs.LatencyP95Ms, obs.LatencyP99Ms)
	}
	for _, so := range obs.Services {
		if so.RPS <= 0 || so.LatencyP95Ms <= 0 || so.SuccessRate <= 0.9 {
			t.Errorf("%s rps %v p95 %v success %v", so.Name, so.RPS, so.LatencyP95Ms, so.SuccessRate)
		}
		if so.MetricPods != so.Replicas || len(so.Pods) != so.Replicas || so.CPUMilli <= 0 || so.MemMiB <= 0 || so.RxKBps <= 0 {
			t.Errorf("%s: %d of %d pods with metrics, cpu %v mem %v rx %v", so.Name, so.MetricPods, so.Replicas, so.CPUMilli, so.MemMiB, so.RxKBps)
		}
	}
	if cart := obs.Services[s.em.o.App.Index("cartservice")]; cart.Replicas != 2 || cart.MetricPods != 2 {
		t.Errorf("cartservice %d replicas, %d with metrics, want 2", cart.Replicas, cart.MetricPods)
	}
	if len(obs.UnknownEdges) != 0 || len(obs.Edges) != len(s.em.o.App.Edges()) {
		t.Errorf("edges %d (want the %d static ones), unknown %v", len(obs.Edges), len(s.em.o.App.Edges()), obs.UnknownEdges)
	}
	for _, e := range obs.Edges {
		if !e.InViz || e.RPS <= 0 || e.LatencyP50Ms <= 0 {
			t.Errorf("edge %d -> %d: in viz %v rps %v p50 %v", e.Src, e.Dst, e.InViz, e.RPS, e.LatencyP50Ms)
		}
	}
}

func TestIdleAppHasTrafficWithoutLatency(t *testing.T) {
	t.Parallel()
	s := newScene(t)
	s.step(t, 3)
	prom, err := k8s.NewPrometheus(s.srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := k8s.NewCluster(k8s.Options{Kube: s.fc.kube, Prometheus: prom, App: s.em.o.App, Namespace: testNS,
		Resources: k8s.FromPrometheus, Now: s.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	obs, err := c.Observe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// Prometheus' histogram_quantile over no requests is NaN, which the
	// backend reads as no latency rather than zero.
	if obs.RPS != 0 || obs.HasLatency {
		t.Errorf("idle app rps %v, has latency %v; want 0 and false", obs.RPS, obs.HasLatency)
	}
	if fe := obs.Services[s.em.o.App.Index("frontend")]; fe.CPUMilli <= 0 || fe.MetricPods != 1 {
		t.Errorf("idle frontend cpu %v from %d pods, want idle usage from 1", fe.CPUMilli, fe.MetricPods)
	}
}

func TestRemoteRunnerDrivesEmulatedJobs(t *testing.T) {
	t.Parallel()
	s := newScene(t)
	ctx := context.Background()
	j := obJob(t, "peak", time.Minute)
	j.Name = "episode-1"
	h, err := s.agent.Start(ctx, j)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := s.agent.Start(ctx, j); err != nil || again != h {
		t.Errorf("starting %s again gave %v, %v; want the same job %v", j.Name, again, err, h)
	}
	if jobs, err := s.agent.Jobs(ctx); err != nil || len(jobs) != 1 {
		t.Errorf("jobs %+v, %v; want one", jobs, err)
	}
	if st, err := s.agent.Status(ctx, h); err != nil || st.State != loadtest.StateRunning || st.Name != j.Name {
		t.Errorf("status %+v, %v; want running", st, err)
	}
	if _, err := s.agent.Results(ctx, h); !errors.Is(err, loadtest.ErrNotDone) {
		t.Errorf("results of a running job: %v, want ErrNotDone", err)
	}
	s.step(t, 10)
	st, err := s.agent.Stop(ctx, h)
	if err != nil || st.State != loadtest.StateStopped || st.Finished.Sub(st.Started) != 10*time.Second {
		t.Fatalf("stop gave %+v, %v; want stopped after 10 s", st, err)
	}
	res, err := s.agent.Results(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	samples := res.Aggregate.Samples
	if res.Source != loadtest.SourceSamples || len(samples) != 10 {
		t.Fatalf("source %s, %d samples; want 10 from samples", res.Source, len(samples))
	}
	last := samples[len(samples)-1]
	if last.Users != 400 || last.RPS <= 0 || last.P50 <= 0 || last.P95 < last.P50 || last.P99 < last.P95 || last.Unix <= 0 {
		t.Errorf("last sample %+v", last)
	}
	var n int64
	for _, sm := range samples {
		n += sm.Requests
	}
	if res.Total.Requests != n || n == 0 || res.Total.P95 <= 0 || len(res.ByRequest) != 6 || len(res.Requests) != 6 {
		t.Errorf("totals %+v over %d sampled requests, %d request types", res.Total, n, len(res.ByRequest))
	}
	for _, r := range res.Requests {
		if r.RequestType == "" {
			t.Errorf("series %s %s is not mapped to a request type", r.Method, r.Name)
		}
	}
	if _, err := s.agent.Status(ctx, loadtest.Handle{ID: "nope"}); !errors.Is(err, loadtest.ErrNotFound) {
		t.Errorf("unknown job: %v, want ErrNotFound", err)
	}
}

func TestJobsEndOnTheirOwn(t *testing.T) {
	t.Parallel()
	s := newScene(t)
	ctx := context.Background()
	h, err := s.agent.Start(ctx, obJob(t, "rushsale", 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	s.step(t, 9)
	if st, _ := s.agent.Status(ctx, h); st.State != loadtest.StateRunning {
		t.Fatalf("after 9 of 10 s the job is %s", st.State)
	}
	s.step(t, 1)
	if st, err := s.agent.Status(ctx, h); err != nil || st.State != loadtest.StateSucceeded || st.Finished.IsZero() {
		t.Fatalf("after 10 s the job is %+v, %v; want succeeded", st, err)
	}
	res, err := s.agent.Results(ctx, h)
	if err != nil || len(res.Aggregate.Samples) != 10 {
		t.Fatalf("results %v, %v", res, err)
	}
	// rushsale's rush (800 users) covers 20-53 % of the run (180-480 s of 900).
	users := []int{}
	for _, sm := range res.Aggregate.Samples {
		users = append(users, sm.Users)
	}
	if !slices.Contains(users, 800) || users[0] != 100 || users[9] != 100 {
		t.Errorf("users per second %v, want 100, the rush at 800, 100", users)
	}
	// The twin is idle again.
	s.step(t, 2)
	v, _ := s.em.current()
	if v.snap.TaskRate != 0 {
		t.Errorf("after the job the twin runs %v requests/s, want 0", v.snap.TaskRate)
	}
}

func TestStartingAJobStopsTheRunningOne(t *testing.T) {
	t.Parallel()
	s := newScene(t)
	ctx := context.Background()
	first, err := s.agent.Start(ctx, obJob(t, "peak", time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	s.step(t, 2)
	second, err := s.agent.Start(ctx, obJob(t, "offpeak", time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.agent.Status(ctx, first)
	if err != nil || st.State != loadtest.StateStopped || !strings.Contains(st.Reason, second.ID) {
		t.Errorf("the first job is %+v, %v; want stopped, superseded by %s", st, err, second.ID)
	}
	if res, err := s.agent.Results(ctx, first); err != nil || len(res.Aggregate.Samples) != 2 {
		t.Errorf("the first job's results %v, %v; want its 2 steps", res, err)
	}
}

func TestStartRequestsNameTheirScenario(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		scenario string
		noFile   bool // strip the Locust file's SCENARIO line
		want     int
		msg      string
	}{
		{name: "scenario field", scenario: "peak", want: http.StatusCreated},
		{name: "app/name", scenario: "onlineboutique/peak", want: http.StatusCreated},
		{name: "the Locust file's SCENARIO", scenario: "", want: http.StatusCreated},
		{name: "neither", scenario: "", noFile: true, want: http.StatusBadRequest, msg: "no scenario"},
		{name: "unknown", scenario: "black_friday", want: http.StatusBadRequest, msg: "black_friday"},
		{name: "another app's", scenario: "redis/peak", want: http.StatusBadRequest, msg: "for app redis"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newScene(t)
			j := obJob(t, "peak", time.Minute)
			file := string(j.Locustfile)
			if tt.noFile {
				file = locustScenario.ReplaceAllString(file, "")
			}
			body, _ := json.Marshal(loadtest.StartRequest{App: j.App, Locustfile: file, Host: j.Host, Duration: "1m", Scenario: tt.scenario})
			resp, err := http.Post(s.srv.URL+"/jobs", "application/json", strings.NewReader(string(body)))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var e errorBody
			_ = json.NewDecoder(resp.Body).Decode(&e)
			if resp.StatusCode != tt.want || !strings.Contains(e.Error, tt.msg) {
				t.Errorf("status %d error %q, want %d and %q", resp.StatusCode, e.Error, tt.want, tt.msg)
			}
			if tt.want == http.StatusBadRequest && e.Code != "bad_request" {
				t.Errorf("code %q, want bad_request", e.Code)
			}
		})
	}
}

// TestAJobForAnotherAppIsABadRequest: the emulator runs one app; a job
// for another is the caller's mistake (400 bad_request), not the agent's
// failure, and starts nothing.
func TestAJobForAnotherAppIsABadRequest(t *testing.T) {
	t.Parallel()
	s := newScene(t)
	ctx := context.Background()
	redis := loadtest.Job{App: "redis", Locustfile: []byte("SCENARIO = \"redis/peak\"\n"), Host: "redis://redis-leader.redis.svc:6379", Duration: time.Minute, Scenario: "peak"}
	_, err := s.agent.Start(ctx, redis)
	if !errors.Is(err, loadtest.ErrBadJob) || !strings.Contains(err.Error(), "400") || !strings.Contains(err.Error(), `job app "redis": the emulator runs onlineboutique`) {
		t.Errorf("starting a redis job: %v, want a 400 ErrBadJob naming the app", err)
	}
	body, _ := json.Marshal(loadtest.StartRequest{App: redis.App, Locustfile: string(redis.Locustfile), Host: redis.Host, Duration: "1m", Scenario: "peak"})
	resp, err := http.Post(s.srv.URL+"/jobs", "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e errorBody
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil || resp.StatusCode != http.StatusBadRequest || e.Code != "bad_request" {
		t.Errorf("%s %+v, %v; want 400 bad_request", resp.Status, e, err)
	}
	if jobs, err := s.agent.Jobs(ctx); err != nil || len(jobs) != 0 {
		t.Errorf("jobs %+v, %v; want none", jobs, err)
	}
}

// TestAgentRequiresItsToken: with a token the emulated agent refuses
// /jobs requests without it, as the Locust agent does; /healthz and the
// Prometheus endpoint stay open, since the backend sends them no token.
func TestAgentRequiresItsToken(t *testing.T) {
	t.Parallel()
	s := newSceneWithToken(t, "s3cret")
	ctx := context.Background()
	for _, token := range []string{"", "wrong"} {
		_, err := (&loadtest.RemoteRunner{BaseURL: s.srv.URL, Token: token}).Start(ctx, obJob(t, "peak", time.Minute))
		if err == nil || !strings.Contains(err.Error(), "401") {
			t.Errorf("token %q: %v, want 401", token, err)
		}
	}
	if jobs, err := s.agent.Jobs(ctx); err != nil || len(jobs) != 0 {
		t.Errorf("jobs %+v, %v; want none started without the token", jobs, err)
	}
	if _, err := s.agent.Start(ctx, obJob(t, "peak", time.Minute)); err != nil {
		t.Errorf("with the token: %v", err)
	}
	for _, path := range []string{"/healthz", "/api/v1/query?query=" + url.QueryEscape(`sum(rate(request_total[1m]))`)} {
		resp, err := http.Get(s.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s without a token: %s", path, resp.Status)
		}
	}
}

func TestStoppedBeforeAStepHasNoResults(t *testing.T) {
	t.Parallel()
	s := newScene(t)
	ctx := context.Background()
	h, err := s.agent.Start(ctx, obJob(t, "peak", time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.agent.Stop(ctx, h); err != nil {
		t.Fatal(err)
	}
	if _, err := s.agent.Results(ctx, h); !errors.Is(err, loadtest.ErrNoResults) {
		t.Errorf("results %v, want ErrNoResults", err)
	}
}

func TestUnknownQueriesAreBadDataErrors(t *testing.T) {
	t.Parallel()
	s := newScene(t)
	tests := []struct{ name, query, msg string }{
		{"unknown metric", `sum(rate(http_requests_total{namespace="ob"}[1m]))`, "unknown metric http_requests_total"},
		{"unsupported function", `avg by (deployment) (rate(request_total[1m]))`, "unsupported function avg"},
		{"counter without rate", `sum(request_total{namespace="ob"})`, "counter"},
		{"raw buckets", `rate(response_latency_ms_bucket[1m])`, "histogram_quantile"},
		{"parse error", `sum by (deployment (`, "parse error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := http.PostForm(s.srv.URL+"/api/v1/query", url.Values{"query": {tt.query}})
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct{ Status, ErrorType, Error string }
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusBadRequest || body.Status != "error" || body.ErrorType != "bad_data" ||
				!strings.Contains(body.Error, tt.query) || !strings.Contains(body.Error, tt.msg) {
				t.Errorf("%s: %+v, want bad_data naming the query and %q", resp.Status, body, tt.msg)
			}
		})
	}
}

func TestQueriesSelectByLabels(t *testing.T) {
	t.Parallel()
	s := newScene(t)
	if _, err := s.agent.Start(context.Background(), obJob(t, "offpeak", time.Minute)); err != nil {
		t.Fatal(err)
	}
	s.step(t, 5)
	query := func(q string) map[string]string {
		t.Helper()
		resp, err := http.Get(s.srv.URL + "/api/v1/query?query=" + url.QueryEscape(q))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct {
			Status string
			Data   struct {
				ResultType string
				Result     []struct {
					Metric map[string]string
					Value  [2]any
				}
			}
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Status != "success" || body.Data.ResultType != "vector" {
			t.Fatalf("%s: %+v, %v", q, body, err)
		}
		out := map[string]string{}
		for _, r := range body.Data.Result {
			out[r.Metric["deployment"]+"/"+r.Metric["dst_deployment"]] = r.Value[1].(string)
		}
		return out
	}
	tests := []struct {
		name, query string
		keys        []string
	}{
		{"another namespace has no series", `sum by (deployment) (rate(request_total{namespace="other"}[1m]))`, nil},
		{"regexp selects deployments", `sum by (deployment) (rate(request_total{namespace="ob", direction="inbound", deployment=~"cart.*|frontend"}[1m]))`, []string{"cartservice/", "frontend/"}},
		{"negative regexp", `sum by (deployment) (rate(request_total{direction="outbound", deployment!~"frontend|checkoutservice|recommendationservice|cartservice"}[1m]))`, nil},
		{"outbound edges of one caller", `sum by (deployment, dst_deployment) (rate(request_total{direction="outbound", deployment="cartservice"}[1m]))`, []string{"cartservice/redis-cart"}},
		{"sum without by is one series", `sum(rate(request_total{direction="inbound"}[1m]))`, []string{"/"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := query(tt.query)
			keys := make([]string, 0, len(got))
			for k := range got {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			if !slices.Equal(keys, tt.keys) {
				t.Errorf("series %v, want %v", keys, tt.keys)
			}
		})
	}
}
