package sim

import (
	"fmt"
	"math"
	"time"

	"github.com/grlscaler/grlscaler/envs"
)

// RunOptions configure a controller run over a scenario.
type RunOptions struct {
	Seed uint64
	// Duration of the run (default: the scenario's).
	Duration time.Duration
	// SLO is the p95 latency objective for the violation rate (default 500 ms).
	SLO time.Duration
	// Record, if set, is called after every step with the step's true metrics.
	Record func(s *Snapshot)
}

// ServiceResult summarises one service over a run.
type ServiceResult struct {
	Name             string  `json:"name"`
	AvgReplicas      float64 `json:"avg_replicas"`
	MaxReplicas      int     `json:"max_replicas"`
	AvgCPUMillicores float64 `json:"avg_cpu_millicores"`
	LatencyP95Ms     float64 `json:"latency_p95_ms"`
}

// Result summarises a run. Percentiles are over all requests of the run:
// the steps' latency distributions weighted by their request counts.
type Result struct {
	App                string          `json:"app"`
	Scenario           string          `json:"scenario"`
	Controller         string          `json:"controller"`
	Seed               uint64          `json:"seed"`
	DurationS          float64         `json:"duration_s"`
	CostReplicaSeconds float64         `json:"cost_replica_seconds"`
	SLOViolationRate   float64         `json:"slo_violation_rate"`
	LatencyP50Ms       float64         `json:"latency_p50_ms"`
	LatencyP95Ms       float64         `json:"latency_p95_ms"`
	LatencyP99Ms       float64         `json:"latency_p99_ms"`
	ErrorRate          float64         `json:"error_rate"`
	ScalingActions     int             `json:"scaling_actions"`
	Services           []ServiceResult `json:"services"`
}

// Run drives the twin with a controller: at every step the controller sees
// the lagged cluster view and sets replicas, then the twin advances one step.
func Run(c *Cluster, ctrl envs.Controller, opts RunOptions) (Result, error) {
	if opts.Duration == 0 {
		opts.Duration = c.opts.Scenario.Duration
	}
	if opts.Duration < c.opts.StepPeriod {
		return Result{}, fmt.Errorf("run: duration %s is shorter than one step (%s)", opts.Duration, c.opts.StepPeriod)
	}
	if opts.SLO == 0 {
		opts.SLO = 500 * time.Millisecond
	}
	ctrl.Reset()
	c.Reset(opts.Seed, 0)
	steps := int(opts.Duration / c.opts.StepPeriod)
	n := c.n
	desired := make([]int, n)
	var view envs.ClusterView
	sumReplicas := make([]float64, n)
	sumCPU := make([]float64, n)
	maxReplicas := make([]int, n)
	svcLat := make([][]Lognormal, n)
	var e2e []Lognormal
	res := Result{
		App: c.app.Name, Scenario: c.opts.Scenario.Name, Controller: ctrl.Name(), Seed: opts.Seed,
	}
	slo := float64(opts.SLO) / float64(time.Millisecond)
	var violations, requests, failed float64
	for range steps {
		c.View(&view)
		ctrl.Decide(&view, desired)
		for i, d := range desired {
			if d >= 0 && d != c.Replicas(i) {
				c.SetReplicas(i, d)
				res.ScalingActions++
			}
		}
		c.Step()
		s := c.Latest()
		if opts.Record != nil {
			opts.Record(s)
		}
		dt := c.dt
		reqs := s.TaskRate * dt
		requests += reqs
		failed += reqs * s.ErrorRate
		if s.P95Ms > slo {
			violations++
		}
		mu, sigma := lognormalFit(s.P50Ms, 0)
		if s.P50Ms > 0 {
			mu, sigma = math.Log(s.P50Ms), math.Log(s.P95Ms/s.P50Ms)/z95
		}
		e2e = append(e2e, Lognormal{Mu: mu, Sigma: sigma, W: reqs})
		for i := range n {
			r := s.Replicas[i]
			res.CostReplicaSeconds += float64(r) * dt
			sumReplicas[i] += float64(r)
			sumCPU[i] += s.CPUMilli[i]
			maxReplicas[i] = max(maxReplicas[i], r)
			mu, sigma := lognormalFit(s.LatMeanMs[i], s.LatVarMs2[i])
			svcLat[i] = append(svcLat[i], Lognormal{Mu: mu, Sigma: sigma, W: s.RPS[i] * dt})
		}
	}
	res.DurationS = float64(steps) * c.dt
	res.SLOViolationRate = violations / float64(steps)
	if requests > 0 {
		res.ErrorRate = failed / requests
	}
	// A run without requests has no latency, which Result reports as 0.
	quantile := func(ls []Lognormal, p float64) float64 {
		if q := MixtureQuantile(ls, p); !math.IsNaN(q) {
			return q
		}
		return 0
	}
	res.LatencyP50Ms = quantile(e2e, 0.50)
	res.LatencyP95Ms = quantile(e2e, 0.95)
	res.LatencyP99Ms = quantile(e2e, 0.99)
	for i, svc := range c.app.Services {
		res.Services = append(res.Services, ServiceResult{
			Name:             svc.Name,
			AvgReplicas:      round(sumReplicas[i]/float64(steps), 3),
			MaxReplicas:      maxReplicas[i],
			AvgCPUMillicores: round(sumCPU[i]/float64(steps), 1),
			LatencyP95Ms:     round(quantile(svcLat[i], 0.95), 2),
		})
	}
	res.CostReplicaSeconds = round(res.CostReplicaSeconds, 1)
	res.SLOViolationRate = round(res.SLOViolationRate, 4)
	res.ErrorRate = round(res.ErrorRate, 6)
	res.LatencyP50Ms = round(res.LatencyP50Ms, 2)
	res.LatencyP95Ms = round(res.LatencyP95Ms, 2)
	res.LatencyP99Ms = round(res.LatencyP99Ms, 2)
	return res, nil
}

// Lognormal is a latency distribution in ms, by its log-space location Mu
// and scale Sigma, with a weight W: the requests, or request rate, it
// stands for. The twin describes latency by lognormals (queue.go), so a
// quantile over a run's steps, or over several services, is a quantile of
// their weighted mixture.
type Lognormal struct {
	Mu, Sigma, W float64
}

// MixtureQuantile is the p-quantile of the W-weighted mixture of ls, found
// by bisection on log latency (the mixture CDF is monotone). Components
// without weight, or with Mu -Inf (lognormalFit of a zero mean), count for
// nothing; with none left it is NaN, as Prometheus' histogram_quantile
// over no requests. The bisection brackets each component within 6 sigma,
// which holds every quantile from 1e-9 to 1-1e-9.
func MixtureQuantile(ls []Lognormal, p float64) float64 {
	var wsum float64
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, l := range ls {
		if l.W <= 0 || math.IsInf(l.Mu, -1) {
			continue
		}
		wsum += l.W
		lo = math.Min(lo, l.Mu-6*l.Sigma-1e-9)
		hi = math.Max(hi, l.Mu+6*l.Sigma+1e-9)
	}
	if wsum == 0 {
		return math.NaN()
	}
	cdf := func(x float64) float64 {
		var f float64
		for _, l := range ls {
			if l.W <= 0 || math.IsInf(l.Mu, -1) {
				continue
			}
			if l.Sigma == 0 {
				if l.Mu <= x {
					f += l.W
				}
				continue
			}
			f += l.W * 0.5 * math.Erfc(-(x-l.Mu)/(l.Sigma*math.Sqrt2))
		}
		return f / wsum
	}
	for range 100 {
		mid := (lo + hi) / 2
		if cdf(mid) < p {
			lo = mid
		} else {
			hi = mid
		}
	}
	return math.Exp((lo + hi) / 2)
}

func round(x float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(x*p) / p
}
