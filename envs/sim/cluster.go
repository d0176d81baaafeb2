// Package sim is the digital twin: a deterministic, discrete-time model of a
// microservice app on Kubernetes. Users from a load scenario send requests
// whose calls traverse the app's call graph; every service is an M/M/c queue
// over its ready replicas with a fluid backlog for overload, CPU capped at
// the replicas' limits, memory from a base plus requests in flight, and
// metrics observed with metrics-server's lag. See docs/calibration.md for
// where its numbers come from.
package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/grlscaler/grlscaler/envs"
	"github.com/grlscaler/grlscaler/envs/app"
	"github.com/grlscaler/grlscaler/envs/load"
)

// Options configure a twin.
type Options struct {
	App      *app.App
	Scenario load.Scenario
	// StepPeriod is the simulated time per step (default 15 s, the HPA's
	// sync period, so one step is one controller decision).
	StepPeriod time.Duration
	// MetricsLag is how old the metrics are that controllers and the agent
	// see (default 15 s: metrics-server and Prometheus both scrape every
	// 15 s, anchors.md 2.11). It is rounded up to whole steps.
	MetricsLag time.Duration
	// DemandNoise is the relative standard deviation of each service's CPU
	// demand per call, drawn per step (default 0.05; negative disables it).
	DemandNoise float64
	// InitialReplicas per service (one value applies to all); default each
	// service's MinReplicas. Initial pods are ready at time zero.
	InitialReplicas []int
}

func (o *Options) defaults() error {
	if o.App == nil {
		return fmt.Errorf("sim options: app is required")
	}
	if o.StepPeriod == 0 {
		o.StepPeriod = 15 * time.Second
	}
	if o.StepPeriod < 0 {
		return fmt.Errorf("sim options: step period %s must be positive", o.StepPeriod)
	}
	if o.MetricsLag == 0 {
		o.MetricsLag = 15 * time.Second
	}
	if o.MetricsLag < 0 {
		return fmt.Errorf("sim options: metrics lag %s must not be negative", o.MetricsLag)
	}
	if o.DemandNoise == 0 {
		o.DemandNoise = 0.05
	}
	if o.DemandNoise < 0 {
		o.DemandNoise = 0
	}
	if o.Scenario.Duration <= 0 || len(o.Scenario.Stages) == 0 {
		return fmt.Errorf("sim options: scenario %q has no load", o.Scenario.Name)
	}
	rtIndex := map[string]bool{}
	for _, rt := range o.App.RequestTypes {
		rtIndex[rt.Name] = true
	}
	for i, t := range o.Scenario.Tasks {
		if !rtIndex[t.RequestType] {
			return fmt.Errorf("sim options: scenario %q tasks[%d]: app %s has no request type %q", o.Scenario.Name, i, o.App.Name, t.RequestType)
		}
	}
	n := len(o.App.Services)
	if l := len(o.InitialReplicas); l != 0 && l != 1 && l != n {
		return fmt.Errorf("sim options: initial replicas has %d values; want 1 or %d", l, n)
	}
	for _, r := range o.InitialReplicas {
		if r < 0 {
			return fmt.Errorf("sim options: initial replicas %d must not be negative", r)
		}
	}
	return nil
}

// typeModel is a request type with its mix weight and the services its
// requests wait on.
type typeModel struct {
	name   string
	weight float64
	visits []syncVisit
}

type syncVisit struct {
	svc   int
	calls float64
}

// Snapshot holds the true metrics of one step. Per-service slices are in
// canonical order.
type Snapshot struct {
	Time time.Duration // end of the step
	// TaskRate is the rate of user requests sent (achieved load);
	// OfferedRate is what the users would send at zero latency.
	TaskRate, OfferedRate float64
	Replicas, Pods, Ready []int
	CPUMilli, MemMiB      []float64
	RxKBps, TxKBps        []float64
	RPS                   []float64 // incoming calls per second
	DropRate              []float64 // fraction of incoming calls rejected
	LatMeanMs, LatVarMs2  []float64 // sojourn time per call
	// TypeMeanMs is the mean latency per request type, in the order of
	// Cluster.RequestTypes.
	TypeMeanMs []float64
	// End to end, over all request types.
	MeanMs, P50Ms, P95Ms, P99Ms float64
	ErrorRate                   float64
}

func newSnapshot(n, types int) Snapshot {
	return Snapshot{
		TypeMeanMs: make([]float64, types),
		Replicas:   make([]int, n), Pods: make([]int, n), Ready: make([]int, n),
		CPUMilli: make([]float64, n), MemMiB: make([]float64, n),
		RxKBps: make([]float64, n), TxKBps: make([]float64, n), RPS: make([]float64, n),
		DropRate: make([]float64, n), LatMeanMs: make([]float64, n), LatVarMs2: make([]float64, n),
	}
}

func (s *Snapshot) copyFrom(o *Snapshot) {
	t := *s
	*s = *o
	s.Replicas = append(t.Replicas[:0], o.Replicas...)
	s.Pods = append(t.Pods[:0], o.Pods...)
	s.Ready = append(t.Ready[:0], o.Ready...)
	s.CPUMilli = append(t.CPUMilli[:0], o.CPUMilli...)
	s.MemMiB = append(t.MemMiB[:0], o.MemMiB...)
	s.RxKBps = append(t.RxKBps[:0], o.RxKBps...)
	s.TxKBps = append(t.TxKBps[:0], o.TxKBps...)
	s.RPS = append(t.RPS[:0], o.RPS...)
	s.DropRate = append(t.DropRate[:0], o.DropRate...)
	s.LatMeanMs = append(t.LatMeanMs[:0], o.LatMeanMs...)
	s.LatVarMs2 = append(t.LatVarMs2[:0], o.LatVarMs2...)
	s.TypeMeanMs = append(t.TypeMeanMs[:0], o.TypeMeanMs...)
}

// Cluster is the twin of one app under one scenario. It is not safe for
// concurrent use; run one Cluster per goroutine.
type Cluster struct {
	opts     Options
	app      *app.App
	n        int
	dt       float64 // seconds per step
	lagSteps int

	// Static per-service constants.
	limit, idle, demand, base, queueCap []float64
	memBase, memInflight, rxKB, txKB    []float64
	startup                             []time.Duration
	callsPerTask, bcastPerTask          []float64
	syncPerTask                         []float64 // calls per task the user waits on
	types                               []typeModel
	edges                               []app.Edge
	edgeCallsPerTask                    []float64
	timeoutMs                           float64

	// Dynamic state.
	rng      *rand.Rand
	now      time.Duration
	pods     [][]time.Duration // creation time of each pod, oldest first
	podNames [][]string        // podName's cache
	backlog  []float64
	feedback float64 // smoothed end-to-end latency (s) the users experience
	hist     []Snapshot
	head     int // index of the newest snapshot in hist
	lsurv    []float64
	// Per-step scratch, and the stationary (backlog-free) end-to-end mean
	// of the last step, in ms.
	stepDemand, kappa, arrived, overflow, queueArea []float64
	qmax, invKappa                                  []float64
	staticMs                                        float64
}

// NewCluster builds a twin; Reset must be called before stepping.
func NewCluster(opts Options) (*Cluster, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	a := opts.App
	n := len(a.Services)
	c := &Cluster{
		opts: opts, app: a, n: n,
		dt:        opts.StepPeriod.Seconds(),
		lagSteps:  int(math.Ceil(float64(opts.MetricsLag) / float64(opts.StepPeriod))),
		timeoutMs: a.RequestTimeoutSeconds * 1000,
	}
	f := func() []float64 { return make([]float64, n) }
	c.limit, c.idle, c.demand, c.base, c.queueCap = f(), f(), f(), f(), f()
	c.memBase, c.memInflight, c.rxKB, c.txKB = f(), f(), f(), f()
	c.callsPerTask, c.bcastPerTask, c.syncPerTask, c.backlog, c.lsurv = f(), f(), f(), f(), f()
	c.stepDemand, c.kappa, c.arrived, c.overflow, c.queueArea = f(), f(), f(), f(), f()
	c.qmax, c.invKappa = f(), f()
	c.startup = make([]time.Duration, n)
	for i, s := range a.Services {
		t := s.Twin
		c.limit[i], c.idle[i], c.demand[i], c.base[i] = s.CPULimitMilli, t.IdleCPUMilli, t.CPUPerCallMs, t.BaseLatencyMs
		c.queueCap[i], c.memBase[i], c.memInflight[i] = t.QueuePerReplica, t.MemBaseMiB, t.MemPerInflightMiB
		c.rxKB[i], c.txKB[i] = t.RxKBPerCall, t.TxKBPerCall
		c.startup[i] = time.Duration(t.StartupSeconds * float64(time.Second))
	}
	// The mix is fixed for a scenario, so per-task call rates per service
	// and per edge are computed once; a step then costs O(services + edges
	// + sum of request types' visits).
	var total float64
	for _, t := range opts.Scenario.Tasks {
		total += t.Weight
	}
	if total <= 0 {
		return nil, fmt.Errorf("sim options: scenario %q has no task weight", opts.Scenario.Name)
	}
	c.edges = a.Edges()
	c.edgeCallsPerTask = make([]float64, len(c.edges))
	for _, t := range opts.Scenario.Tasks {
		w := t.Weight / total
		rt := a.RequestTypes[a.RequestTypeIndex(t.RequestType)]
		tm := typeModel{name: t.RequestType, weight: w}
		for _, v := range a.Visits(rt) {
			c.callsPerTask[v.Service] += w * (v.Sync + v.Async)
			c.bcastPerTask[v.Service] += w * v.Broadcast
			c.syncPerTask[v.Service] += w * v.Sync
			if v.Sync > 0 {
				tm.visits = append(tm.visits, syncVisit{svc: v.Service, calls: v.Sync})
			}
		}
		for _, ev := range a.EdgeVisits(rt, c.edges) {
			c.edgeCallsPerTask[ev.Edge] += w * ev.Calls
		}
		c.types = append(c.types, tm)
	}
	c.hist = make([]Snapshot, c.lagSteps+1)
	for i := range c.hist {
		c.hist[i] = newSnapshot(n, len(c.types))
	}
	c.pods = make([][]time.Duration, n)
	c.podNames = make([][]string, n)
	return c, nil
}

// RequestTypes names the request types of Snapshot.TypeMeanMs.
func (c *Cluster) RequestTypes() []string {
	out := make([]string, len(c.types))
	for i, t := range c.types {
		out[i] = t.name
	}
	return out
}

// App returns the app the twin models.
func (c *Cluster) App() *app.App { return c.app }

// Scenario returns the load scenario.
func (c *Cluster) Scenario() load.Scenario { return c.opts.Scenario }

// StepPeriod returns the simulated time per step.
func (c *Cluster) StepPeriod() time.Duration { return c.opts.StepPeriod }

// Now returns the simulated time since the scenario's start.
func (c *Cluster) Now() time.Duration { return c.now }

// Reset puts the twin at scenario time start with the initial replicas all
// ready and no load history, and reseeds its randomness.
func (c *Cluster) Reset(seed uint64, start time.Duration) {
	c.ResetReplicas(seed, start, nil)
}

// ResetReplicas is Reset with replicas[i] ready pods of service i instead
// of the initial replicas (nil: the initial replicas).
func (c *Cluster) ResetReplicas(seed uint64, start time.Duration, replicas []int) {
	c.rng = rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	c.now = start
	c.feedback = 0
	c.staticMs = 0
	for i := range c.pods {
		r := c.app.Services[i].MinReplicas
		switch {
		case replicas != nil:
			r = max(replicas[i], 0)
		case len(c.opts.InitialReplicas) == 1:
			r = c.opts.InitialReplicas[0]
		case len(c.opts.InitialReplicas) == c.n:
			r = c.opts.InitialReplicas[i]
		}
		c.pods[i] = c.pods[i][:0]
		for range r {
			// Created long enough ago to be ready and to have metrics.
			c.pods[i] = append(c.pods[i], start-c.startup[i]-time.Hour)
		}
		c.backlog[i] = 0
	}
	// The history before the start is the idle app: ready pods at idle CPU.
	idle := &c.hist[0]
	idle.Time = start
	idle.TaskRate, idle.OfferedRate = 0, 0
	idle.MeanMs, idle.P50Ms, idle.P95Ms, idle.P99Ms, idle.ErrorRate = 0, 0, 0, 0, 0
	clear(idle.TypeMeanMs)
	for i := range c.n {
		r := len(c.pods[i])
		idle.Replicas[i], idle.Pods[i], idle.Ready[i] = r, r, r
		idle.CPUMilli[i] = float64(r) * c.idle[i]
		idle.MemMiB[i] = float64(r) * c.memBase[i]
		idle.RxKBps[i], idle.TxKBps[i], idle.RPS[i], idle.DropRate[i] = 0, 0, 0, 0
		idle.LatMeanMs[i], idle.LatVarMs2[i] = 0, 0
	}
	last := len(c.hist) - 1
	for k := range c.hist {
		if k > 0 {
			c.hist[k].copyFrom(idle)
		}
		c.hist[k].Time = start - time.Duration(last-k)*c.opts.StepPeriod
	}
	c.head = len(c.hist) - 1
}

// Replicas returns a service's spec.replicas.
func (c *Cluster) Replicas(i int) int { return len(c.pods[i]) }

// SetReplicas sets a service's spec.replicas. New pods start now and become
// ready after the service's start-up delay; removed pods are the newest,
// which is what a ReplicaSet prefers (not-ready and younger pods first).
func (c *Cluster) SetReplicas(i, replicas int) {
	replicas = max(replicas, 0)
	for len(c.pods[i]) < replicas {
		c.pods[i] = append(c.pods[i], c.now)
	}
	c.pods[i] = c.pods[i][:replicas]
}

func (c *Cluster) readyAt(i int, t time.Duration) int {
	n := 0
	for _, created := range c.pods[i] {
		if created+c.startup[i] <= t {
			n++
		}
	}
	return n
}

// Latest returns the true metrics of the last step. The snapshot is reused
// by the next step; copy what you keep.
func (c *Cluster) Latest() *Snapshot { return &c.hist[c.head] }

// Observed returns the metrics as controllers see them: MetricsLag old.
func (c *Cluster) Observed() *Snapshot {
	return &c.hist[(c.head+1)%len(c.hist)]
}

// tick is the resolution of the twin's queue and user dynamics inside a
// step: backlogs and the users' closed loop react within seconds, and at
// 15 s resolution they oscillate.
const tick = time.Second

// Step advances the twin by one step period under the current replicas.
func (c *Cluster) Step() {
	dt := c.dt
	t0 := c.now
	c.now += c.opts.StepPeriod
	mid := t0 + c.opts.StepPeriod/2
	c.head = (c.head + 1) % len(c.hist)
	s := &c.hist[c.head]
	s.Time = c.now
	sc := &c.opts.Scenario
	noise := c.opts.DemandNoise

	// Per step: readiness, this step's CPU demand and the capacity left
	// after idle and broadcast work. Broadcast load follows the step's
	// nominal rate.
	nominal := sc.TaskRate(mid%sc.Duration, time.Duration(c.feedback*float64(time.Second)))
	for i := range c.n {
		pods := len(c.pods[i])
		ready := c.readyAt(i, mid)
		s.Replicas[i], s.Pods[i], s.Ready[i] = pods, pods, ready
		d := c.demand[i]
		if noise > 0 {
			d *= math.Max(0.5, 1+noise*c.rng.NormFloat64())
		}
		c.stepDemand[i] = d
		bc := nominal * c.bcastPerTask[i]
		c.kappa[i] = 0
		if ready > 0 {
			free := math.Max(c.limit[i]-c.idle[i]-bc*d, c.limit[i]*0.01)
			c.kappa[i] = float64(ready) * free / d
		}
		c.arrived[i], c.overflow[i], c.queueArea[i] = 0, 0, 0
	}

	// Arrivals follow the users' closed loop tick by tick, with Poisson
	// noise drawn once per step (normal approximation: exact enough above a
	// few requests per step and far cheaper than sampling).
	z := c.rng.NormFloat64()
	ticks := max(int(c.opts.StepPeriod/tick), 1)
	h := dt / float64(ticks)
	hd := time.Duration(h * float64(time.Second))
	for i := range c.n {
		c.qmax[i] = c.queueCap[i] * float64(s.Ready[i])
		if c.kappa[i] > 0 {
			c.invKappa[i] = 1 / c.kappa[i]
		}
	}
	nominalPerUser := sc.Wait.RatePerUser(0)
	var sent, offered float64
	for k := range ticks {
		t := (t0 + time.Duration(k)*hd + hd/2) % sc.Duration
		users := sc.UsersAt(t)
		lam := users * sc.Wait.RatePerUser(time.Duration(c.feedback*float64(time.Second)))
		if m := lam * dt; m > 0 {
			lam = max(0, lam*(1+z/math.Sqrt(m)))
		}
		sent += lam * h
		offered += users * nominalPerUser * h
		wait := c.staticMs
		for i := range c.n {
			a := lam * c.callsPerTask[i]
			c.arrived[i] += a * h
			q0 := c.backlog[i]
			kappa := c.kappa[i]
			if q0 == 0 && a <= kappa {
				continue // the common case: no queue builds up
			}
			if kappa == 0 {
				// No endpoints: the proxy fails calls at once.
				c.overflow[i] += a * h
				continue
			}
			q1 := q0 + (a-kappa)*h
			if q1 < 0 {
				q1 = 0
			}
			if q1 > c.qmax[i] {
				c.overflow[i] += q1 - c.qmax[i]
				q1 = c.qmax[i]
			}
			c.backlog[i] = q1
			c.queueArea[i] += (q0 + q1) / 2 * h
			wait += c.syncPerTask[i] * 1000 * q1 * c.invKappa[i]
		}
		// Users feel at most the timeout, and react to latency with about
		// a second of delay.
		c.feedback = 0.5*c.feedback + 0.5*min(wait, c.timeoutMs)/1000
	}
	rate := sent / dt
	s.TaskRate = rate
	s.OfferedRate = offered / dt

	var static float64
	for i := range c.n {
		pods := len(c.pods[i])
		ready := s.Ready[i]
		d := c.stepDemand[i]
		a := c.arrived[i] / dt
		bc := rate * c.bcastPerTask[i]
		s.RPS[i] = a + bc
		idleCPU := float64(pods) * c.idle[i]
		drop := 0.0
		if c.arrived[i] > 0 {
			drop = math.Min(c.overflow[i]/c.arrived[i], 1)
		}
		s.DropRate[i] = drop
		c.lsurv[i] = 0
		if drop > 0 {
			c.lsurv[i] = math.Log1p(-drop)
		}
		if ready == 0 {
			s.CPUMilli[i] = idleCPU
			s.MemMiB[i] = float64(pods) * c.memBase[i]
			s.RxKBps[i], s.TxKBps[i] = 0, 0
			s.LatMeanMs[i], s.LatVarMs2[i] = c.base[i], 0
			static += c.syncPerTask[i] * c.base[i]
			continue
		}
		r := float64(ready)
		kappa := c.kappa[i]
		mu := kappa / r
		completed := math.Min(a*(1-drop), kappa)
		// Stationary M/M/c part at the accepted rate, capped below
		// saturation; the backlog carries the overload.
		rho := math.Min(completed/kappa, 0.98)
		svcMs := 1000 / mu
		ec := erlangC(ready, rho)
		theta := kappa * (1 - rho) // spare capacity, calls/s
		wait := 1000 * ec / theta
		waitVar := 2e6*ec/(theta*theta) - wait*wait
		qAvg := c.queueArea[i] / dt
		backlogWait := 1000 * qAvg / kappa
		stationary := c.base[i] + svcMs + wait
		static += c.syncPerTask[i] * stationary
		s.LatMeanMs[i] = stationary + backlogWait
		s.LatVarMs2[i] = svcMs*svcMs + waitVar
		cpu := completed*d + bc*d*r + idleCPU
		s.CPUMilli[i] = math.Min(cpu, float64(pods)*c.idle[i]+r*(c.limit[i]-c.idle[i]))
		inflight := completed*s.LatMeanMs[i]/1000 + qAvg
		s.MemMiB[i] = float64(pods)*c.memBase[i] + inflight*c.memInflight[i]
		s.RxKBps[i] = (completed + bc*r) * c.rxKB[i]
		s.TxKBps[i] = (completed + bc*r) * c.txKB[i]
	}
	c.staticMs = static

	// End to end: per request type, sojourns add up along the calls the
	// user waits for; the mix is a weighted mixture of the types.
	var m1, m2, errRate float64
	for k := range c.types {
		tm := &c.types[k]
		var mean, variance, ls float64
		for _, v := range tm.visits {
			mean += v.calls * s.LatMeanMs[v.svc]
			variance += v.calls * s.LatVarMs2[v.svc]
			ls += v.calls * c.lsurv[v.svc]
		}
		s.TypeMeanMs[k] = mean
		ok := 1.0
		if ls != 0 {
			ok = math.Exp(ls)
		}
		// The timeout tail matters only near the timeout; ten standard
		// deviations below it, the lognormal tail is below 1e-9.
		if mean+10*math.Sqrt(variance) > c.timeoutMs {
			mu, sigma := lognormalFit(mean, variance)
			ok *= 1 - lognormalTail(mu, sigma, c.timeoutMs)
		}
		errRate += tm.weight * (1 - ok)
		m1 += tm.weight * mean
		m2 += tm.weight * (variance + mean*mean)
	}
	s.MeanMs = m1
	s.ErrorRate = errRate
	mu, sigma := lognormalFit(m1, math.Max(m2-m1*m1, 0))
	s.P50Ms, s.P95Ms, s.P99Ms = lognormalQuantiles(mu, sigma)
	for _, p := range []*float64{&s.P50Ms, &s.P95Ms, &s.P99Ms} {
		*p = math.Min(*p, c.timeoutMs)
	}
}

// EdgeMetric is a Linkerd-style edge: what the callee's proxy reports for
// calls from one caller.
type EdgeMetric struct {
	Src, Dst    int
	RPS         float64
	SuccessRate float64
	LatencyP50  float64 // ms
	LatencyP95  float64 // ms
}

// Edges returns the app's call edges in canonical indices.
func (c *Cluster) Edges() []app.Edge { return c.edges }

// EdgeMetrics fills out with the edges' metrics from snapshot s (use
// Observed for what Linkerd viz would show now).
func (c *Cluster) EdgeMetrics(s *Snapshot, out []EdgeMetric) []EdgeMetric {
	out = out[:0]
	for e, edge := range c.edges {
		mu, sigma := lognormalFit(s.LatMeanMs[edge.Dst], s.LatVarMs2[edge.Dst])
		p50, p95, _ := lognormalQuantiles(mu, sigma)
		out = append(out, EdgeMetric{
			Src: edge.Src, Dst: edge.Dst,
			RPS:         s.TaskRate * c.edgeCallsPerTask[e],
			SuccessRate: 1 - s.DropRate[edge.Dst],
			LatencyP50:  p50, LatencyP95: p95,
		})
	}
	return out
}

// podName names pod k of service i, formatted once and kept: views are
// built at every step.
func (c *Cluster) podName(i, k int) string {
	names := c.podNames[i]
	for len(names) <= k {
		names = append(names, fmt.Sprintf("%s-%d", c.app.Services[i].Name, len(names)))
	}
	c.podNames[i] = names
	return names[k]
}

// ViewReplicas fills v with the services' names and spec.replicas only,
// without pods: all a controller that does not read metrics needs.
func (c *Cluster) ViewReplicas(v *envs.ClusterView) {
	v.Now = c.now
	if cap(v.Services) < c.n {
		v.Services = make([]envs.ServiceView, c.n)
	}
	v.Services = v.Services[:c.n]
	for i, svc := range c.app.Services {
		sv := &v.Services[i]
		sv.Name = svc.Name
		sv.Replicas = len(c.pods[i])
		sv.CPURequestMilli, sv.MemRequestMiB = svc.CPURequestMilli, svc.MemRequestMiB
		sv.Pods = sv.Pods[:0]
	}
}

// View fills v with what the HPA would see now: spec.replicas, requests,
// and per-pod metrics from metrics-server, MetricsLag old. Pods created
// after the sample have no metrics yet; pods not ready at the sample report
// idle CPU (a starting container), ready pods share the service's usage.
func (c *Cluster) View(v *envs.ClusterView) {
	c.ViewReplicas(v)
	obs := c.Observed()
	sample := obs.Time
	for i := range c.app.Services {
		sv := &v.Services[i]
		readyAtSample := max(obs.Ready[i], 0)
		notReady := float64(obs.Pods[i] - obs.Ready[i])
		cpuShare, memShare := 0.0, 0.0
		if readyAtSample > 0 {
			cpuShare = (obs.CPUMilli[i] - notReady*c.idle[i]) / float64(readyAtSample)
			memShare = (obs.MemMiB[i] - notReady*c.memBase[i]) / float64(readyAtSample)
		}
		for k, created := range c.pods[i] {
			readyTime := created + c.startup[i]
			p := envs.PodMetrics{
				Name:    c.podName(i, k),
				Created: created, Ready: readyTime,
				IsReady: readyTime <= c.now,
			}
			if !p.IsReady {
				p.Ready = 0
			}
			// metrics-server reports a pod once a scrape has seen it.
			if created < sample {
				p.HasMetrics = true
				p.SampleTime = sample
				if readyTime <= sample && k < readyAtSample {
					p.CPUMilli, p.MemMiB = cpuShare, memShare
				} else {
					p.CPUMilli, p.MemMiB = c.idle[i], c.memBase[i]
				}
			}
			sv.Pods = append(sv.Pods, p)
		}
	}
}
