package sim

import (
	"math"

	"github.com/grlscaler/grlscaler/envs"
)

// Observer builds gym-hpa observations from a twin, for the Env and for an
// agent acting as a controller on a twin driven by Run.
type Observer struct {
	c          *Cluster
	obs        envs.Observation
	desired    []int
	minR, maxR []int
}

// NewObserver returns an observer of c.
func NewObserver(c *Cluster) *Observer {
	n := c.n
	o := &Observer{c: c, desired: make([]int, n), minR: make([]int, n), maxR: make([]int, n)}
	for i, s := range c.app.Services {
		o.minR[i], o.maxR[i] = s.MinReplicas, s.MaxReplicas
	}
	o.obs = envs.Observation{
		Flat:  make([]float64, n*envs.FlatPerService),
		Nodes: make([]float64, n*len(envs.NodeFeatureNames)),
		Edges: make([]envs.Edge, len(c.edges)),
	}
	return o
}

// Spec describes the observations and actions.
func (ob *Observer) Spec(episodeSteps int) envs.Spec {
	c := ob.c
	return envs.Spec{
		App: c.app.Name, Services: c.app.ServiceNames(),
		FlatSize: c.n * envs.FlatPerService, NodeFeatures: len(envs.NodeFeatureNames),
		Moves: envs.NumMoves, MinReplicas: ob.minR, MaxReplicas: ob.maxR,
		EpisodeSteps: episodeSteps, StepPeriod: c.opts.StepPeriod,
	}
}

// Observe builds the observation from the lagged metrics, as Prometheus and
// metrics-server would show them, with the current spec.replicas (which
// the API server reports without lag).
func (ob *Observer) Observe() envs.Observation {
	c := ob.c
	o := c.Observed()
	nf := len(envs.NodeFeatureNames)
	for i, svc := range c.app.Services {
		r := c.Replicas(i)
		d := envs.DesiredReplicas(o.CPUMilli[i], o.MemMiB[i], svc.CPURequestMilli, svc.MemRequestMiB, ob.minR[i], ob.maxR[i])
		ob.desired[i] = d
		f := ob.obs.Flat[i*envs.FlatPerService : (i+1)*envs.FlatPerService]
		f[0], f[1], f[2], f[3], f[4], f[5] = float64(r), float64(d), o.CPUMilli[i], o.MemMiB[i], o.RxKBps[i], o.TxKBps[i]

		x := ob.obs.Nodes[i*nf : (i+1)*nf]
		maxR := float64(ob.maxR[i])
		x[0] = float64(r) / maxR
		x[1] = 0
		if r > 0 {
			x[1] = float64(c.readyAt(i, c.now)) / float64(r)
		}
		x[2], x[3] = 0, 0
		if p := float64(o.Pods[i]); p > 0 {
			x[2] = math.Min(o.CPUMilli[i]/(p*svc.CPURequestMilli), 4) / 4
			x[3] = math.Min(o.MemMiB[i]/(p*svc.MemRequestMiB), 4) / 4
		}
		x[4] = math.Log1p(o.RPS[i]) / math.Log1p(10000)
		// p95 of an exponential-tailed sojourn is about 3x its mean; the
		// exact fit costs two logs per service and adds nothing to a
		// normalised feature.
		p95 := 3 * o.LatMeanMs[i]
		x[5] = p95 / (p95 + 100)
		x[6] = o.DropRate[i]
		x[7] = float64(d-r) / maxR
	}
	// Edge weights need only the rates, not the latency fits of EdgeMetrics.
	peak := 0.0
	for _, calls := range c.edgeCallsPerTask {
		peak = math.Max(peak, calls)
	}
	for k, edge := range c.edges {
		w := 0.0
		if peak > 0 && o.TaskRate > 0 {
			w = c.edgeCallsPerTask[k] / peak
		}
		ob.obs.Edges[k] = envs.Edge{Src: edge.Src, Dst: edge.Dst, Weight: w}
	}
	return ob.obs
}
