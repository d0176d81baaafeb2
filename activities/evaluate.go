package activities

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"strconv"
	"time"

	"github.com/grlscaler/grlscaler/envs"
	"github.com/grlscaler/grlscaler/envs/app"
	"github.com/grlscaler/grlscaler/envs/hpa"
	"github.com/grlscaler/grlscaler/envs/sim"
	"github.com/grlscaler/grlscaler/infra/objstore"
	"github.com/grlscaler/grlscaler/model"
	"github.com/grlscaler/grlscaler/workflows/api"
)

// SeriesKey is where EvaluateRun stores a run's time series:
// evals/<controller>/<scenario>/<repetition>.csv for test runs and
// evals/<controller>/<scenario>/validation-<repetition>.csv for validation
// runs.
func SeriesKey(spec *api.ExperimentSpec, id, controller, scenario, split string, repetition int) string {
	name := strconv.Itoa(repetition) + ".csv"
	if split == api.SplitValidation {
		name = "validation-" + name
	}
	return experimentKey(spec, id, evalsDir, controller, scenario, name)
}

// replicaBounds returns per-service bounds: the controller's if set, else
// each service's.
func replicaBounds(a *app.App, ctrl api.Controller) (minR, maxR []int) {
	svcs := a.Services
	minR, maxR = make([]int, len(svcs)), make([]int, len(svcs))
	for i, s := range svcs {
		minR[i], maxR[i] = s.MinReplicas, s.MaxReplicas
		if ctrl.MinReplicas > 0 {
			minR[i] = ctrl.MinReplicas
		}
		if ctrl.MaxReplicas > 0 {
			maxR[i] = ctrl.MaxReplicas
		}
		if minR[i] < 1 {
			minR[i] = 1
		}
		if maxR[i] < minR[i] {
			maxR[i] = minR[i]
		}
	}
	return minR, maxR
}

func (a *Activities) controller(ctx context.Context, c *sim.Cluster, in api.EvaluateRunInput) (envs.Controller, error) {
	ctrl := in.Controller
	switch ctrl.Type {
	case api.ControllerHPA:
		minR, maxR := replicaBounds(c.App(), ctrl)
		cfg, err := hpa.ParsePreset(ctrl.HPA, int32(minR[0]), int32(maxR[0]))
		if err != nil {
			return nil, invalidSpec("controller %s: %w", ctrl.Name, err)
		}
		h, err := hpa.New(cfg)
		if err != nil {
			return nil, invalidSpec("controller %s: %w", ctrl.Name, err)
		}
		return newHPAWatch(h), nil
	case api.ControllerStatic:
		r := ctrl.Replicas
		if r < 1 {
			r = 1
		}
		return &envs.StaticController{Replicas: []int{r}}, nil
	case api.ControllerAgent:
		if in.Checkpoint == nil {
			return nil, invalidSpec("controller %s: agent evaluation needs a checkpoint", ctrl.Name)
		}
		pol, err := a.loadPolicy(ctx, in)
		if err != nil {
			return nil, err
		}
		return simAgent(&in.Spec, c, pol, ctrl.Name, in.Seed)
	default:
		return nil, invalidSpec("controller %s: unknown type %q", ctrl.Name, ctrl.Type)
	}
}

// simAgent is a policy acting greedily on the twin c as a controller,
// through the spec's action space as in training.
func simAgent(spec *api.ExperimentSpec, c *sim.Cluster, pol *model.Policy, name string, seed uint64) (envs.Controller, error) {
	ob := sim.NewObserver(c, pol.Space())
	es := ob.Spec(0)
	act, err := actuator(spec, c.App(), pol.Space(), es.MinReplicas, es.MaxReplicas)
	if err != nil {
		return nil, err
	}
	ctl, err := pol.Controller(name, ob.Observe, act, true, seed)
	if err != nil {
		return nil, invalidSpec("controller %s: %w", name, err)
	}
	return ctl, nil
}

// validationEvaluator scores a policy during training as the evaluation
// would run it: greedily, on every evaluation scenario from its start,
// for load.duration, with agent.validation.seeds validation seeds each
// (the seeds that choose the best HPA, never the test seeds). The score
// is the runs' mean total reward under the agent's training reward.
func validationEvaluator(spec *api.ExperimentSpec, ctrl api.Controller) (model.Evaluator, error) {
	s := &spec.Spec
	type run struct {
		opts sim.Options
		seed uint64
	}
	var runs []run
	for si, name := range s.Load.EvaluationScenarios {
		opts, err := simOptions(spec, name)
		if err != nil {
			return nil, err
		}
		for v := range s.Agent.Validation.Seeds {
			runs = append(runs, run{opts, api.ValidationSeed(s.Agent.Seed, si, v)})
		}
	}
	if len(runs) == 0 {
		return nil, invalidSpec("agent validation: no evaluation scenario or seed")
	}
	reward, err := trainingReward(spec, runs[0].opts.App, ctrl)
	if err != nil {
		return nil, err
	}
	return func(p *model.Policy) (float64, error) {
		var total float64
		for _, r := range runs {
			c, err := sim.NewCluster(r.opts)
			if err != nil {
				return 0, invalidSpec("validation: build twin: %w", err)
			}
			ctl, err := simAgent(spec, c, p, "validation", r.seed)
			if err != nil {
				return 0, err
			}
			track := newRunTracker(c.App(), c.StepPeriod(), reward)
			if _, err := sim.Run(c, ctl, sim.RunOptions{Seed: r.seed, Duration: s.Load.Duration.Std(), SLO: s.Evaluation.SLO.Std(), Record: track.observe}); err != nil {
				return 0, fmt.Errorf("validation run on %s: %w", c.Scenario().Name, err)
			}
			if ae, ok := ctl.(interface{ Err() error }); ok && ae.Err() != nil {
				return 0, fmt.Errorf("validation run on %s: agent: %w", c.Scenario().Name, ae.Err())
			}
			total += track.totalReward
		}
		return total / float64(len(runs)), nil
	}, nil
}

func fmtFloat(x float64) string { return strconv.FormatFloat(finite(x), 'g', 8, 64) }

// evaluateRun runs one controller on one scenario in the twin, stores the
// per-step time series as CSV and returns its summary.
func (a *Activities) evaluateRun(ctx context.Context, in api.EvaluateRunInput) (api.EvaluateRunResult, error) {
	log := logger(ctx)
	spec := &in.Spec
	if err := checkMode(spec); err != nil {
		return api.EvaluateRunResult{}, err
	}
	if spec.Spec.Cluster.Mode == api.ModeK8s {
		return a.evaluateRunK8s(ctx, in)
	}
	opts, err := simOptions(spec, in.Scenario)
	if err != nil {
		return api.EvaluateRunResult{}, err
	}
	c, err := sim.NewCluster(opts)
	if err != nil {
		return api.EvaluateRunResult{}, invalidSpec("evaluate %s on %s: build twin: %w", in.Controller.Name, in.Scenario, err)
	}
	ctrl, err := a.controller(ctx, c, in)
	if err != nil {
		return api.EvaluateRunResult{}, err
	}
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	header := []string{"time_s"}
	for _, s := range c.App().ServiceNames() {
		header = append(header, s+"_replicas", s+"_ready", s+"_cpu_m", s+"_mem_mib")
	}
	header = append(header, "rps", "p50_ms", "p95_ms", "p99_ms", "error_rate", "actions")
	reward, err := rewardConfig(spec, c.App())
	if err != nil {
		return api.EvaluateRunResult{}, err
	}
	track := newRunTracker(c.App(), c.StepPeriod(), reward)
	var werr error
	if err := w.Write(header); err != nil {
		werr = err
	}
	steps := 0
	row := make([]string, 0, len(header))
	res, err := sim.Run(c, ctrl, sim.RunOptions{
		Seed: in.Seed, Duration: spec.Spec.Load.Duration.Std(), SLO: spec.Spec.Evaluation.SLO.Std(),
		Record: func(s *sim.Snapshot) {
			steps++
			track.observe(s)
			row = append(row[:0], fmtFloat(s.Time.Seconds()))
			for i := range s.Replicas {
				row = append(row, strconv.Itoa(s.Replicas[i]), strconv.Itoa(s.Ready[i]), fmtFloat(s.CPUMilli[i]), fmtFloat(s.MemMiB[i]))
			}
			row = append(row, fmtFloat(s.TaskRate), fmtFloat(s.P50Ms), fmtFloat(s.P95Ms), fmtFloat(s.P99Ms), fmtFloat(s.ErrorRate), strconv.Itoa(track.actions))
			if err := w.Write(row); err != nil && werr == nil {
				werr = err
			}
			if steps%heartbeatEvery == 0 {
				heartbeat(ctx, map[string]any{"steps": steps})
				if werr == nil {
					werr = ctx.Err()
				}
			}
		},
	})
	if err != nil {
		return api.EvaluateRunResult{}, fmt.Errorf("evaluate %s on %s #%d: %w", in.Controller.Name, in.Scenario, in.Repetition, err)
	}
	if ae, ok := ctrl.(interface{ Err() error }); ok && ae.Err() != nil {
		return api.EvaluateRunResult{}, fmt.Errorf("evaluate %s on %s #%d: agent: %w", in.Controller.Name, in.Scenario, in.Repetition, ae.Err())
	}
	w.Flush()
	if werr == nil {
		werr = w.Error()
	}
	if werr != nil {
		return api.EvaluateRunResult{}, fmt.Errorf("evaluate %s on %s #%d: %w", in.Controller.Name, in.Scenario, in.Repetition, werr)
	}
	valid, why := true, ""
	if w, ok := ctrl.(*hpaWatch); ok {
		valid, why = w.verdict(c.App().ServiceNames())
	}
	key := SeriesKey(spec, in.ExperimentID, in.Controller.Name, in.Scenario, in.Split, in.Repetition)
	store, err := a.storeFor(ctx, spec)
	if err != nil {
		return api.EvaluateRunResult{}, fmt.Errorf("evaluate %s on %s #%d: %w", in.Controller.Name, in.Scenario, in.Repetition, err)
	}
	info, err := objstore.PutVerified(ctx, store, key, buf.Bytes())
	if err != nil {
		return api.EvaluateRunResult{}, fmt.Errorf("evaluate %s on %s #%d: store %s: %w", in.Controller.Name, in.Scenario, in.Repetition, key, err)
	}
	if !valid {
		log.Warn("evaluation run is invalid", "controller", in.Controller.Name, "scenario", in.Scenario, "repetition", in.Repetition, "reason", why)
	}
	log.Info("evaluation run done", "controller", in.Controller.Name, "scenario", in.Scenario, "repetition", in.Repetition, "split", in.Split, "steps", steps, "key", key)
	sloMs := float64(spec.Spec.Evaluation.SLO.Std()) / float64(time.Millisecond)
	return api.EvaluateRunResult{
		Controller: in.Controller.Name, Scenario: in.Scenario, Repetition: in.Repetition, Split: in.Split, Seed: in.Seed,
		Valid: valid, InvalidReason: why,
		SeriesKey: key, SHA256: info.SHA256,
		Metrics: api.RunMetrics{
			CostReplicaSeconds: finite(res.CostReplicaSeconds),
			CostCPUCoreSeconds: finite(track.cpuCoreSec),
			SLOViolationRate:   finite(res.SLOViolationRate),
			LatencyMeanMs:      finite(track.latencyMean()),
			LatencyP50Ms:       finite(res.LatencyP50Ms),
			LatencyP95Ms:       finite(res.LatencyP95Ms),
			LatencyP99Ms:       finite(res.LatencyP99Ms),
			ErrorRate:          finite(res.ErrorRate),
			ScalingActions:     res.ScalingActions,
			RecoveryTimeS:      finite(recoveryTime(track.times, track.p95Ms, sloMs, loadIncreases(c.Scenario()))),
			TotalReward:        finite(track.totalReward),
			ReplicasMean:       finite(track.replicasMean()),
			ReplicasMax:        track.replicasMax,
		},
	}, nil
}

// Cleanup tears down what the experiment left running: nothing in sim
// mode; on a cluster, grlscaler's HPAs of the app (an evaluation run that
// was cancelled may have left them scaling). The app itself stays deployed
// for inspection and for the next experiment (deploying again is a no-op).
func (a *Activities) Cleanup(ctx context.Context, in api.CleanupInput) error {
	log := logger(ctx)
	if in.Spec.Spec.Cluster.Mode != api.ModeK8s {
		log.Info("cleanup: nothing to tear down", "experiment", in.ExperimentID, "mode", string(in.Spec.Spec.Cluster.Mode))
		return nil
	}
	ka, err := a.connect(ctx, &in.Spec)
	if err != nil {
		return err
	}
	if err := ka.cluster.DeleteHPAs(ctx); err != nil {
		return fmt.Errorf("cleanup %s: %w", in.ExperimentID, err)
	}
	log.Info("cleanup: deleted the app's grlscaler HPAs", "experiment", in.ExperimentID, "namespace", ka.cluster.Namespace())
	return nil
}
