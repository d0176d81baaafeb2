package activities

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/grlscaler/grlscaler/envs"
	"github.com/grlscaler/grlscaler/envs/k8s"
	"github.com/grlscaler/grlscaler/envs/sim"
	"github.com/grlscaler/grlscaler/infra/objstore"
	"github.com/grlscaler/grlscaler/model"
	"github.com/grlscaler/grlscaler/workflows/api"
)

// k8sController is what drives replicas during a run on a cluster: a
// decision function called after each observation (nil for the HPA,
// which the cluster runs itself).
type k8sController struct {
	decide func(o *k8s.Observation, desired []int) error
}

// setUpController prepares the cluster for ctrl and returns its decision
// function. Every run starts from the services' minimum replicas without
// grlscaler HPAs; an HPA controller then gets one HPA per service and must
// be live (metrics known, ScalingActive=True) within the spec's
// hpaReadyTimeout: a dead baseline is reported as an invalid run, not
// measured.
func (a *Activities) setUpController(ctx context.Context, ka *kubeApp, in api.EvaluateRunInput) (*k8sController, string, error) {
	spec := &in.Spec
	ctrl := in.Controller
	c := ka.cluster
	if err := c.DeleteHPAs(ctx); err != nil {
		return nil, "", err
	}
	minR, maxR := replicaBounds(ka.app, ctrl)
	start := minR
	if ctrl.Type == api.ControllerStatic {
		start = make([]int, len(minR))
		for i := range start {
			start[i] = max(ctrl.Replicas, 1)
		}
	}
	for i, s := range ka.app.Services {
		if err := c.Scale(ctx, s.Name, start[i]); err != nil {
			return nil, "", err
		}
	}
	switch ctrl.Type {
	case api.ControllerStatic:
		return &k8sController{}, "", nil
	case api.ControllerHPA:
		for i, s := range ka.app.Services {
			if err := c.CreateHPA(ctx, s.Name, ctrl.HPA, int32(minR[i]), int32(maxR[i])); err != nil {
				return nil, "", invalidSpec("controller %s: %w", ctrl.Name, err)
			}
		}
		heartbeat(ctx, map[string]any{"waiting": "hpa live"})
		err := c.WaitHPALive(ctx, spec.Spec.Cluster.K8s.HPAReadyTimeout.Std())
		if errors.Is(err, k8s.ErrHPANotLive) {
			return nil, "dead HPA baseline: " + err.Error(), nil
		}
		if err != nil {
			return nil, "", err
		}
		return &k8sController{}, "", nil
	case api.ControllerAgent:
		if in.Checkpoint == nil {
			return nil, "", invalidSpec("controller %s: agent evaluation needs a checkpoint", ctrl.Name)
		}
		pol, err := a.loadPolicy(ctx, in)
		if err != nil {
			return nil, "", err
		}
		var obs envs.Observation
		desiredGym := make([]int, len(minR))
		replicas := make([]int, len(minR))
		mask := make([]bool, len(minR)*pol.Space().Moves())
		var latest *k8s.Observation
		act, err := actuator(spec, ka.app, pol.Space(), minR, maxR)
		if err != nil {
			return nil, "", err
		}
		agent, err := pol.Controller(ctrl.Name, func() envs.Observation {
			latest.Build(&obs, desiredGym, minR, maxR)
			for i := range latest.Services {
				replicas[i] = latest.Services[i].Replicas
			}
			pol.Space().MaskObservation(&obs, mask, replicas, minR, maxR)
			return obs
		}, act, true, in.Seed)
		if err != nil {
			return nil, "", invalidSpec("controller %s: %w", ctrl.Name, err)
		}
		agent.Reset()
		var view envs.ClusterView
		return &k8sController{decide: func(o *k8s.Observation, desired []int) error {
			latest = o
			o.View(&view)
			agent.Decide(&view, desired)
			if ae, ok := agent.(interface{ Err() error }); ok && ae.Err() != nil {
				return fmt.Errorf("agent: %w", ae.Err())
			}
			return nil
		}}, "", nil
	}
	return nil, "", invalidSpec("controller %s: unknown type %q", ctrl.Name, ctrl.Type)
}

// loadPolicy reads and checks an agent's checkpoint.
func (a *Activities) loadPolicy(ctx context.Context, in api.EvaluateRunInput) (*model.Policy, error) {
	ctrl := in.Controller
	store, err := a.storeFor(ctx, &in.Spec)
	if err != nil {
		return nil, err
	}
	data, _, err := objstore.GetVerified(ctx, store, in.Checkpoint.Key, in.Checkpoint.SHA256)
	switch {
	case errors.Is(err, objstore.ErrCorrupt):
		return nil, corruptCheckpoint(fmt.Errorf("controller %s: %w", ctrl.Name, err))
	case err != nil:
		return nil, fmt.Errorf("controller %s: read checkpoint: %w", ctrl.Name, err)
	}
	pol, err := model.LoadPolicy(bytes.NewReader(data))
	if err != nil {
		return nil, corruptCheckpoint(fmt.Errorf("controller %s: load policy %s: %w", ctrl.Name, in.Checkpoint.Key, err))
	}
	return pol, nil
}

// snapshotOf is an observation in the twin's snapshot shape, which the
// run tracker and the series share between both backends.
func snapshotOf(o *k8s.Observation) *sim.Snapshot {
	n := len(o.Services)
	s := &sim.Snapshot{
		Time:     o.Time.Sub(o.Origin),
		Replicas: make([]int, n), Ready: make([]int, n), CPUMilli: make([]float64, n), MemMiB: make([]float64, n),
		TaskRate: o.RPS, MeanMs: o.LatencyMeanMs, P50Ms: o.LatencyP50Ms, P95Ms: o.LatencyP95Ms, P99Ms: o.LatencyP99Ms,
		ErrorRate: o.ErrorRate,
	}
	for i, so := range o.Services {
		s.Replicas[i], s.Ready[i], s.CPUMilli[i], s.MemMiB[i] = so.Replicas, so.Ready, so.CPUMilli, so.MemMiB
	}
	return s
}

// evaluateRunK8s runs one controller under one scenario's Locust load on
// the cluster for load.duration, observing every step period, and stores
// the series (the twin's columns) and Locust's results.
func (a *Activities) evaluateRunK8s(ctx context.Context, in api.EvaluateRunInput) (api.EvaluateRunResult, error) {
	log := logger(ctx)
	spec := &in.Spec
	what := fmt.Sprintf("evaluate %s on %s #%d", in.Controller.Name, in.Scenario, in.Repetition)
	ka, err := a.connect(ctx, spec)
	if err != nil {
		return api.EvaluateRunResult{}, err
	}
	// The HPAs of this run go when it ends, whatever happens; the next run
	// starts from a clean namespace anyway.
	defer func() { _ = ka.cluster.DeleteHPAs(context.WithoutCancel(ctx)) }()
	ctrl, invalid, err := a.setUpController(ctx, ka, in)
	if err != nil {
		return api.EvaluateRunResult{}, fmt.Errorf("%s: %w", what, err)
	}
	reward, err := rewardConfig(spec, ka.app)
	if err != nil {
		return api.EvaluateRunResult{}, err
	}
	period := spec.Spec.Cluster.StepPeriod.Std()
	track := newRunTracker(ka.app, period, reward)
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	header := []string{"time_s"}
	for _, s := range ka.app.ServiceNames() {
		header = append(header, s+"_replicas", s+"_ready", s+"_cpu_m", s+"_mem_mib")
	}
	header = append(header, "rps", "p50_ms", "p95_ms", "p99_ms", "error_rate", "actions")
	_ = w.Write(header)

	sloMs := float64(spec.Spec.Evaluation.SLO.Std()) / float64(time.Millisecond)
	var m api.RunMetrics
	var load api.LoadResult
	if invalid == "" {
		duration := spec.Spec.Load.Duration.Std()
		ld := a.startLoad(ctx, spec, in.ExperimentID, in.Scenario, duration, "eval", in.Controller.Name, in.Scenario, in.Split, strconv.Itoa(in.Repetition))
		m, err = a.measure(ctx, ka, ctrl, track, w, duration, period, sloMs, ld.ended)
		if err != nil {
			ld.stop()
			return api.EvaluateRunResult{}, fmt.Errorf("%s: %w", what, err)
		}
		// The load lasts as long as the measurement: wait for Locust's
		// results, whose percentiles are over every request of the run.
		if load, err = ld.wait(ctx); err != nil {
			return api.EvaluateRunResult{}, fmt.Errorf("%s: %w", what, err)
		}
		if load.Requests > 0 {
			m.LatencyP50Ms, m.LatencyP95Ms, m.LatencyP99Ms = load.LatencyP50Ms, load.LatencyP95Ms, load.LatencyP99Ms
			m.ErrorRate = float64(load.Failures) / float64(load.Requests)
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return api.EvaluateRunResult{}, fmt.Errorf("%s: %w", what, err)
	}
	key := SeriesKey(spec, in.ExperimentID, in.Controller.Name, in.Scenario, in.Split, in.Repetition)
	store, err := a.storeFor(ctx, spec)
	if err != nil {
		return api.EvaluateRunResult{}, fmt.Errorf("%s: %w", what, err)
	}
	info, err := objstore.PutVerified(ctx, store, key, buf.Bytes())
	if err != nil {
		return api.EvaluateRunResult{}, fmt.Errorf("%s: store %s: %w", what, key, err)
	}
	if invalid != "" {
		log.Warn("evaluation run is invalid", "controller", in.Controller.Name, "scenario", in.Scenario, "repetition", in.Repetition, "reason", invalid)
	}
	sc, _ := sim.ScenarioFor(ka.app, in.Scenario)
	m.RecoveryTimeS = finite(recoveryTime(track.times, track.p95Ms, sloMs, loadIncreases(sc.WithDuration(spec.Spec.Load.Duration.Std()))))
	log.Info("evaluation run done", "controller", in.Controller.Name, "scenario", in.Scenario, "repetition", in.Repetition, "split", in.Split, "steps", track.steps, "key", key, "locust", load.ResultsKey)
	return api.EvaluateRunResult{
		Controller: in.Controller.Name, Scenario: in.Scenario, Repetition: in.Repetition, Split: in.Split, Seed: in.Seed,
		Valid: invalid == "", InvalidReason: invalid,
		SeriesKey: key, SHA256: info.SHA256, Metrics: m,
	}, nil
}

// measure observes the cluster every period for duration, lets ctrl act
// after each observation, writes a series row per step and returns the
// run's metrics (latency percentiles as request-weighted means of the
// steps', which Locust's totals replace when there are any).
func (a *Activities) measure(ctx context.Context, ka *kubeApp, ctrl *k8sController, track *runTracker, w *csv.Writer, duration, period time.Duration, sloMs float64, loadEnded func() error) (api.RunMetrics, error) {
	steps := int(duration / period)
	if steps < 1 {
		return api.RunMetrics{}, invalidSpec("load.duration %s is shorter than one step (%s)", duration, period)
	}
	n := len(ka.app.Services)
	desired := make([]int, n)
	row := make([]string, 0, 1+4*n+6)
	var m api.RunMetrics
	var violations, reqs, p50, p95, p99, failed float64
	start := time.Now()
	for step := 1; step <= steps; step++ {
		if err := sleepCtx(ctx, time.Until(start.Add(time.Duration(step)*period))); err != nil {
			return api.RunMetrics{}, err
		}
		// The load lasts as long as the measurement: only at the last
		// step may it have ended (its start lagged this loop's).
		if err := loadEnded(); err != nil && (step < steps || !errors.Is(err, errLoadEnded)) {
			return api.RunMetrics{}, err
		}
		o, err := ka.cluster.Observe(ctx)
		if err != nil {
			return api.RunMetrics{}, err
		}
		s := snapshotOf(o)
		s.Time = time.Duration(step) * period
		track.observe(s)
		m.ScalingActions += track.actions
		row = append(row[:0], fmtFloat(s.Time.Seconds()))
		for i := range s.Replicas {
			row = append(row, strconv.Itoa(s.Replicas[i]), strconv.Itoa(s.Ready[i]), fmtFloat(s.CPUMilli[i]), fmtFloat(s.MemMiB[i]))
			m.CostReplicaSeconds += float64(s.Replicas[i]) * period.Seconds()
		}
		row = append(row, fmtFloat(s.TaskRate), fmtFloat(s.P50Ms), fmtFloat(s.P95Ms), fmtFloat(s.P99Ms), fmtFloat(s.ErrorRate), strconv.Itoa(track.actions))
		if err := w.Write(row); err != nil {
			return api.RunMetrics{}, err
		}
		if s.P95Ms > sloMs {
			violations++
		}
		r := s.TaskRate * period.Seconds()
		reqs += r
		p50, p95, p99, failed = p50+r*s.P50Ms, p95+r*s.P95Ms, p99+r*s.P99Ms, failed+r*s.ErrorRate
		if ctrl.decide != nil {
			if err := ctrl.decide(o, desired); err != nil {
				return api.RunMetrics{}, err
			}
			for i, d := range desired {
				if d >= 0 && d != s.Replicas[i] {
					if err := ka.cluster.Scale(ctx, ka.app.Services[i].Name, d); err != nil {
						return api.RunMetrics{}, err
					}
				}
			}
		}
		heartbeat(ctx, map[string]any{"steps": step, "of": steps})
	}
	m.SLOViolationRate = violations / float64(steps)
	if reqs > 0 {
		m.LatencyP50Ms, m.LatencyP95Ms, m.LatencyP99Ms, m.ErrorRate = p50/reqs, p95/reqs, p99/reqs, failed/reqs
	}
	m.CostCPUCoreSeconds = finite(track.cpuCoreSec)
	m.LatencyMeanMs = finite(track.latencyMean())
	m.TotalReward = finite(track.totalReward)
	m.ReplicasMean = finite(track.replicasMean())
	m.ReplicasMax = track.replicasMax
	m.CostReplicaSeconds = math.Round(m.CostReplicaSeconds*10) / 10
	return m, nil
}
