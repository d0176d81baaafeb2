package k8s

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/grlscaler/grlscaler/envs"
	"github.com/grlscaler/grlscaler/envs/app"
	"github.com/grlscaler/grlscaler/envs/k8s/manifests"
)

// Observation is one look at the app on the cluster: what controllers see
// (replicas, per-pod metrics, requests) and what the agent and the reward
// see (traffic, latency, errors and the service graph). Per-service slices
// are in the app's canonical order.
type Observation struct {
	// Time is when the observation was taken; Origin is time zero of the
	// durations in Services[].Pods and of View.
	Time, Origin time.Time
	Services     []ServiceObservation
	// Edges are the app's static call edges (app.Edges order) followed by
	// any other edge between two of its services that Linkerd reported.
	Edges []EdgeObservation
	// UnknownEdges are the viz edges with an end outside the app (the load
	// generator, another namespace), as "src -> dst"; they are not in Edges.
	UnknownEdges []string
	// App-level traffic at the entry services' inbound proxies (Online
	// Boutique: frontend; Redis: redis-leader).
	RPS       float64
	ErrorRate float64
	// Latency of the entry services' responses, in ms. HasLatency is false
	// when Prometheus had no latency samples: no requests in the window, or
	// no HTTP/gRPC metrics at all (Linkerd treats Redis as opaque TCP).
	LatencyMeanMs, LatencyP50Ms, LatencyP95Ms, LatencyP99Ms float64
	HasLatency                                              bool
}

// ServiceObservation is one Deployment.
type ServiceObservation struct {
	Name string
	// Replicas is spec.replicas; Ready the ready replicas.
	Replicas, Ready int
	// The app container's requests (from the app declaration, which Deploy
	// applied).
	CPURequestMilli, MemRequestMiB float64
	// Pods are the Deployment's pods with their app container's sample,
	// times relative to Origin.
	Pods []envs.PodMetrics
	// CPUMilli and MemMiB sum the samples of MetricPods pods; RxKBps and
	// TxKBps the pods' network traffic.
	CPUMilli, MemMiB float64
	MetricPods       int
	RxKBps, TxKBps   float64
	// RPS is the inbound request rate; SuccessRate the successful fraction
	// of responses (1 without traffic); latencies in ms, 0 when unknown.
	RPS, SuccessRate                         float64
	LatencyP50Ms, LatencyP95Ms, LatencyP99Ms float64
}

// EdgeObservation is one caller -> callee edge in canonical indices, with
// the caller's outbound metrics.
type EdgeObservation struct {
	Src, Dst int
	// InViz is true when Linkerd viz listed the edge.
	InViz bool
	// RPS is requests per second; SuccessRate the successful fraction (1
	// without traffic); latencies in ms (0 when unknown).
	RPS, SuccessRate                         float64
	LatencyP50Ms, LatencyP95Ms, LatencyP99Ms float64
}

// Observe reads the app's state: Deployments and pods from the API server,
// CPU and memory from metrics-server or Prometheus, traffic and latency
// from Linkerd's proxy metrics in Prometheus, and the graph from Linkerd
// viz. A source that fails fails the observation.
func (c *Cluster) Observe(ctx context.Context) (*Observation, error) {
	at := c.o.Now()
	a := c.o.App
	deps, err := c.deployments(ctx)
	if err != nil {
		return nil, fmt.Errorf("observe: %w", err)
	}
	pods, err := c.o.Kube.CoreV1().Pods(c.o.Namespace).List(ctx, metav1.ListOptions{LabelSelector: appSelector(a)})
	if err != nil {
		return nil, fmt.Errorf("observe: list pods in %s: %w", c.o.Namespace, err)
	}
	pd, err := c.queryPrometheus(ctx, at)
	if err != nil {
		return nil, err
	}
	container := map[string]string{} // pod -> app container name
	for _, p := range pods.Items {
		if k := a.Index(p.Labels[manifests.SelectorLabel]); k >= 0 {
			container[p.Name] = a.Services[k].Container
		}
	}
	usage, err := c.resourceUsage(ctx, pd, at, container)
	if err != nil {
		return nil, err
	}
	var viz []VizEdge
	if c.o.Viz != nil {
		if viz, err = c.o.Viz.Edges(ctx, c.o.Namespace); err != nil {
			return nil, fmt.Errorf("observe: %w", err)
		}
	}

	o := &Observation{Time: at, Origin: c.o.Origin, Services: make([]ServiceObservation, len(a.Services))}
	for i, s := range a.Services {
		so := &o.Services[i]
		so.Name = s.Name
		so.Replicas, so.Ready = int(replicasOrDefault(deps[i])), int(deps[i].Status.ReadyReplicas)
		so.CPURequestMilli, so.MemRequestMiB = s.CPURequestMilli, s.MemRequestMiB
		so.RPS = pd.rps[s.Name]
		so.SuccessRate = successRate(pd.responses, s.Name)
		so.LatencyP50Ms, so.LatencyP95Ms, so.LatencyP99Ms = pd.latency[0][s.Name], pd.latency[1][s.Name], pd.latency[2][s.Name]
	}
	// Pods in name order, so that observations are reproducible.
	items := pods.Items
	slices.SortFunc(items, func(x, y corev1.Pod) int { return strings.Compare(x.Name, y.Name) })
	for i := range items {
		p := &items[i]
		k := a.Index(p.Labels[manifests.SelectorLabel])
		if k < 0 {
			continue
		}
		so := &o.Services[k]
		pm := c.podMetrics(p)
		if u, ok := usage[p.Name]; ok {
			pm.HasMetrics, pm.SampleTime = true, u.sample.Sub(c.o.Origin)
			pm.CPUMilli, pm.MemMiB = u.cpuMilli, u.memMiB
			so.CPUMilli += u.cpuMilli
			so.MemMiB += u.memMiB
			so.MetricPods++
		}
		so.RxKBps += pd.rx[p.Name]
		so.TxKBps += pd.tx[p.Name]
		so.Pods = append(so.Pods, pm)
	}
	c.fillEdges(o, pd, viz)
	c.fillApp(o, pd)
	return o, nil
}

// podMetrics is a pod's lifecycle as the HPA reads it.
func (c *Cluster) podMetrics(p *corev1.Pod) envs.PodMetrics {
	pm := envs.PodMetrics{
		Name:     p.Name,
		Created:  p.CreationTimestamp.Sub(c.o.Origin),
		Deleting: p.DeletionTimestamp != nil,
		Failed:   p.Status.Phase == corev1.PodFailed,
	}
	for _, cond := range p.Status.Conditions {
		if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
			pm.IsReady, pm.Ready = true, cond.LastTransitionTime.Sub(c.o.Origin)
		}
	}
	return pm
}

// successRate is the successful fraction of key's responses; 1 without any.
func successRate(responses series, key string) float64 {
	ok, fail := responses[key+"/success"], responses[key+"/failure"]
	if ok+fail <= 0 {
		return 1
	}
	return ok / (ok + fail)
}

// fillEdges lays out the app's static edges, then the other edges Linkerd
// saw between app services, and attaches the outbound metrics by name.
// Viz edges are matched by deployment name within the namespace: the
// seed's Kiali client matched node ids against names and dropped every
// edge (seed-spec 2.1 d, 8 C4).
func (c *Cluster) fillEdges(o *Observation, pd *promData, viz []VizEdge) {
	a := c.o.App
	index := map[app.Edge]int{}
	for _, e := range c.edges {
		index[e] = len(o.Edges)
		o.Edges = append(o.Edges, EdgeObservation{Src: e.Src, Dst: e.Dst})
	}
	var extra []app.Edge
	add := func(e app.Edge) int {
		if k, ok := index[e]; ok {
			return k
		}
		extra = append(extra, e)
		index[e] = -1
		return -1
	}
	inApp := func(ns, name string) int {
		if ns != c.o.Namespace {
			return -1
		}
		return a.Index(name)
	}
	vizSeen := map[app.Edge]bool{}
	for _, v := range viz {
		src, dst := inApp(v.SrcNamespace, v.Src), inApp(v.DstNamespace, v.Dst)
		if src < 0 || dst < 0 {
			o.UnknownEdges = append(o.UnknownEdges, v.SrcNamespace+"/"+v.Src+" -> "+v.DstNamespace+"/"+v.Dst)
			continue
		}
		e := app.Edge{Src: src, Dst: dst}
		vizSeen[e] = true
		add(e)
	}
	for key, rps := range pd.edgeRPS {
		src, dst, _ := strings.Cut(key, "/")
		s, d := a.Index(src), a.Index(dst)
		if s >= 0 && d >= 0 && rps > 0 {
			add(app.Edge{Src: s, Dst: d})
		}
	}
	slices.SortFunc(extra, func(x, y app.Edge) int {
		if x.Src != y.Src {
			return x.Src - y.Src
		}
		return x.Dst - y.Dst
	})
	for _, e := range extra {
		o.Edges = append(o.Edges, EdgeObservation{Src: e.Src, Dst: e.Dst})
	}
	for k := range o.Edges {
		e := &o.Edges[k]
		key := pair(a.Services[e.Src].Name, a.Services[e.Dst].Name)
		e.InViz = vizSeen[app.Edge{Src: e.Src, Dst: e.Dst}]
		e.RPS = pd.edgeRPS[key]
		e.SuccessRate = successRate(pd.edgeResponses, key)
		e.LatencyP50Ms, e.LatencyP95Ms, e.LatencyP99Ms = pd.edgeLatency[0][key], pd.edgeLatency[1][key], pd.edgeLatency[2][key]
	}
}

// fillApp sets the app-level traffic from the entry services.
func (c *Cluster) fillApp(o *Observation, pd *promData) {
	var ok, fail float64
	for _, i := range c.entry {
		name := c.o.App.Services[i].Name
		o.RPS += pd.rps[name]
		ok += pd.responses[name+"/success"]
		fail += pd.responses[name+"/failure"]
	}
	if ok+fail > 0 {
		o.ErrorRate = fail / (ok + fail)
	}
	o.HasLatency = !math.IsNaN(pd.appMean) && !math.IsNaN(pd.appLatency[0]) && !math.IsNaN(pd.appLatency[1]) && !math.IsNaN(pd.appLatency[2])
	if o.HasLatency {
		o.LatencyMeanMs = pd.appMean
		o.LatencyP50Ms, o.LatencyP95Ms, o.LatencyP99Ms = pd.appLatency[0], pd.appLatency[1], pd.appLatency[2]
	}
}

// View fills v with what a controller (the HPA algorithm of envs/hpa, a
// static one, the agent) sees: spec.replicas, requests and per-pod samples.
func (o *Observation) View(v *envs.ClusterView) {
	v.Now = o.Time.Sub(o.Origin)
	if cap(v.Services) < len(o.Services) {
		v.Services = make([]envs.ServiceView, len(o.Services))
	}
	v.Services = v.Services[:len(o.Services)]
	for i := range o.Services {
		s := &o.Services[i]
		sv := &v.Services[i]
		sv.Name, sv.Replicas = s.Name, s.Replicas
		sv.CPURequestMilli, sv.MemRequestMiB = s.CPURequestMilli, s.MemRequestMiB
		sv.Pods = append(sv.Pods[:0], s.Pods...)
	}
}

// Build writes the gym-hpa flat vector, the node features and the weighted
// edges into out (reusing its slices) with the same builder as the twin,
// and the gym-hpa desired replicas into desired (len = services). minR and
// maxR are the replica bounds per service.
func (o *Observation) Build(out *envs.Observation, desired, minR, maxR []int) {
	n := len(o.Services)
	nf := len(envs.NodeFeatureNames)
	out.Flat = resize(out.Flat, n*envs.FlatPerService)
	out.Nodes = resize(out.Nodes, n*nf)
	for i := range o.Services {
		s := &o.Services[i]
		errRate := 0.0
		if s.RPS > 0 {
			errRate = 1 - s.SuccessRate
		}
		sample := envs.ServiceSample{
			Replicas: s.Replicas, Ready: s.Ready, MetricPods: s.MetricPods,
			CPUMilli: s.CPUMilli, MemMiB: s.MemMiB, RxKBps: s.RxKBps, TxKBps: s.TxKBps,
			RPS: s.RPS, LatencyP95Ms: s.LatencyP95Ms, ErrorRate: errRate,
			CPURequestMilli: s.CPURequestMilli, MemRequestMiB: s.MemRequestMiB,
			MinReplicas: minR[i], MaxReplicas: maxR[i],
			AppLatencyP95Ms: o.LatencyP95Ms,
		}
		desired[i] = envs.FillService(out, i, &sample)
	}
	peak := 0.0
	for _, e := range o.Edges {
		peak = math.Max(peak, e.RPS)
	}
	out.Edges = out.Edges[:0]
	for _, e := range o.Edges {
		w := 0.0
		if peak > 0 {
			w = e.RPS / peak
		}
		out.Edges = append(out.Edges, envs.Edge{Src: e.Src, Dst: e.Dst, Weight: w})
	}
}

func resize(s []float64, n int) []float64 {
	if cap(s) < n {
		return make([]float64, n)
	}
	return s[:n]
}
