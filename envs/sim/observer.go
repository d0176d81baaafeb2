package sim

import (
	"math"

	"github.com/grlscaler/grlscaler/envs"
)

// Observer builds gym-hpa observations from a twin, for the Env and for an
// agent acting as a controller on a twin driven by Run.
type Observer struct {
	c          *Cluster
	space      envs.ActionSpace
	obs        envs.Observation
	desired    []int
	replicas   []int
	minR, maxR []int
	mask       []bool
}

// NewObserver returns an observer of c for an agent acting in space
// (which decides the observation's action mask).
func NewObserver(c *Cluster, space envs.ActionSpace) *Observer {
	n := c.n
	if space == "" {
		space = envs.ActionSeed
	}
	o := &Observer{c: c, space: space, desired: make([]int, n), replicas: make([]int, n), minR: make([]int, n), maxR: make([]int, n),
		mask: make([]bool, n*space.Moves())}
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
		Action: ob.space, Moves: ob.space.Moves(), MinReplicas: ob.minR, MaxReplicas: ob.maxR,
		EpisodeSteps: episodeSteps, StepPeriod: c.opts.StepPeriod,
	}
}

// Observe builds the observation from the lagged metrics, as Prometheus and
// metrics-server would show them, with the current spec.replicas (which
// the API server reports without lag).
func (ob *Observer) Observe() envs.Observation {
	c := ob.c
	o := c.Observed()
	for i, svc := range c.app.Services {
		s := envs.ServiceSample{
			Replicas: c.Replicas(i), Ready: c.readyAt(i, c.now), MetricPods: o.Pods[i],
			CPUMilli: o.CPUMilli[i], MemMiB: o.MemMiB[i], RxKBps: o.RxKBps[i], TxKBps: o.TxKBps[i],
			// p95 of an exponential-tailed sojourn is about 3x its mean; the
			// exact fit costs two logs per service and adds nothing to a
			// normalised feature.
			RPS: o.RPS[i], LatencyP95Ms: 3 * o.LatMeanMs[i], ErrorRate: o.DropRate[i],
			CPURequestMilli: svc.CPURequestMilli, MemRequestMiB: svc.MemRequestMiB,
			MinReplicas: ob.minR[i], MaxReplicas: ob.maxR[i],
			AppLatencyP95Ms: o.P95Ms,
		}
		ob.desired[i] = envs.FillService(&ob.obs, i, &s)
		ob.replicas[i] = s.Replicas
	}
	ob.space.MaskObservation(&ob.obs, ob.mask, ob.replicas, ob.minR, ob.maxR)
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
