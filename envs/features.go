package envs

import "math"

// ServiceSample is what an observation needs of one service, whatever the
// backend: the twin fills it from its lagged snapshot, the k8s backend from
// the API server, metrics-server and Prometheus.
type ServiceSample struct {
	// Replicas is spec.replicas; Ready the ready replicas.
	Replicas, Ready int
	// MetricPods is the number of pods that CPUMilli and MemMiB sum over;
	// utilisation is undefined (0) when it is zero.
	MetricPods int
	// CPUMilli and MemMiB are the app containers' usage summed over
	// MetricPods pods; RxKBps and TxKBps the pods' network traffic.
	CPUMilli, MemMiB float64
	RxKBps, TxKBps   float64
	// RPS is the incoming request rate; LatencyP95Ms its p95 latency and
	// ErrorRate its failed fraction.
	RPS, LatencyP95Ms, ErrorRate float64
	// CPURequestMilli and MemRequestMiB are the app container's requests.
	CPURequestMilli, MemRequestMiB float64
	MinReplicas, MaxReplicas       int
	// AppLatencyP95Ms is the app's end-to-end p95 latency, the same for
	// every service: what the SLO is about, seen from every node.
	AppLatencyP95Ms float64
}

// appLatencyScale normalises the end-to-end latency feature: log1p of a
// 30 s request timeout (Online Boutique's) maps to 1.
var appLatencyScale = math.Log1p(30000)

// AppLatencyFeature is the e2e_latency node feature of an end-to-end p95
// latency in ms.
func AppLatencyFeature(ms float64) float64 { return math.Log1p(max(ms, 0)) / appLatencyScale }

// FillService writes service i's gym-hpa flat values (FlatPerService) and
// its node features (NodeFeatureNames) into obs, whose Flat and Nodes must
// be sized for at least i+1 services, and returns the gym-hpa desired
// replicas it used.
func FillService(obs *Observation, i int, s *ServiceSample) int {
	d := DesiredReplicas(s.CPUMilli, s.MemMiB, s.CPURequestMilli, s.MemRequestMiB, s.MinReplicas, s.MaxReplicas)
	r := s.Replicas
	f := obs.Flat[i*FlatPerService : (i+1)*FlatPerService]
	f[0], f[1], f[2], f[3], f[4], f[5] = float64(r), float64(d), s.CPUMilli, s.MemMiB, s.RxKBps, s.TxKBps

	nf := len(NodeFeatureNames)
	x := obs.Nodes[i*nf : (i+1)*nf]
	maxR := float64(s.MaxReplicas)
	x[0] = float64(r) / maxR
	x[1] = 0
	if r > 0 {
		x[1] = float64(s.Ready) / float64(r)
	}
	x[2], x[3] = 0, 0
	if p := float64(s.MetricPods); p > 0 {
		x[2] = math.Min(s.CPUMilli/(p*s.CPURequestMilli), 4) / 4
		x[3] = math.Min(s.MemMiB/(p*s.MemRequestMiB), 4) / 4
	}
	x[4] = math.Log1p(s.RPS) / math.Log1p(10000)
	x[5] = s.LatencyP95Ms / (s.LatencyP95Ms + 100)
	x[6] = s.ErrorRate
	x[7] = float64(d-r) / maxR
	x[8] = AppLatencyFeature(s.AppLatencyP95Ms)
	return d
}
