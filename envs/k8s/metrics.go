package k8s

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Prometheus runs instant queries; client_golang's promv1.API implements
// it, and NewPrometheus returns one.
type Prometheus interface {
	Query(ctx context.Context, query string, ts time.Time, opts ...promv1.Option) (model.Value, promv1.Warnings, promv1.Infos, error)
}

// NewPrometheus returns a client of the Prometheus HTTP API at address
// (e.g. http://prometheus.linkerd-viz.svc.cluster.local:9090); rt nil means
// client_golang's default transport.
func NewPrometheus(address string, rt http.RoundTripper) (Prometheus, error) {
	c, err := api.NewClient(api.Config{Address: address, RoundTripper: rt})
	if err != nil {
		return nil, fmt.Errorf("prometheus client for %s: %w", address, err)
	}
	return promv1.NewAPI(c), nil
}

// quantiles are the latency percentiles observed, in this order.
var quantiles = [3]float64{0.5, 0.95, 0.99}

// queries holds the PromQL of one observation. Linkerd's proxies label
// their metrics with the pod's namespace and owning deployment, and
// outbound ones with the destination's (dst_namespace, dst_deployment);
// response_total carries classification="success"|"failure". cAdvisor's
// series carry namespace, pod and container. Every selector pins the
// namespace, so another app's traffic never mixes in.
type queries struct {
	ns, window string
	entry      string // regexp of the entry deployments
}

func (q queries) inbound(extra string) string {
	return fmt.Sprintf(`{namespace=%q, direction="inbound"%s}`, q.ns, extra)
}

func (q queries) outbound() string {
	return fmt.Sprintf(`{namespace=%q, direction="outbound", dst_namespace=%q}`, q.ns, q.ns)
}

// Per deployment, at its inbound proxy.
func (q queries) requestRate() string {
	return fmt.Sprintf(`sum by (deployment) (rate(request_total%s[%s]))`, q.inbound(""), q.window)
}
func (q queries) responseRate() string {
	return fmt.Sprintf(`sum by (deployment, classification) (rate(response_total%s[%s]))`, q.inbound(""), q.window)
}
func (q queries) latencyQuantile(p float64) string {
	return fmt.Sprintf(`histogram_quantile(%s, sum by (deployment, le) (rate(response_latency_ms_bucket%s[%s])))`, fmtQ(p), q.inbound(""), q.window)
}

// For the app as users see it: the entry deployments' inbound proxies.
func (q queries) appLatencyQuantile(p float64) string {
	return fmt.Sprintf(`histogram_quantile(%s, sum by (le) (rate(response_latency_ms_bucket%s[%s])))`, fmtQ(p), q.inbound(q.entrySel()), q.window)
}
func (q queries) appLatencyMean() string {
	sel := q.inbound(q.entrySel())
	return fmt.Sprintf(`sum(rate(response_latency_ms_sum%s[%s])) / sum(rate(response_latency_ms_count%s[%s]))`, sel, q.window, sel, q.window)
}
func (q queries) entrySel() string { return fmt.Sprintf(`, deployment=~%q`, q.entry) }

// Per edge, at the caller's outbound proxy.
func (q queries) edgeRequestRate() string {
	return fmt.Sprintf(`sum by (deployment, dst_deployment) (rate(request_total%s[%s]))`, q.outbound(), q.window)
}
func (q queries) edgeResponseRate() string {
	return fmt.Sprintf(`sum by (deployment, dst_deployment, classification) (rate(response_total%s[%s]))`, q.outbound(), q.window)
}
func (q queries) edgeLatencyQuantile(p float64) string {
	return fmt.Sprintf(`histogram_quantile(%s, sum by (deployment, dst_deployment, le) (rate(response_latency_ms_bucket%s[%s])))`, fmtQ(p), q.outbound(), q.window)
}

// Per pod, from cAdvisor. Network counters belong to the pod's sandbox;
// eth0 only, because the app and its Linkerd proxy talk over loopback and
// would count every byte twice.
func (q queries) network(direction string) string {
	return fmt.Sprintf(`sum by (pod) (rate(container_network_%s_bytes_total{namespace=%q, interface="eth0"}[%s]))`, direction, q.ns, q.window)
}

// Per pod and container, from cAdvisor; the pod-level cgroup series
// (container="") and the pause container are excluded, which the seed did
// not do (seed-spec 1.7). Memory is the working set gauge itself, not its
// rate (seed-spec 8 S2).
func (q queries) containerCPU() string {
	return fmt.Sprintf(`sum by (pod, container) (rate(container_cpu_usage_seconds_total{namespace=%q, container!="", container!="POD"}[%s]))`, q.ns, q.window)
}
func (q queries) containerMemory() string {
	return fmt.Sprintf(`sum by (pod, container) (container_memory_working_set_bytes{namespace=%q, container!="", container!="POD"})`, q.ns)
}

func fmtQ(p float64) string { return strconv.FormatFloat(p, 'f', -1, 64) }

// promWindow renders a window as PromQL's duration, e.g. 1m0s -> "60s".
func promWindow(d time.Duration) string { return strconv.FormatInt(int64(d/time.Second), 10) + "s" }

// series is one query's result: values by label values joined with "/".
type series map[string]float64

// pair keys an edge series.
func pair(src, dst string) string { return src + "/" + dst }

// promData is everything an observation reads from Prometheus.
type promData struct {
	rps              series
	responses        series // deployment/classification
	latency          [3]series
	appLatency       [3]float64 // NaN when unknown
	appMean          float64
	edgeRPS          series // deployment/dst_deployment
	edgeResponses    series // deployment/dst_deployment/classification
	edgeLatency      [3]series
	rx, tx           series // pod, kB/s
	cpuMilli, memMiB series // pod/container
}

// queryPrometheus runs the observation's queries, a few at a time. Any
// failure fails the observation: a missing metric must never read as zero
// (the seed's latency reward was silently zero, seed-spec 8 C1).
func (c *Cluster) queryPrometheus(ctx context.Context, at time.Time) (*promData, error) {
	if c.o.Prometheus == nil {
		return nil, fmt.Errorf("observe %s: no Prometheus client (the traffic and latency come from Linkerd's proxy metrics)", c.o.Namespace)
	}
	names := make([]string, len(c.entry))
	for k, i := range c.entry {
		names[k] = c.o.App.Services[i].Name
	}
	q := queries{ns: c.o.Namespace, window: promWindow(c.o.Window), entry: "^(" + strings.Join(names, "|") + ")$"}
	d := &promData{}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	var mu sync.Mutex // guards d's fields as results arrive
	vec := func(query string, labels []model.LabelName, scale float64, into *series) {
		g.Go(func() error {
			s, err := c.instant(gctx, query, at, labels, scale)
			mu.Lock()
			*into = s
			mu.Unlock()
			return err
		})
	}
	scalar := func(query string, into *float64) {
		g.Go(func() error {
			s, err := c.instant(gctx, query, at, nil, 1)
			v := math.NaN()
			if x, ok := s[""]; ok {
				v = x
			}
			mu.Lock()
			*into = v
			mu.Unlock()
			return err
		})
	}
	dep := []model.LabelName{"deployment"}
	depClass := []model.LabelName{"deployment", "classification"}
	edge := []model.LabelName{"deployment", "dst_deployment"}
	edgeClass := []model.LabelName{"deployment", "dst_deployment", "classification"}
	vec(q.requestRate(), dep, 1, &d.rps)
	vec(q.responseRate(), depClass, 1, &d.responses)
	vec(q.edgeRequestRate(), edge, 1, &d.edgeRPS)
	vec(q.edgeResponseRate(), edgeClass, 1, &d.edgeResponses)
	for k, p := range quantiles {
		vec(q.latencyQuantile(p), dep, 1, &d.latency[k])
		vec(q.edgeLatencyQuantile(p), edge, 1, &d.edgeLatency[k])
		scalar(q.appLatencyQuantile(p), &d.appLatency[k])
	}
	scalar(q.appLatencyMean(), &d.appMean)
	pod := []model.LabelName{"pod"}
	vec(q.network("receive"), pod, 1e-3, &d.rx)
	vec(q.network("transmit"), pod, 1e-3, &d.tx)
	if c.o.Resources == FromPrometheus {
		podCtr := []model.LabelName{"pod", "container"}
		vec(q.containerCPU(), podCtr, 1e3, &d.cpuMilli)
		vec(q.containerMemory(), podCtr, 1.0/(1<<20), &d.memMiB)
	}
	if err := g.Wait(); err != nil {
		return nil, fmt.Errorf("observe %s: %w", c.o.Namespace, err)
	}
	return d, nil
}

// instant runs one instant query and keys its samples by the labels'
// values joined with "/", multiplied by scale. NaN samples (a quantile
// over no requests) are left out.
func (c *Cluster) instant(ctx context.Context, query string, at time.Time, labels []model.LabelName, scale float64) (series, error) {
	v, _, _, err := c.o.Prometheus.Query(ctx, query, at)
	if err != nil {
		return nil, fmt.Errorf("prometheus query %s: %w", query, err)
	}
	out := series{}
	switch v := v.(type) {
	case model.Vector:
		var key strings.Builder
		for _, s := range v {
			if math.IsNaN(float64(s.Value)) || math.IsInf(float64(s.Value), 0) {
				continue
			}
			key.Reset()
			for i, l := range labels {
				if i > 0 {
					key.WriteByte('/')
				}
				key.WriteString(string(s.Metric[l]))
			}
			out[key.String()] += float64(s.Value) * scale
		}
	case *model.Scalar:
		if !math.IsNaN(float64(v.Value)) {
			out[""] = float64(v.Value) * scale
		}
	default:
		return nil, fmt.Errorf("prometheus query %s: result is a %s, want a vector", query, v.Type())
	}
	return out, nil
}

// podUsage is one pod's app-container sample.
type podUsage struct {
	cpuMilli, memMiB float64
	sample           time.Time
}

// resourceUsage returns the app container's CPU and memory per pod name.
// container names each pod's app container.
func (c *Cluster) resourceUsage(ctx context.Context, pd *promData, at time.Time, container map[string]string) (map[string]podUsage, error) {
	out := map[string]podUsage{}
	if c.o.Resources == FromPrometheus {
		for pod, ctr := range container {
			cpu, okC := pd.cpuMilli[pod+"/"+ctr]
			mem, okM := pd.memMiB[pod+"/"+ctr]
			if okC && okM {
				out[pod] = podUsage{cpuMilli: cpu, memMiB: mem, sample: at}
			}
		}
		return out, nil
	}
	list, err := c.o.Metrics.MetricsV1beta1().PodMetricses(c.o.Namespace).List(ctx, metav1.ListOptions{LabelSelector: appSelector(c.o.App)})
	if err != nil {
		return nil, fmt.Errorf("observe %s: list pod metrics (metrics.k8s.io; is metrics-server installed?): %w", c.o.Namespace, err)
	}
	for _, pm := range list.Items {
		ctr, ok := container[pm.Name]
		if !ok {
			continue
		}
		for _, cm := range pm.Containers {
			if cm.Name != ctr {
				continue
			}
			cpu, mem := cm.Usage[corev1.ResourceCPU], cm.Usage[corev1.ResourceMemory]
			out[pm.Name] = podUsage{
				cpuMilli: float64(cpu.MilliValue()),
				memMiB:   float64(mem.Value()) / (1 << 20),
				sample:   pm.Timestamp.Time,
			}
		}
	}
	return out, nil
}
