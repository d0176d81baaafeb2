package activities

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/grlscaler/grlscaler/envs"
	"github.com/grlscaler/grlscaler/envs/app"
	"github.com/grlscaler/grlscaler/envs/hpa"
	"github.com/grlscaler/grlscaler/envs/sim"
	"github.com/grlscaler/grlscaler/experiment"
	"github.com/grlscaler/grlscaler/infra/objstore"
	"github.com/grlscaler/grlscaler/model"
	"github.com/grlscaler/grlscaler/workflows/api"
)

// Activities holds the dependencies of every activity. Register one
// instance with the worker.
type Activities struct {
	// Store holds specs, checkpoints, time series and reports.
	Store objstore.Store
	// Logger is optional; stages log through logger(ctx).
	Logger *slog.Logger
	// StageCommand runs a stage in a child process: the command and its
	// leading arguments, to which the runner appends NAME --input KEY
	// --output KEY --s3-bucket BUCKET (for example [grlctl, stage]).
	StageCommand []string
	// StageEnv is added to the child's environment (the store's settings
	// when the worker got them otherwise than from the environment).
	StageEnv []string
	// Jobs runs stages as Kubernetes Jobs (the kubernetes runner); nil on
	// a worker that does not.
	Jobs *JobRunner
	// InStage is set in `grlctl stage`: stages then run here, whatever
	// runner the spec names.
	InStage bool
	// Kube connects to an experiment's cluster (k8s mode); nil means
	// envs/k8s.Connect with the spec's connection settings.
	Kube KubeConnector
	// LoadRunners returns the Locust runner of an experiment (k8s mode);
	// nil means the runner load.locust.runner names.
	LoadRunners LoadRunnerFor
}

// Registrar is what Register needs of a worker.
type Registrar interface {
	RegisterActivityWithOptions(interface{}, activity.RegisterOptions)
}

// Register registers every activity under its api name.
func (a *Activities) Register(r Registrar) {
	r.RegisterActivityWithOptions(a.DeployApp, activity.RegisterOptions{Name: api.DeployAppActivityName})
	r.RegisterActivityWithOptions(a.WarmUp, activity.RegisterOptions{Name: api.WarmUpActivityName})
	r.RegisterActivityWithOptions(a.TrainChunk, activity.RegisterOptions{Name: api.TrainChunkActivityName})
	r.RegisterActivityWithOptions(a.EvaluateRun, activity.RegisterOptions{Name: api.EvaluateRunActivityName})
	r.RegisterActivityWithOptions(a.WriteReport, activity.RegisterOptions{Name: api.WriteReportActivityName})
	r.RegisterActivityWithOptions(a.Cleanup, activity.RegisterOptions{Name: api.CleanupActivityName})
	r.RegisterActivityWithOptions(a.WriteManifest, activity.RegisterOptions{Name: api.WriteManifestActivityName})
	r.RegisterActivityWithOptions(a.WriteDrift, activity.RegisterOptions{Name: api.WriteDriftActivityName})
	r.RegisterActivityWithOptions(a.WriteSweepReport, activity.RegisterOptions{Name: api.WriteSweepReportActivityName})
}

// heartbeatEvery is how many simulated steps pass between heartbeats of a
// run.
const heartbeatEvery = 20

func invalidSpec(format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	return temporal.NewNonRetryableApplicationError(err.Error(), api.ErrTypeInvalidSpec, err)
}

func corruptObject(err error) error {
	return temporal.NewNonRetryableApplicationError(err.Error(), api.ErrTypeCorruptObject, err)
}

func corruptCheckpoint(err error) error {
	return temporal.NewNonRetryableApplicationError(err.Error(), api.ErrTypeCorruptCheckpoint, err)
}

// experimentKey joins the storage prefix, the experiment ID and rest.
func experimentKey(spec *api.ExperimentSpec, id string, rest ...string) string {
	return api.ExperimentKey(spec.Spec.Storage.Prefix, id, rest...)
}

// ErrTypeNotImplemented marks a cluster mode the activities do not drive
// (replay) or a runner this worker was not started with. It is not
// retryable.
const ErrTypeNotImplemented = "NotImplemented"

func validate(spec *api.ExperimentSpec) error {
	if err := experiment.Validate(spec); err != nil {
		return temporal.NewNonRetryableApplicationError("invalid experiment spec: "+err.Error(), api.ErrTypeInvalidSpec, err)
	}
	return nil
}

func lookupApp(spec *api.ExperimentSpec) (*app.App, error) {
	ap, err := sim.LookupApp(spec.Spec.App, spec.Spec.Agent.Seed)
	if err != nil {
		return nil, invalidSpec("app: %w", err)
	}
	return ap, nil
}

// simOptions builds the twin options for a scenario.
func simOptions(spec *api.ExperimentSpec, scenario string) (sim.Options, error) {
	ap, err := lookupApp(spec)
	if err != nil {
		return sim.Options{}, err
	}
	sc, err := sim.ScenarioFor(ap, scenario)
	if err != nil {
		return sim.Options{}, invalidSpec("scenario %q: %w", scenario, err)
	}
	return sim.Options{App: ap, Scenario: sc, StepPeriod: spec.Spec.Cluster.StepPeriod.Std()}, nil
}

// rewardConfig is the reward of the spec's goal; evaluation scores every
// controller with it too.
func rewardConfig(spec *api.ExperimentSpec, a *app.App) (envs.RewardConfig, error) {
	ag := spec.Spec.Agent
	if ag.Goal == "" {
		return envs.RewardConfig{}, nil
	}
	g, err := envs.ParseGoal(ag.Goal)
	if err != nil {
		return envs.RewardConfig{}, invalidSpec("agent goal: %w", err)
	}
	reward := envs.DefaultRewardConfig(g, a.LatencyCapMs)
	if ag.SLO > 0 {
		reward.SLO = ag.SLO.Std()
	}
	// Specs recorded before agent.action existed had no cost weight and
	// trained with the default.
	if ag.Action != "" {
		reward.CostWeight = ag.CostWeight
	}
	return reward, nil
}

// trainingReward is the reward an agent controller trains and is
// validated with: the spec's, with the controller's own cost weight.
func trainingReward(spec *api.ExperimentSpec, a *app.App, ctrl api.Controller) (envs.RewardConfig, error) {
	reward, err := rewardConfig(spec, a)
	if err != nil {
		return reward, err
	}
	if ctrl.CostWeight != nil && spec.Spec.Agent.Action != "" {
		reward.CostWeight = *ctrl.CostWeight
	}
	return reward, nil
}

// actionSpace is the spec agent's action space; specs recorded before
// agent.action existed trained in the seed's.
func actionSpace(spec *api.ExperimentSpec) envs.ActionSpace {
	if spec.Spec.Agent.Action == "" {
		return envs.ActionSeed
	}
	return envs.ActionSpace(spec.Spec.Agent.Action)
}

// controllerSpace is an agent controller's action space: its own, else
// the agent's.
func controllerSpace(spec *api.ExperimentSpec, ctrl api.Controller) envs.ActionSpace {
	if ctrl.Action != "" {
		return envs.ActionSpace(ctrl.Action)
	}
	return actionSpace(spec)
}

// perServiceCredit reports whether an agent in space is trained with
// per-service credit: the spec asks for it and the space allows it.
func perServiceCredit(spec *api.ExperimentSpec, space envs.ActionSpace) bool {
	return spec.Spec.Agent.Credit == experiment.CreditPerService && space.Factored() && spec.Spec.Agent.Goal == string(envs.GoalSLO)
}

// baseHPA is the hpa-residual space's HPA configuration over an app's
// replica bounds (the zero Config for the other spaces).
func baseHPA(spec *api.ExperimentSpec, a *app.App, space envs.ActionSpace) (hpa.Config, error) {
	name := spec.Spec.Agent.BaseHPA
	if space != envs.ActionHPAResidual {
		return hpa.Config{}, nil
	}
	lo, hi := a.Services[0].MinReplicas, a.Services[0].MaxReplicas
	for _, s := range a.Services {
		lo, hi = min(lo, s.MinReplicas), max(hi, s.MaxReplicas)
	}
	cfg, err := hpa.ParsePreset(name, int32(max(lo, 1)), int32(hi))
	if err != nil {
		return hpa.Config{}, invalidSpec("agent baseHPA: %w", err)
	}
	for _, s := range a.Services {
		if s.MaxReplicas != hi {
			if cfg.MaxReplicasPerService == nil {
				cfg.MaxReplicasPerService = map[string]int32{}
			}
			cfg.MaxReplicasPerService[s.Name] = int32(s.MaxReplicas)
		}
	}
	return cfg, nil
}

// actuator is the actuator of an action space for an app.
func actuator(spec *api.ExperimentSpec, a *app.App, space envs.ActionSpace, minR, maxR []int) (envs.Actuator, error) {
	base, err := baseHPA(spec, a, space)
	if err != nil {
		return nil, err
	}
	act, err := hpa.NewActuator(space, base, minR, maxR)
	if err != nil {
		return nil, invalidSpec("agent action: %w", err)
	}
	return act, nil
}

// trainingEnv builds the training environment of an agent controller:
// the twin under the training mix, in the controller's action space.
func trainingEnv(spec *api.ExperimentSpec, ctrl api.Controller) (*sim.Env, error) {
	space := controllerSpace(spec, ctrl)
	mix := spec.Spec.Load.TrainingMix()
	if len(mix) == 0 {
		return nil, invalidSpec("load: no training scenario")
	}
	opts, err := simOptions(spec, mix[0].Name)
	if err != nil {
		return nil, err
	}
	var scenarios []sim.WeightedScenario
	for _, ws := range mix {
		sc, err := sim.ScenarioFor(opts.App, ws.Name)
		if err != nil {
			return nil, invalidSpec("training scenario %q: %w", ws.Name, err)
		}
		scenarios = append(scenarios, sim.WeightedScenario{Scenario: sc, Weight: ws.Weight})
	}
	ag := spec.Spec.Agent
	reward, err := trainingReward(spec, opts.App, ctrl)
	if err != nil {
		return nil, err
	}
	base, err := baseHPA(spec, opts.App, space)
	if err != nil {
		return nil, err
	}
	env, err := sim.NewEnv(sim.EnvOptions{
		Options: opts, Scenarios: scenarios, Reward: reward, EpisodeSteps: ag.EpisodeSteps,
		Action: space, BaseHPA: base, RandomStarts: ag.RandomStarts,
	})
	if err != nil {
		return nil, invalidSpec("build environment: %w", err)
	}
	return env, nil
}

// deployApp builds the twin and its training environment (sim mode) and
// records the spec in the store.
func (a *Activities) deployApp(ctx context.Context, in api.DeployInput) (api.DeployResult, error) {
	log := logger(ctx)
	spec := &in.Spec
	if err := validate(spec); err != nil {
		return api.DeployResult{}, err
	}
	if err := checkMode(spec); err != nil {
		return api.DeployResult{}, err
	}
	var res api.DeployResult
	if spec.Spec.Cluster.Mode == api.ModeK8s {
		r, err := a.deployK8s(ctx, spec)
		if err != nil {
			return api.DeployResult{}, err
		}
		res = r
	} else {
		env, err := trainingEnv(spec, agentController(spec, "agent"))
		if err != nil {
			return api.DeployResult{}, err
		}
		ap := env.Cluster().App()
		res = api.DeployResult{Services: ap.ServiceNames(), Edges: len(ap.Edges())}
		log.Info("deployed sim app", "app", ap.Name, "services", len(res.Services), "edges", res.Edges)
	}
	data, err := api.Canonical(spec)
	if err != nil {
		return api.DeployResult{}, invalidSpec("deploy %s: %w", in.ExperimentID, err)
	}
	key := experimentKey(spec, in.ExperimentID, api.SpecObject)
	store, err := a.storeFor(ctx, spec)
	if err != nil {
		return api.DeployResult{}, fmt.Errorf("deploy %s: %w", in.ExperimentID, err)
	}
	if old, info, err := objstore.GetVerified(ctx, store, key, ""); err == nil && bytes.Equal(old, data) {
		log.Info("spec already stored", "key", key)
		res.Spec = api.ObjectRef{Key: key, SHA256: info.SHA256, Size: int64(len(data))}
		return res, nil
	}
	info, err := objstore.PutVerified(ctx, store, key, data)
	if err != nil {
		return api.DeployResult{}, fmt.Errorf("deploy %s: store spec: %w", in.ExperimentID, err)
	}
	res.Spec = api.ObjectRef{Key: key, SHA256: info.SHA256, Size: int64(len(data))}
	return res, nil
}

// warmUp runs the training scenario on the twin at minimum replicas for the
// warm-up duration.
func (a *Activities) warmUp(ctx context.Context, in api.WarmUpInput) (api.WarmUpResult, error) {
	log := logger(ctx)
	spec := &in.Spec
	if err := checkMode(spec); err != nil {
		return api.WarmUpResult{}, err
	}
	if spec.Spec.Cluster.Mode == api.ModeK8s {
		return a.warmUpK8s(ctx, in)
	}
	opts, err := simOptions(spec, warmUpScenario(spec))
	if err != nil {
		return api.WarmUpResult{}, err
	}
	d := spec.Spec.WarmUp.Duration.Std()
	if d <= 0 {
		log.Info("no warm-up configured")
		return api.WarmUpResult{}, nil
	}
	step := opts.StepPeriod
	if step == 0 {
		step = 15 * time.Second
	}
	d = max(d, step)
	c, err := sim.NewCluster(opts)
	if err != nil {
		return api.WarmUpResult{}, invalidSpec("warm up %s: build twin: %w", in.ExperimentID, err)
	}
	minR := make([]int, len(opts.App.Services))
	for i, s := range opts.App.Services {
		minR[i] = max(s.MinReplicas, 1)
	}
	steps := 0
	var runErr error
	res, err := sim.Run(c, &envs.StaticController{Replicas: minR}, sim.RunOptions{
		Seed: spec.Spec.Agent.Seed, Duration: d, SLO: spec.Spec.Evaluation.SLO.Std(),
		Record: func(*sim.Snapshot) {
			steps++
			if steps%heartbeatEvery == 0 {
				heartbeat(ctx, map[string]any{"steps": steps})
				if runErr == nil {
					runErr = ctx.Err()
				}
			}
		},
	})
	if err != nil {
		return api.WarmUpResult{}, fmt.Errorf("warm up %s: %w", in.ExperimentID, err)
	}
	if runErr != nil {
		return api.WarmUpResult{}, fmt.Errorf("warm up %s: %w", in.ExperimentID, runErr)
	}
	log.Info("warm-up done", "steps", steps, "p95Ms", res.LatencyP95Ms)
	return api.WarmUpResult{Steps: steps, LatencyP95Ms: finite(res.LatencyP95Ms)}, nil
}

// warmUpScenario is the load of the warm-up: the training mix's heaviest
// scenario (the first of equals).
func warmUpScenario(spec *api.ExperimentSpec) string {
	name, w := "", 0.0
	for _, ws := range spec.Spec.Load.TrainingMix() {
		if ws.Weight > w {
			name, w = ws.Name, ws.Weight
		}
	}
	return name
}

// finite maps NaN and infinities to 0, which JSON can encode.
func finite(x float64) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0
	}
	return x
}

// agentController returns the evaluation controller named name, or a
// controller with the spec agent's policy and head.
func agentController(spec *api.ExperimentSpec, name string) api.Controller {
	c := api.Controller{Name: name, Type: api.ControllerAgent, Policy: spec.Spec.Agent.Policy, Head: spec.Spec.Agent.Head, Action: spec.Spec.Agent.Action}
	for _, ec := range spec.Spec.Evaluation.Controllers {
		if ec.Name == name && ec.Type == api.ControllerAgent {
			if ec.Policy != "" {
				c.Policy = ec.Policy
			}
			if ec.Head != "" {
				c.Head = ec.Head
			}
			if ec.Action != "" {
				c.Action = ec.Action
			}
			c.CostWeight = ec.CostWeight
		}
	}
	return c
}

// CheckpointKey is where TrainChunk stores the checkpoint of agent at step.
func CheckpointKey(spec *api.ExperimentSpec, id, agent string, step int64) string {
	return experimentKey(spec, id, "checkpoints", agent, strconv.FormatInt(step, 10)+".ckpt")
}

// trainChunk trains one chunk of one agent, from scratch or from in.From,
// and stores the resulting checkpoint. A retry whose checkpoint already
// exists returns it without training.
func (a *Activities) trainChunk(ctx context.Context, in api.TrainChunkInput) (api.TrainChunkResult, error) {
	log := logger(ctx)
	spec := &in.Spec
	if err := checkMode(spec); err != nil {
		return api.TrainChunkResult{}, err
	}
	if in.Agent == "" {
		return api.TrainChunkResult{}, invalidSpec("train chunk %d: agent name is empty", in.Chunk)
	}
	if in.Steps < 1 {
		return api.TrainChunkResult{}, invalidSpec("train chunk %d of %s: steps %d must be positive", in.Chunk, in.Agent, in.Steps)
	}
	env, startLoad, err := a.chunkEnv(ctx, in)
	if err != nil {
		return api.TrainChunkResult{}, err
	}
	store, err := a.storeFor(ctx, spec)
	if err != nil {
		return api.TrainChunkResult{}, fmt.Errorf("train chunk %d of %s: %w", in.Chunk, in.Agent, err)
	}
	var tr *model.Trainer
	if in.From == nil {
		ctrl := agentController(spec, in.Agent)
		tr, err = model.NewTrainer(env, model.Options{
			Policy: model.PolicyKind(ctrl.Policy), Head: model.HeadKind(ctrl.Head),
			Hyper: experiment.Hyperparameters(spec.Spec.Agent), Seed: spec.Spec.Agent.Seed,
			ServiceValues: perServiceCredit(spec, controllerSpace(spec, ctrl)),
		})
		if err != nil {
			return api.TrainChunkResult{}, invalidSpec("train chunk %d of %s: new trainer: %w", in.Chunk, in.Agent, err)
		}
	} else {
		data, _, err := objstore.GetVerified(ctx, store, in.From.Key, in.From.SHA256)
		switch {
		case errors.Is(err, objstore.ErrCorrupt):
			return api.TrainChunkResult{}, corruptCheckpoint(fmt.Errorf("train chunk %d of %s: %w", in.Chunk, in.Agent, err))
		case err != nil:
			return api.TrainChunkResult{}, fmt.Errorf("train chunk %d of %s: read checkpoint: %w", in.Chunk, in.Agent, err)
		}
		tr, err = model.Load(bytes.NewReader(data), env)
		if err != nil {
			return api.TrainChunkResult{}, corruptCheckpoint(fmt.Errorf("train chunk %d of %s: load %s: %w", in.Chunk, in.Agent, in.From.Key, err))
		}
	}
	nSteps := int64(tr.Hyperparameters().NSteps)
	start := tr.Counters().Steps
	want := start + (int64(in.Steps)+nSteps-1)/nSteps*nSteps
	key := CheckpointKey(spec, in.ExperimentID, in.Agent, want)
	origin := chunkOrigin{SpecHash: api.SpecHash(spec), CodeVersion: CodeVersion()}
	if in.From != nil {
		origin.FromSHA256 = in.From.SHA256
	}
	if res, ok := reusableChunk(ctx, store, key, origin); ok {
		log.Info("checkpoint of this chunk already stored by an earlier attempt; reusing it", "key", key)
		return res, nil
	}
	if every := spec.Spec.Agent.Validation.Every; every > 0 {
		eval, err := validationEvaluator(spec, agentController(spec, in.Agent))
		if err != nil {
			return api.TrainChunkResult{}, err
		}
		if err := tr.SetEvaluator(every, eval); err != nil {
			return api.TrainChunkResult{}, invalidSpec("train chunk %d of %s: %w", in.Chunk, in.Agent, err)
		}
	}
	stopLoad, err := startLoad()
	if err != nil {
		return api.TrainChunkResult{}, fmt.Errorf("train chunk %d of %s: %w", in.Chunk, in.Agent, err)
	}
	report, stopHeartbeats := keepAlive(ctx, spec.Spec.Execution.HeartbeatTimeout.Std()/3, map[string]any{"steps": start})
	rep, err := tr.Train(ctx, in.Steps, func(p model.Progress) {
		// After the last rollout the result follows at once; a heartbeat
		// there only delays it (the first heartbeat is synchronous).
		if p.Steps < want {
			report(map[string]any{"steps": p.Steps, "reward": finite(p.MeanEpisodeReward), "best": finite(p.BestScore)})
		}
	})
	stopHeartbeats()
	stopLoad()
	if err != nil {
		return api.TrainChunkResult{}, fmt.Errorf("train chunk %d of %s: %w", in.Chunk, in.Agent, err)
	}
	step := tr.Counters().Steps
	if step != want {
		key = CheckpointKey(spec, in.ExperimentID, in.Agent, step)
	}
	var buf bytes.Buffer
	if err := tr.Save(&buf); err != nil {
		return api.TrainChunkResult{}, fmt.Errorf("train chunk %d of %s: save: %w", in.Chunk, in.Agent, err)
	}
	sum := sha256.Sum256(buf.Bytes())
	res := api.TrainChunkResult{
		Checkpoint:        api.CheckpointRef{Key: key, SHA256: hex.EncodeToString(sum[:]), Size: int64(buf.Len()), Step: step},
		MeanEpisodeReward: finite(rep.MeanEpisodeReward),
		PolicyLoss:        finite(rep.PolicyLoss),
		ValueLoss:         finite(rep.ValueLoss),
		Entropy:           finite(rep.Entropy),
		ValidationScore:   finite(rep.EvalScore),
		BestScore:         finite(rep.BestScore),
		BestStep:          rep.BestStep,
	}
	// The record goes first and the checkpoint last: a stored checkpoint is
	// the chunk's commit, and a retry that finds it also finds its record.
	if err := writeChunkRecord(ctx, store, key, chunkRecord{chunkOrigin: origin, Result: res}); err != nil {
		return api.TrainChunkResult{}, fmt.Errorf("train chunk %d of %s: %w", in.Chunk, in.Agent, err)
	}
	if _, err := objstore.PutVerified(ctx, store, key, buf.Bytes()); err != nil {
		return api.TrainChunkResult{}, fmt.Errorf("train chunk %d of %s: store %s: %w", in.Chunk, in.Agent, key, err)
	}
	log.Info("trained chunk", "agent", in.Agent, "chunk", in.Chunk, "step", step, "key", key)
	return res, nil
}

// chunkMetricsKey is the record beside a checkpoint: <step>.ckpt ->
// <step>.metrics.json.
func chunkMetricsKey(checkpointKey string) string {
	return strings.TrimSuffix(checkpointKey, ".ckpt") + ".metrics.json"
}

// chunkOrigin is what a chunk's checkpoint was computed from. A stored
// checkpoint is reused only when its origin matches exactly, so that a
// retry reuses its earlier attempt's work but a resubmitted experiment with
// another spec, another starting checkpoint or another build of grlscaler
// trains again.
type chunkOrigin struct {
	SpecHash    string `json:"specHash"`
	CodeVersion string `json:"codeVersion"`
	FromSHA256  string `json:"fromSha256,omitempty"`
}

// chunkRecord is the sidecar: the origin and the chunk's result (whose
// checkpoint SHA-256 is the stored checkpoint's).
type chunkRecord struct {
	chunkOrigin
	Result api.TrainChunkResult `json:"result"`
}

func writeChunkRecord(ctx context.Context, store objstore.Store, checkpointKey string, rec chunkRecord) error {
	data, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode chunk record: %w", err)
	}
	if _, err := objstore.PutVerified(ctx, store, chunkMetricsKey(checkpointKey), data); err != nil {
		return fmt.Errorf("store chunk record: %w", err)
	}
	return nil
}

// reusableChunk returns the stored result of the chunk whose checkpoint
// is key, when both the checkpoint and its record are intact and the
// record's origin is origin.
func reusableChunk(ctx context.Context, store objstore.Store, key string, origin chunkOrigin) (api.TrainChunkResult, bool) {
	data, _, err := objstore.GetVerified(ctx, store, chunkMetricsKey(key), "")
	if err != nil {
		return api.TrainChunkResult{}, false
	}
	var rec chunkRecord
	if err := json.Unmarshal(data, &rec); err != nil || rec.chunkOrigin != origin {
		return api.TrainChunkResult{}, false
	}
	ckpt, info, err := objstore.GetVerified(ctx, store, key, "")
	if err != nil || info.SHA256 != rec.Result.Checkpoint.SHA256 || int64(len(ckpt)) != rec.Result.Checkpoint.Size {
		return api.TrainChunkResult{}, false
	}
	res := rec.Result
	res.Checkpoint.Key = key
	return res, true
}
