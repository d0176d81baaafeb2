package k8s

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeProm is a Prometheus HTTP API (/api/v1/query) that answers the
// backend's queries from tables, in Prometheus's own JSON: {"status":
// "success", "data": {"resultType": "vector", "result": [{"metric": {...},
// "value": [<unix seconds>, "<value>"]}]}}, NaN as "NaN" (docs: "Expression
// query result formats", prometheus/web/api/v1/api.go). It dispatches on
// the metric and grouping of each query, so the tests also pin which
// series the backend reads.
type fakeProm struct {
	t  *testing.T
	ns string

	rps, success, failure map[string]float64    // inbound, by deployment
	latency               map[string][3]float64 // inbound p50, p95, p99
	appLatency            [3]float64            // entry, NaN = no requests
	appMean               float64
	edgeRPS, edgeSuccess  map[[2]string]float64 // outbound, by (deployment, dst_deployment)
	edgeFailure           map[[2]string]float64
	edgeLatency           map[[2]string][3]float64
	rx, tx                map[string]float64 // bytes/s by pod
	cpu, mem              map[[2]string]float64
	// fail makes queries containing it answer with a Prometheus error.
	fail string

	mu      sync.Mutex
	queries []string
}

func newFakeProm(t *testing.T, ns string) *fakeProm {
	return &fakeProm{t: t, ns: ns,
		rps: map[string]float64{}, success: map[string]float64{}, failure: map[string]float64{},
		latency: map[string][3]float64{}, appLatency: [3]float64{math.NaN(), math.NaN(), math.NaN()}, appMean: math.NaN(),
		edgeRPS: map[[2]string]float64{}, edgeSuccess: map[[2]string]float64{}, edgeFailure: map[[2]string]float64{},
		edgeLatency: map[[2]string][3]float64{}, rx: map[string]float64{}, tx: map[string]float64{},
		cpu: map[[2]string]float64{}, mem: map[[2]string]float64{}}
}

type sample struct {
	metric map[string]string
	value  float64
}

var quantileRE = regexp.MustCompile(`^histogram_quantile\(([0-9.]+),`)

func quantileIndex(t *testing.T, q string) int {
	m := quantileRE.FindStringSubmatch(q)
	if m == nil {
		t.Errorf("latency query %s is not a histogram_quantile", q)
		return 0
	}
	for k, p := range quantiles {
		if m[1] == strconv.FormatFloat(p, 'f', -1, 64) {
			return k
		}
	}
	t.Errorf("unexpected quantile in %s", q)
	return 0
}

func (f *fakeProm) answer(q string) []sample {
	t := f.t
	outbound := strings.Contains(q, `direction="outbound"`)
	var out []sample
	byDep := func(m map[string]float64, extra map[string]string) {
		for d, v := range m {
			metric := map[string]string{"deployment": d}
			for k, x := range extra {
				metric[k] = x
			}
			out = append(out, sample{metric, v})
		}
	}
	byEdge := func(m map[[2]string]float64, extra map[string]string) {
		for e, v := range m {
			metric := map[string]string{"deployment": e[0], "dst_deployment": e[1]}
			for k, x := range extra {
				metric[k] = x
			}
			out = append(out, sample{metric, v})
		}
	}
	switch {
	case strings.Contains(q, "request_total") && outbound:
		byEdge(f.edgeRPS, nil)
	case strings.Contains(q, "response_total") && outbound:
		byEdge(f.edgeSuccess, map[string]string{"classification": "success"})
		byEdge(f.edgeFailure, map[string]string{"classification": "failure"})
	case strings.Contains(q, "response_latency_ms_bucket") && outbound:
		k := quantileIndex(t, q)
		for e, l := range f.edgeLatency {
			out = append(out, sample{map[string]string{"deployment": e[0], "dst_deployment": e[1]}, l[k]})
		}
	case strings.Contains(q, "request_total"):
		byDep(f.rps, nil)
	case strings.Contains(q, "response_total"):
		byDep(f.success, map[string]string{"classification": "success"})
		byDep(f.failure, map[string]string{"classification": "failure"})
	case strings.Contains(q, "response_latency_ms_sum"):
		out = append(out, sample{map[string]string{}, f.appMean})
	case strings.Contains(q, "response_latency_ms_bucket") && strings.Contains(q, "sum by (le)"):
		out = append(out, sample{map[string]string{}, f.appLatency[quantileIndex(t, q)]})
	case strings.Contains(q, "response_latency_ms_bucket"):
		k := quantileIndex(t, q)
		for d, l := range f.latency {
			out = append(out, sample{map[string]string{"deployment": d}, l[k]})
		}
	case strings.Contains(q, "container_network_receive_bytes_total"):
		for p, v := range f.rx {
			out = append(out, sample{map[string]string{"pod": p}, v})
		}
	case strings.Contains(q, "container_network_transmit_bytes_total"):
		for p, v := range f.tx {
			out = append(out, sample{map[string]string{"pod": p}, v})
		}
	case strings.Contains(q, "container_cpu_usage_seconds_total"):
		for pc, v := range f.cpu {
			out = append(out, sample{map[string]string{"pod": pc[0], "container": pc[1]}, v})
		}
	case strings.Contains(q, "container_memory_working_set_bytes"):
		for pc, v := range f.mem {
			out = append(out, sample{map[string]string{"pod": pc[0], "container": pc[1]}, v})
		}
	default:
		t.Errorf("unexpected query %s", q)
	}
	return out
}

func (f *fakeProm) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/api/v1/query" {
		http.NotFound(w, r)
		return
	}
	q := r.FormValue("query") // client_golang POSTs a form, GET also works
	f.mu.Lock()
	f.queries = append(f.queries, q)
	f.mu.Unlock()
	if !strings.Contains(q, fmt.Sprintf("namespace=%q", f.ns)) {
		f.t.Errorf("query does not pin the namespace: %s", q)
	}
	w.Header().Set("Content-Type", "application/json")
	if f.fail != "" && strings.Contains(q, f.fail) {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"status":"error","errorType":"bad_data","error":"1:1: parse error: unexpected character"}`)
		return
	}
	ts, _ := strconv.ParseFloat(r.FormValue("time"), 64)
	type result struct {
		Metric map[string]string `json:"metric"`
		Value  [2]any            `json:"value"`
	}
	res := []result{}
	for _, s := range f.answer(q) {
		res = append(res, result{s.metric, [2]any{ts, strconv.FormatFloat(s.value, 'f', -1, 64)}})
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": map[string]any{"resultType": "vector", "result": res}})
}

func (f *fakeProm) client(t *testing.T) Prometheus {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	p, err := NewPrometheus(srv.URL+"/", nil) // a trailing slash must not double (seed-spec 1.7)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestQueriesReadLinkerdAndCAdvisorSeries(t *testing.T) {
	t.Parallel()
	q := queries{ns: "ob", window: promWindow(time.Minute), entry: "^(frontend)$"}
	tests := []struct{ name, got, want string }{
		{"inbound requests", q.requestRate(), `sum by (deployment) (rate(request_total{namespace="ob", direction="inbound"}[60s]))`},
		{"inbound responses", q.responseRate(), `sum by (deployment, classification) (rate(response_total{namespace="ob", direction="inbound"}[60s]))`},
		{"inbound p95", q.latencyQuantile(0.95), `histogram_quantile(0.95, sum by (deployment, le) (rate(response_latency_ms_bucket{namespace="ob", direction="inbound"}[60s])))`},
		{"app p99", q.appLatencyQuantile(0.99), `histogram_quantile(0.99, sum by (le) (rate(response_latency_ms_bucket{namespace="ob", direction="inbound", deployment=~"^(frontend)$"}[60s])))`},
		{"app mean", q.appLatencyMean(), `sum(rate(response_latency_ms_sum{namespace="ob", direction="inbound", deployment=~"^(frontend)$"}[60s])) / sum(rate(response_latency_ms_count{namespace="ob", direction="inbound", deployment=~"^(frontend)$"}[60s]))`},
		{"edge requests", q.edgeRequestRate(), `sum by (deployment, dst_deployment) (rate(request_total{namespace="ob", direction="outbound", dst_namespace="ob"}[60s]))`},
		{"edge p50", q.edgeLatencyQuantile(0.5), `histogram_quantile(0.5, sum by (deployment, dst_deployment, le) (rate(response_latency_ms_bucket{namespace="ob", direction="outbound", dst_namespace="ob"}[60s])))`},
		{"received bytes", q.network("receive"), `sum by (pod) (rate(container_network_receive_bytes_total{namespace="ob", interface="eth0"}[60s]))`},
		{"cpu", q.containerCPU(), `sum by (pod, container) (rate(container_cpu_usage_seconds_total{namespace="ob", container!="", container!="POD"}[60s]))`},
		{"memory is the gauge, not its rate", q.containerMemory(), `sum by (pod, container) (container_memory_working_set_bytes{namespace="ob", container!="", container!="POD"})`},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, tt.got, tt.want)
		}
	}
}

func TestPrometheusErrorFailsTheQueryNamingIt(t *testing.T) {
	t.Parallel()
	f := newFakeProm(t, "ob")
	f.fail = "request_total"
	c := &Cluster{o: Options{Prometheus: f.client(t)}}
	_, err := c.instant(context.Background(), `sum by (deployment) (rate(request_total{namespace="ob"}[60s]))`, time.Unix(1e9, 0), nil, 1)
	if err == nil || !strings.Contains(err.Error(), "request_total") || !strings.Contains(err.Error(), "parse error") {
		t.Errorf("error %v, want the query and Prometheus' message", err)
	}
}
