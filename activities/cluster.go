package activities

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"k8s.io/client-go/kubernetes"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"

	"github.com/grlscaler/grlscaler/envs"
	"github.com/grlscaler/grlscaler/envs/app"
	"github.com/grlscaler/grlscaler/envs/k8s"
	"github.com/grlscaler/grlscaler/envs/k8s/manifests"
	"github.com/grlscaler/grlscaler/workflows/api"
)

// Error types of the k8s mode that retrying cannot fix.
const (
	// ErrTypeLinkerdMissing: the spec asks for Linkerd injection on a
	// cluster without Linkerd.
	ErrTypeLinkerdMissing = "LinkerdMissing"
)

// KubeConnector returns the API clients of the cluster a spec names. The
// worker's default (nil) connects with envs/k8s.Connect: a kubeconfig, the
// pod's service account, or a token and API host read from the worker's
// environment (never from the spec, which holds only their names). Tests
// pass fake clientsets.
type KubeConnector func(ctx context.Context, k *api.K8s) (kubernetes.Interface, metricsclient.Interface, error)

func connectKube(_ context.Context, k *api.K8s) (kubernetes.Interface, metricsclient.Interface, error) {
	cfg, err := k8s.Connect(k8s.ConnOptions{
		Kubeconfig: k.Kubeconfig, Context: k.Context, InCluster: k.InCluster,
		TokenEnv: k.TokenEnv, APIHostEnv: k.APIHostEnv,
	})
	if err != nil {
		return nil, nil, err
	}
	return k8s.NewClients(cfg)
}

// kubeApp is an experiment's app on its cluster.
type kubeApp struct {
	kube    kubernetes.Interface
	cluster *k8s.Cluster
	app     *app.App
}

// connect reaches the spec's cluster and describes its app there.
func (a *Activities) connect(ctx context.Context, spec *api.ExperimentSpec) (*kubeApp, error) {
	k := spec.Spec.Cluster.K8s
	if k == nil {
		return nil, invalidSpec("cluster.k8s: required in k8s mode")
	}
	ap, err := lookupApp(spec)
	if err != nil {
		return nil, err
	}
	connect := a.Kube
	if connect == nil {
		connect = connectKube
	}
	kube, metrics, err := connect(ctx, k)
	if err != nil {
		return nil, fmt.Errorf("connect to the cluster: %w", err)
	}
	prom, err := k8s.NewPrometheus(k.PrometheusURL, nil)
	if err != nil {
		return nil, invalidSpec("cluster.k8s.prometheusURL: %w", err)
	}
	c, err := k8s.NewCluster(k8s.Options{
		Kube: kube, Metrics: metrics, Prometheus: prom,
		Viz: &k8s.Viz{URL: k.LinkerdVizURL, Client: &http.Client{Timeout: 30 * time.Second}},
		App: ap, Namespace: k.Namespace, Resources: k8s.ResourceSource(k.Resources),
		PollInterval: min(2*time.Second, spec.Spec.Cluster.StepPeriod.Std()),
	})
	if err != nil {
		return nil, invalidSpec("cluster.k8s: %w", err)
	}
	return &kubeApp{kube: kube, cluster: c, app: ap}, nil
}

// checkMode refuses the modes the activities do not drive.
func checkMode(spec *api.ExperimentSpec) error {
	switch m := spec.Spec.Cluster.Mode; m {
	case api.ModeSim, api.ModeK8s:
		return nil
	default:
		return temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("cluster mode %q cannot run through the pipeline: the activities drive the sim and k8s backends "+
				"(replay, gym-hpa's dataset mode, is the envs/replay library: its observations are recorded, so no controller can be evaluated on it); use cluster.mode: sim or k8s", m),
			ErrTypeNotImplemented, nil)
	}
}

// deployK8s applies the app's manifests and waits for the rollout,
// heartbeating each check.
func (a *Activities) deployK8s(ctx context.Context, spec *api.ExperimentSpec) (api.DeployResult, error) {
	ka, err := a.connect(ctx, spec)
	if err != nil {
		return api.DeployResult{}, err
	}
	mode, err := manifests.ParseLinkerd(spec.Spec.Cluster.K8s.Linkerd)
	if err != nil {
		return api.DeployResult{}, invalidSpec("cluster.k8s.linkerd: %w", err)
	}
	log := logger(ctx)
	err = ka.cluster.Deploy(ctx, mode, func(line string) {
		log.Debug("deploy", "progress", line)
		heartbeat(ctx, map[string]any{"deploy": line})
	})
	if errors.Is(err, k8s.ErrLinkerdMissing) {
		return api.DeployResult{}, temporal.NewNonRetryableApplicationError(
			err.Error()+" (in the spec: cluster.k8s.linkerd: disabled)", ErrTypeLinkerdMissing, err)
	}
	if err != nil {
		return api.DeployResult{}, fmt.Errorf("deploy %s to %s: %w", ka.app.Name, ka.cluster.Namespace(), err)
	}
	log.Info("deployed app", "app", ka.app.Name, "namespace", ka.cluster.Namespace(), "linkerd", string(mode))
	return api.DeployResult{Services: ka.app.ServiceNames(), Edges: len(ka.app.Edges())}, nil
}

// loadJobName is a DNS-1123 name unique to the experiment and the work.
func loadJobName(id string, parts ...string) string {
	return jobLabel("load", append([]string{id}, parts...)...)
}

// jobLabel joins kind and parts into a DNS-1123 label, hashing when too
// long.
func jobLabel(kind string, parts ...string) string {
	s := strings.ToLower(kind + "-" + strings.Join(slices.DeleteFunc(slices.Clone(parts), func(p string) bool { return p == "" }), "-"))
	s = strings.Map(func(r rune) rune {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r == '-' {
			return r
		}
		return '-'
	}, s)
	if len(s) > 63 {
		sum := sha256.Sum256([]byte(s))
		s = s[:46] + "-" + hex.EncodeToString(sum[:])[:16]
	}
	return strings.Trim(s, "-")
}

// warmUpK8s runs the training scenario's load for the warm-up and then
// waits until the metrics pipeline and the service graph answer: every
// service has a resource sample and the entry services see traffic.
func (a *Activities) warmUpK8s(ctx context.Context, in api.WarmUpInput) (api.WarmUpResult, error) {
	spec := &in.Spec
	d := spec.Spec.WarmUp.Duration.Std()
	if d <= 0 {
		logger(ctx).Info("no warm-up configured")
		return api.WarmUpResult{}, nil
	}
	ka, err := a.connect(ctx, spec)
	if err != nil {
		return api.WarmUpResult{}, err
	}
	ld := a.startLoad(ctx, spec, in.ExperimentID, warmUpScenario(spec), d, "warmup")
	defer ld.stop()
	period := spec.Spec.Cluster.StepPeriod.Std()
	start := time.Now()
	steps := 0
	var last *k8s.Observation
	var why string
	// Observe while the load runs; warm means the last observation before
	// its end had everything.
	for time.Since(start) < d {
		if err := sleepCtx(ctx, min(period, d-time.Since(start))); err != nil {
			return api.WarmUpResult{}, fmt.Errorf("warm up %s: %w", in.ExperimentID, err)
		}
		if err := ld.failed(); err != nil {
			return api.WarmUpResult{}, fmt.Errorf("warm up %s: %w", in.ExperimentID, err)
		}
		steps++
		o, err := ka.cluster.Observe(ctx)
		if err != nil {
			why = err.Error()
		} else {
			last, why = o, notWarm(o, spec.Spec.Cluster.K8s.Linkerd != string(k8s.LinkerdDisabled))
		}
		heartbeat(ctx, map[string]any{"steps": steps, "waiting": why})
	}
	if why != "" {
		return api.WarmUpResult{}, fmt.Errorf("warm up %s: after %s of load the metrics are not all there: %s", in.ExperimentID, d, why)
	}
	if _, err := ld.wait(ctx); err != nil {
		return api.WarmUpResult{}, fmt.Errorf("warm up %s: %w", in.ExperimentID, err)
	}
	logger(ctx).Info("warm-up done", "steps", steps, "rps", last.RPS, "p95Ms", last.LatencyP95Ms)
	return api.WarmUpResult{Steps: steps, LatencyP95Ms: finite(last.LatencyP95Ms)}, nil
}

// notWarm says what an observation still lacks, or "". Traffic is seen
// through the Linkerd proxies: without them it is not waited for.
func notWarm(o *k8s.Observation, traffic bool) string {
	var missing []string
	for _, s := range o.Services {
		if s.MetricPods == 0 {
			missing = append(missing, s.Name)
		}
	}
	switch {
	case len(missing) > 0:
		return "no resource metrics yet for " + strings.Join(missing, ", ")
	case traffic && o.RPS == 0:
		return "no traffic seen at the entry services yet (Prometheus has no Linkerd proxy metrics for them)"
	}
	return ""
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// heartbeatEnv heartbeats after every step: on a real cluster a step lasts
// the step period, and a rollout (the trainer's own progress callback)
// lasts far longer than any heartbeat timeout.
type heartbeatEnv struct {
	envs.Env
	ctx   context.Context
	steps int
	// loadEnded, when set, says whether the load the agent trains under
	// has ended: training on without it would learn an idle app.
	loadEnded func() error
}

// Reset waits for every service to be back at its minimum replicas, which
// on a cluster may take minutes: it heartbeats meanwhile.
func (h *heartbeatEnv) Reset(seed uint64) (envs.Observation, error) {
	done := make(chan struct{})
	defer close(done)
	go func() {
		t := time.NewTicker(10 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				heartbeat(h.ctx, map[string]any{"envSteps": h.steps, "waiting": "reset to minimum replicas"})
			}
		}
	}()
	return h.Env.Reset(seed)
}

func (h *heartbeatEnv) Step(act envs.Action) (envs.StepResult, error) {
	if h.loadEnded != nil {
		if err := h.loadEnded(); err != nil {
			return envs.StepResult{}, err
		}
	}
	r, err := h.Env.Step(act)
	h.steps++
	heartbeat(h.ctx, map[string]any{"envSteps": h.steps})
	return r, err
}

// k8sTrainingEnv is the training environment on the cluster.
func (a *Activities) k8sTrainingEnv(ctx context.Context, spec *api.ExperimentSpec, ka *kubeApp, ctrl api.Controller) (*heartbeatEnv, error) {
	space := controllerSpace(spec, ctrl)
	reward, err := trainingReward(spec, ka.app, ctrl)
	if err != nil {
		return nil, err
	}
	base, err := baseHPA(spec, ka.app, space)
	if err != nil {
		return nil, err
	}
	env, err := k8s.NewEnv(k8s.EnvOptions{
		Cluster: ka.cluster, Reward: reward, EpisodeSteps: spec.Spec.Agent.EpisodeSteps,
		StepPeriod: spec.Spec.Cluster.StepPeriod.Std(), Action: space, BaseHPA: base,
	})
	if err != nil {
		return nil, invalidSpec("k8s environment: %w", err)
	}
	return &heartbeatEnv{Env: env.Bind(ctx), ctx: ctx}, nil
}

// chunkScenario is the scenario a training chunk on a cluster runs: one
// real load at a time, so the chunks follow the training mix in
// proportion to its weights (chunk k runs the scenario whose share of
// the cumulative weight covers the point k·φ mod 1 of the low-discrepancy
// golden-ratio sequence, so any run of chunks is spread evenly).
func chunkScenario(spec *api.ExperimentSpec, chunk int) string {
	mix := spec.Spec.Load.TrainingMix()
	var total float64
	for _, ws := range mix {
		total += ws.Weight
	}
	const phi = 0.6180339887498949
	u := math.Mod(float64(chunk)*phi, 1) * total
	for _, ws := range mix {
		if u < ws.Weight {
			return ws.Name
		}
		u -= ws.Weight
	}
	return mix[len(mix)-1].Name
}

// chunkEnv returns a training chunk's environment and a function that
// starts the load the chunk trains under and returns the function that
// stops it: on the twin the load is the twin's own, on a cluster it is a
// Locust job that outlasts the chunk (its steps, the resets between
// episodes) and is stopped when the chunk ends.
func (a *Activities) chunkEnv(ctx context.Context, in api.TrainChunkInput) (envs.Env, func() (func(), error), error) {
	spec := &in.Spec
	ctrl := agentController(spec, in.Agent)
	if spec.Spec.Cluster.Mode != api.ModeK8s {
		env, err := trainingEnv(spec, ctrl)
		if err != nil {
			return nil, nil, err
		}
		return env, func() (func(), error) { return func() {}, nil }, nil
	}
	ka, err := a.connect(ctx, spec)
	if err != nil {
		return nil, nil, err
	}
	env, err := a.k8sTrainingEnv(ctx, spec, ka, ctrl)
	if err != nil {
		return nil, nil, err
	}
	start := func() (func(), error) {
		d := 2*time.Duration(in.Steps)*spec.Spec.Cluster.StepPeriod.Std() + 5*time.Minute
		ld := a.startLoad(ctx, spec, in.ExperimentID, chunkScenario(spec, in.Chunk), d, "train", in.Agent, strconv.Itoa(in.Chunk))
		env.loadEnded = ld.ended
		return ld.stop, nil
	}
	return env, start, nil
}
