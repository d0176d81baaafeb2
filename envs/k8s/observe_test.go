package k8s

import (
	"context"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
	metricsfake "k8s.io/metrics/pkg/client/clientset/versioned/fake"

	"github.com/grlscaler/grlscaler/envs"
	"github.com/grlscaler/grlscaler/envs/app"
	"github.com/grlscaler/grlscaler/envs/hpa"
	"github.com/grlscaler/grlscaler/envs/k8s/manifests"
)

// obScene is Online Boutique deployed on a fake cluster with every metric
// source populated with values unique to each service and edge, so that a
// value landing on the wrong service or edge shows.
type obScene struct {
	fc      *fakeCluster
	metrics *metricsfake.Clientset
	prom    *fakeProm
	viz     *Viz
	a       *app.App
	origin  time.Time
	// noMetrics is the pod metrics-server has no sample for yet.
	noMetrics string
}

// obDeployed caches Online Boutique deployed with cartservice at 3
// replicas: deploying on the field-managed fake costs most of a second, and
// the observation tests only read the result.
var obDeployed struct {
	once   sync.Once
	objs   []runtime.Object
	now    time.Time
	origin time.Time
	err    error
}

func newOBScene(t *testing.T) *obScene {
	t.Helper()
	a := app.OnlineBoutique()
	obDeployed.once.Do(func() {
		fc := newFakeCluster(t, "ob", true)
		obDeployed.origin = fc.now
		var progress []string
		if obDeployed.err = Deploy(context.Background(), fc.kube, deployOptions(fc, a, LinkerdInject, &progress)); obDeployed.err != nil {
			return
		}
		c, err := NewCluster(Options{Kube: fc.kube, Metrics: metricsfake.NewSimpleClientset(), App: a, Namespace: "ob"})
		if err != nil {
			obDeployed.err = err
			return
		}
		if obDeployed.err = c.Scale(context.Background(), "cartservice", 3); obDeployed.err != nil {
			return
		}
		fc.tick()
		for _, d := range fc.deployments() {
			obDeployed.objs = append(obDeployed.objs, &d)
		}
		for _, p := range fc.pods() {
			obDeployed.objs = append(obDeployed.objs, &p)
		}
		obDeployed.now = fc.now
	})
	if obDeployed.err != nil {
		t.Fatal(obDeployed.err)
	}
	objs := make([]runtime.Object, len(obDeployed.objs))
	for i, o := range obDeployed.objs {
		objs[i] = o.DeepCopyObject()
	}
	fc := newFakeCluster(t, "ob", true, objs...)
	fc.now = obDeployed.now
	s := &obScene{fc: fc, a: a, metrics: metricsfake.NewSimpleClientset(), prom: newFakeProm(t, "ob"), origin: obDeployed.origin}
	// Ten minutes later, past the HPA's CPU initialisation period.
	fc.now = fc.now.Add(10 * time.Minute)
	for _, p := range fc.pods() {
		name := p.Labels[manifests.SelectorLabel]
		s.prom.rx[p.Name], s.prom.tx[p.Name] = 2000, 3000
		if name == "cartservice" && s.noMetrics == "" {
			s.noMetrics = p.Name
			continue
		}
		svc := a.Services[a.Index(name)]
		pm := &metricsv1beta1.PodMetrics{
			ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: "ob", Labels: p.Labels},
			Timestamp:  metav1.NewTime(fc.now.Add(-5 * time.Second)),
			Window:     metav1.Duration{Duration: 15 * time.Second},
			Containers: []metricsv1beta1.ContainerMetrics{
				// The app container at 150 % of its CPU request, and a proxy
				// whose usage must not count (ContainerResource semantics).
				{Name: svc.Container, Usage: corev1.ResourceList{
					corev1.ResourceCPU:    *resource.NewMilliQuantity(int64(1.5*svc.CPURequestMilli), resource.DecimalSI),
					corev1.ResourceMemory: resource.MustParse("50Mi")}},
				{Name: ProxyContainer, Usage: corev1.ResourceList{
					corev1.ResourceCPU: resource.MustParse("20m"), corev1.ResourceMemory: resource.MustParse("10Mi")}},
			},
		}
		if err := s.metrics.Tracker().Create(metricsv1beta1.SchemeGroupVersion.WithResource("pods"), pm, "ob"); err != nil {
			t.Fatal(err)
		}
		s.prom.cpu[[2]string{p.Name, svc.Container}] = 1.5 * svc.CPURequestMilli / 1000
		s.prom.cpu[[2]string{p.Name, ProxyContainer}] = 0.02
		s.prom.mem[[2]string{p.Name, svc.Container}] = 50 << 20
	}
	for k, svc := range a.Services {
		x := float64(k + 1)
		s.prom.rps[svc.Name] = 10 * x
		s.prom.success[svc.Name] = 10*x - 0.1*x
		s.prom.failure[svc.Name] = 0.1 * x
		s.prom.latency[svc.Name] = [3]float64{x, 10 * x, 20 * x}
	}
	s.prom.appLatency = [3]float64{12, 120, 240}
	s.prom.appMean = 30
	for _, e := range a.Edges() {
		name := [2]string{a.Services[e.Src].Name, a.Services[e.Dst].Name}
		v := float64(100*e.Src + e.Dst + 1)
		s.prom.edgeRPS[name] = v
		s.prom.edgeSuccess[name] = v
		s.prom.edgeLatency[name] = [3]float64{v / 100, v / 10, v / 5}
	}
	// Viz sees two static edges, one the static graph lacks, and the load
	// generator from another namespace.
	s.viz = vizServer(t, 200, `{"ok":{"edges":[`+
		vizEdgeJSON("ob", "frontend", "ob", "cartservice")+","+
		vizEdgeJSON("ob", "cartservice", "ob", "redis-cart")+","+
		vizEdgeJSON("ob", "frontend", "ob", "emailservice")+","+
		vizEdgeJSON("loadtest", "locust", "ob", "frontend")+`]}}`)
	return s
}

func (s *obScene) cluster(t *testing.T, res ResourceSource) *Cluster {
	t.Helper()
	o := Options{Kube: s.fc.kube, Metrics: s.metrics, App: s.a, Namespace: "ob", Resources: res,
		Now: func() time.Time { return s.fc.now }, Origin: s.origin, Poll: s.fc.poll, Viz: s.viz}
	if s.prom != nil {
		o.Prometheus = s.prom.client(t)
	}
	c, err := NewCluster(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestObserveLandsPrometheusResultsOnTheirDeployments(t *testing.T) {
	t.Parallel()
	s := newOBScene(t)
	obs, err := s.cluster(t, FromMetricsServer).Observe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for k, so := range obs.Services {
		x := float64(k + 1)
		if so.Name != s.a.Services[k].Name {
			t.Fatalf("service %d is %s, want canonical order", k, so.Name)
		}
		if so.RPS != 10*x || math.Abs(so.SuccessRate-0.99) > 1e-12 {
			t.Errorf("%s rps %v success %v, want %v and 0.99", so.Name, so.RPS, so.SuccessRate, 10*x)
		}
		if so.LatencyP50Ms != x || so.LatencyP95Ms != 10*x || so.LatencyP99Ms != 20*x {
			t.Errorf("%s latency %v/%v/%v, want %v/%v/%v", so.Name, so.LatencyP50Ms, so.LatencyP95Ms, so.LatencyP99Ms, x, 10*x, 20*x)
		}
		pods := float64(len(so.Pods))
		if math.Abs(so.RxKBps-2*pods) > 1e-9 || math.Abs(so.TxKBps-3*pods) > 1e-9 {
			t.Errorf("%s rx %v tx %v kB/s over %v pods, want 2 and 3 per pod", so.Name, so.RxKBps, so.TxKBps, pods)
		}
	}
	if obs.RPS != 10*float64(s.a.Index("frontend")+1) || !obs.HasLatency || obs.LatencyMeanMs != 30 ||
		obs.LatencyP50Ms != 12 || obs.LatencyP95Ms != 120 || obs.LatencyP99Ms != 240 {
		t.Errorf("app traffic rps %v latency %v mean %v p50/95/99 %v/%v/%v, want the frontend's", obs.RPS, obs.HasLatency, obs.LatencyMeanMs, obs.LatencyP50Ms, obs.LatencyP95Ms, obs.LatencyP99Ms)
	}
	if math.Abs(obs.ErrorRate-0.01) > 1e-12 {
		t.Errorf("app error rate %v, want 0.01", obs.ErrorRate)
	}
}

func TestObserveKeepsLinkerdVizEdgesOnCanonicalIndices(t *testing.T) {
	t.Parallel()
	s := newOBScene(t)
	obs, err := s.cluster(t, FromMetricsServer).Observe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	a := s.a
	static := a.Edges()
	if len(obs.Edges) != len(static)+1 {
		t.Fatalf("%d edges, want the %d static ones and frontend -> emailservice", len(obs.Edges), len(static))
	}
	find := func(src, dst string) *EdgeObservation {
		i := slices.IndexFunc(obs.Edges, func(e EdgeObservation) bool {
			return e.Src == a.Index(src) && e.Dst == a.Index(dst)
		})
		if i < 0 {
			t.Fatalf("edge %s -> %s missing", src, dst)
		}
		return &obs.Edges[i]
	}
	for _, e := range []struct {
		src, dst string
		inViz    bool
	}{{"frontend", "cartservice", true}, {"cartservice", "redis-cart", true}, {"frontend", "emailservice", true}, {"checkoutservice", "paymentservice", false}} {
		got := find(e.src, e.dst)
		if got.InViz != e.inViz {
			t.Errorf("%s -> %s in viz %v, want %v", e.src, e.dst, got.InViz, e.inViz)
		}
	}
	if last := obs.Edges[len(obs.Edges)-1]; last.Src != a.Index("frontend") || last.Dst != a.Index("emailservice") {
		t.Errorf("the non-static edge must follow the static ones, got %+v", last)
	}
	for k, e := range static {
		got := obs.Edges[k]
		v := float64(100*e.Src + e.Dst + 1)
		if got.Src != e.Src || got.Dst != e.Dst || got.RPS != v || got.SuccessRate != 1 || got.LatencyP95Ms != v/10 {
			t.Errorf("edge %d = %+v, want %d -> %d with rps %v and p95 %v", k, got, e.Src, e.Dst, v, v/10)
		}
	}
	if len(obs.UnknownEdges) != 1 || !strings.Contains(obs.UnknownEdges[0], "loadtest/locust -> ob/frontend") {
		t.Errorf("unknown edges %v, want the load generator's", obs.UnknownEdges)
	}
}

func TestObserveCountsOnlyTheAppContainer(t *testing.T) {
	t.Parallel()
	for _, res := range []ResourceSource{FromMetricsServer, FromPrometheus} {
		t.Run(string(res), func(t *testing.T) {
			s := newOBScene(t)
			obs, err := s.cluster(t, res).Observe(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			for k, so := range obs.Services {
				svc := s.a.Services[k]
				withMetrics := 0
				for _, p := range so.Pods {
					if !p.IsReady || p.Deleting || p.Failed {
						t.Errorf("pod %s: ready %v deleting %v failed %v", p.Name, p.IsReady, p.Deleting, p.Failed)
					}
					if p.Name == s.noMetrics {
						if p.HasMetrics && res == FromMetricsServer {
							t.Errorf("pod %s has metrics, but metrics-server has none", p.Name)
						}
						continue
					}
					if !p.HasMetrics || math.Abs(p.CPUMilli-1.5*svc.CPURequestMilli) > 1e-9 || p.MemMiB != 50 {
						t.Errorf("pod %s metrics %v cpu %v mem %v, want the app container's %vm and 50Mi", p.Name, p.HasMetrics, p.CPUMilli, p.MemMiB, 1.5*svc.CPURequestMilli)
					}
					withMetrics++
				}
				if so.MetricPods != withMetrics || math.Abs(so.CPUMilli-float64(withMetrics)*1.5*svc.CPURequestMilli) > 1e-9 {
					t.Errorf("%s cpu %v over %d pods", so.Name, so.CPUMilli, so.MetricPods)
				}
			}
			cart := obs.Services[s.a.Index("cartservice")]
			if cart.Replicas != 3 || cart.Ready != 3 || len(cart.Pods) != 3 {
				t.Errorf("cartservice replicas %d ready %d pods %d, want 3", cart.Replicas, cart.Ready, len(cart.Pods))
			}
		})
	}
}

// TestHPAControllerRunsOnAnObservedView runs envs/hpa, the HPA algorithm
// the twin uses, on a view of the fake cluster.
func TestHPAControllerRunsOnAnObservedView(t *testing.T) {
	t.Parallel()
	s := newOBScene(t)
	obs, err := s.cluster(t, FromMetricsServer).Observe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var view envs.ClusterView
	obs.View(&view)
	if want := s.fc.now.Sub(s.origin); view.Now != want || view.Now < 10*time.Minute {
		t.Errorf("view time %v, want %v since the cluster's origin", view.Now, want)
	}
	cfg, err := hpa.ParsePreset("cpu-50", 1, 8)
	if err != nil {
		t.Fatal(err)
	}
	ctrl, err := hpa.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	desired := make([]int, len(view.Services))
	ctrl.Decide(&view, desired)
	for k, svc := range s.a.Services {
		st, ok := ctrl.Status(svc.Name)
		if !ok || !st.ScalingActive || st.CurrentUtilization[0] != 150 {
			t.Errorf("%s hpa status %+v, want active at 150 %%", svc.Name, st)
		}
		// 150 % of a 50 % target is 3x, within maxReplicas.
		if want := 3 * view.Services[k].Replicas; svc.Name != "cartservice" && desired[k] != want {
			t.Errorf("%s desired %d, want %d", svc.Name, desired[k], want)
		}
	}
}

func TestObservationBuildsTheTwinsObservationShape(t *testing.T) {
	t.Parallel()
	s := newOBScene(t)
	obs, err := s.cluster(t, FromMetricsServer).Observe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n := len(s.a.Services)
	minR, maxR := make([]int, n), make([]int, n)
	for i, svc := range s.a.Services {
		minR[i], maxR[i] = svc.MinReplicas, svc.MaxReplicas
	}
	var out envs.Observation
	desired := make([]int, n)
	obs.Build(&out, desired, minR, maxR)
	if len(out.Flat) != 66 || len(out.Nodes) != n*len(envs.NodeFeatureNames) || len(out.Edges) != len(obs.Edges) {
		t.Fatalf("flat %d nodes %d edges %d", len(out.Flat), len(out.Nodes), len(out.Edges))
	}
	heaviest := 0.0
	for _, e := range out.Edges {
		if e.Weight < 0 || e.Weight > 1 {
			t.Errorf("edge weight %v outside [0, 1]", e.Weight)
		}
		heaviest = math.Max(heaviest, e.Weight)
	}
	if heaviest != 1 {
		t.Errorf("heaviest edge weight %v, want 1", heaviest)
	}
	f := s.a.Index("frontend")
	if got := out.Flat[f*envs.FlatPerService]; got != 1 {
		t.Errorf("frontend replicas %v, want 1", got)
	}
	// gym-hpa: ceil(0.7*ceil(150/75) + 0.3*ceil(50/48)) = ceil(1.4+0.6) = 2.
	if desired[f] != 2 {
		t.Errorf("frontend desired %d, want 2", desired[f])
	}
}

func TestObserveFailsWhenASourceFails(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		spoil func(s *obScene)
		want  string
	}{
		{"prometheus query error", func(s *obScene) { s.prom.fail = "response_latency_ms_bucket" }, "parse error"},
		{"no prometheus", func(s *obScene) { s.prom = nil }, "no Prometheus client"},
		{"viz error", func(s *obScene) {
			s.viz = vizServer(s.fc.t, 500, `{"error":"No prometheus instance to connect"}`)
		}, "No prometheus instance"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newOBScene(t)
			tt.spoil(s)
			_, err := s.cluster(t, FromMetricsServer).Observe(context.Background())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}

func TestObserveWithoutTrafficHasNoLatency(t *testing.T) {
	t.Parallel()
	s := newOBScene(t)
	s.prom.appLatency = [3]float64{math.NaN(), math.NaN(), math.NaN()}
	s.prom.appMean = math.NaN()
	obs, err := s.cluster(t, FromMetricsServer).Observe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if obs.HasLatency || obs.LatencyP95Ms != 0 {
		t.Errorf("has latency %v p95 %v, want none from NaN quantiles", obs.HasLatency, obs.LatencyP95Ms)
	}
}
