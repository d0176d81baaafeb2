package experiment

import (
	"cmp"
	"fmt"
	"time"

	"github.com/grlscaler/grlscaler/envs"
	"github.com/grlscaler/grlscaler/envs/app"
	"github.com/grlscaler/grlscaler/envs/load"
	"github.com/grlscaler/grlscaler/model"
	"github.com/grlscaler/grlscaler/workflows/api"
)

// Defaults, applied by Parse to fields the document leaves out. Each is
// listed in the package documentation.
const (
	DefaultStepPeriod = 15 * time.Second // one HPA sync period (hpa.DefaultSyncPeriod)
	DefaultWarmUp     = 2 * time.Minute
	DefaultAlgorithm  = model.PPO
	DefaultPolicy     = model.GCN
	// DefaultHead is per-node for the graph policies (it measured best,
	// docs/learning.md) and joint for the flat ones, which have no nodes.
	DefaultHead = model.PerNodeHead
	DefaultGoal = envs.GoalSLO
	DefaultSeed = 42 // the seed's orchestrators' --seed (seed-spec 3.7)
	// DefaultAction is the action space that measured best
	// (docs/learning.md).
	DefaultAction = envs.ActionFactored
	// CreditShared and CreditPerService are agent.credit's values.
	CreditShared     = "shared"
	CreditPerService = "per-service"
	// DefaultBaseHPA is the hpa-residual space's base HPA.
	DefaultBaseHPA = "cpu-50"
	// DefaultCostWeight weighs replicas against SLO violations in the
	// slo goal (docs/learning.md).
	DefaultCostWeight = 1.0
	// DefaultRandomStarts is the fraction of training episodes that start
	// at a random state; the others start as evaluation runs do.
	DefaultRandomStarts = 0.5
	// defaultValidations is how many greedy evaluations a training run
	// makes by default (agent.validation.every).
	defaultValidations      = 20
	DefaultLoadDuration     = 15 * time.Minute // the seed's scenario length (seed-spec 4.1)
	DefaultRepetitions      = 5
	DefaultValidationSeeds  = 3
	DefaultBucket           = "grlscaler"
	DefaultPrefix           = "experiments"
	DefaultHeartbeatTimeout = 2 * time.Minute
	DefaultSweepConcurrency = 2
	// DefaultLinkerdVizURL is the Linkerd viz dashboard's JSON edges
	// endpoint inside the cluster (envs/k8s.DefaultVizURL says why not the
	// metrics API's).
	DefaultLinkerdVizURL = "http://web.linkerd-viz.svc.cluster.local:8084/api/edges"
	// DefaultLinkerd injects the Linkerd proxy: its metrics are the
	// traffic, latency and graph the agent observes.
	DefaultLinkerd = "inject"
	// DefaultResources reads CPU and memory from metrics-server, as the
	// HPA does.
	DefaultResources = "metrics-server"
	// DefaultHPAReadyTimeout bounds the wait for a live HPA baseline:
	// metrics-server's first samples of new pods take a minute or two.
	DefaultHPAReadyTimeout = 3 * time.Minute
	// defaultChunks is how many chunks the default chunkSteps aims at: a
	// checkpoint every tenth of training, without a history that grows
	// with every rollout.
	defaultChunks = 10
)

// DefaultSLO is the slo goal's default p95 objective, envs.DefaultRewardConfig's.
const DefaultSLO = 500 * time.Millisecond

// DefaultEvaluationScenarios are the seed's four scenarios (seed-spec 3.7).
func DefaultEvaluationScenarios() []string {
	return []string{"offpeak", "peak", "rushsale", "fluctuating"}
}

// DefaultControllers are the trained agent and the HPA at 50 % CPU with
// gym-hpa's replica bounds.
func DefaultControllers() []api.Controller {
	return []api.Controller{
		{Name: "agent", Type: api.ControllerAgent},
		{Name: "hpa-cpu-50", Type: api.ControllerHPA, HPA: "cpu-50"},
	}
}

// applyDefaults fills in what the document left out. given reports whether
// a field path had a value in the document; string fields are defaulted
// when empty, the others only when absent, so an explicit 0 or false stays.
func applyDefaults(s *api.ExperimentSpec, given func(string) bool, quiet map[string]bool, getenv func(string) string) {
	sp := &s.Spec
	c := &sp.Cluster
	if c.Mode == "" {
		c.Mode = api.ModeSim
	}
	if !given("spec.cluster.stepPeriod") {
		c.StepPeriod = api.Duration(DefaultStepPeriod)
	}
	if k := c.K8s; k != nil {
		if k.PrometheusURL == "" {
			k.PrometheusURL = getenv(EnvPrometheusURL)
		}
		if k.LinkerdVizURL == "" {
			k.LinkerdVizURL = cmp.Or(getenv(EnvLinkerdVizURL), DefaultLinkerdVizURL)
		}
		if k.Linkerd == "" {
			k.Linkerd = DefaultLinkerd
		}
		if k.Resources == "" {
			k.Resources = DefaultResources
		}
		if k.HPAReadyTimeout == 0 {
			k.HPAReadyTimeout = api.Duration(DefaultHPAReadyTimeout)
		}
	}
	if !given("spec.warmUp.duration") {
		sp.WarmUp.Duration = api.Duration(DefaultWarmUp)
	}

	a := &sp.Agent
	if a.Algorithm == "" {
		a.Algorithm = string(DefaultAlgorithm)
	}
	if a.Policy == "" {
		a.Policy = string(DefaultPolicy)
	}
	if a.Head == "" {
		a.Head = string(DefaultHead)
		if a.Policy == string(model.MLP) || a.Policy == string(model.MLPLSTM) {
			a.Head = string(model.JointHead)
		}
	}
	if a.Goal == "" {
		a.Goal = string(DefaultGoal)
	}
	if !given("spec.agent.slo") {
		a.SLO = api.Duration(DefaultSLO)
	}
	if !given("spec.agent.seed") {
		a.Seed = DefaultSeed
	}
	if a.Action == "" {
		a.Action = string(DefaultAction)
	}
	residual := a.Action == string(envs.ActionHPAResidual)
	for _, c := range sp.Evaluation.Controllers {
		residual = residual || (c.Type == api.ControllerAgent && c.Action == string(envs.ActionHPAResidual))
	}
	if a.BaseHPA == "" && residual {
		a.BaseHPA = DefaultBaseHPA
	}
	if a.Credit == "" {
		a.Credit = CreditShared
		if envs.ActionSpace(a.Action).Factored() && a.Goal == string(envs.GoalSLO) {
			a.Credit = CreditPerService
		}
	}
	if !given("spec.agent.costWeight") {
		a.CostWeight = DefaultCostWeight
	}
	if !given("spec.agent.randomStarts") {
		a.RandomStarts = DefaultRandomStarts
	}
	defaultHyperparameters(&a.Hyperparameters, model.Algorithm(a.Algorithm), func(f string) bool {
		return given("spec.agent.hyperparameters." + f)
	})
	if !given("spec.agent.chunkSteps") {
		n, total := a.Hyperparameters.NSteps, a.TotalSteps
		if n >= 1 && total >= n && total <= maxTotalSteps && n <= maxNSteps {
			rollouts := total / n
			a.ChunkSteps = max(1, (rollouts+defaultChunks-1)/defaultChunks) * n
		} else {
			// No sensible default; the errors about nSteps or totalSteps
			// say why.
			quiet["spec.agent.chunkSteps"] = true
		}
	}

	l := &sp.Load
	if !given("spec.load.evaluationScenarios") {
		l.EvaluationScenarios = DefaultEvaluationScenarios()
	}
	switch {
	case len(l.TrainingScenarios) > 0:
		for i := range l.TrainingScenarios {
			if !given(fmt.Sprintf("spec.load.trainingScenarios[%d].weight", i)) {
				l.TrainingScenarios[i].Weight = 1
			}
		}
		if len(l.TrainingScenarios) == 1 && l.TrainingScenario == "" {
			l.TrainingScenario = l.TrainingScenarios[0].Name
		}
	case l.TrainingScenario != "":
		l.TrainingScenarios = []api.WeightedScenario{{Name: l.TrainingScenario, Weight: 1}}
	default:
		for _, name := range l.EvaluationScenarios {
			l.TrainingScenarios = append(l.TrainingScenarios, api.WeightedScenario{Name: name, Weight: 1})
		}
	}
	if !given("spec.load.duration") {
		l.Duration = api.Duration(DefaultLoadDuration)
	}
	if !given("spec.agent.episodeSteps") && c.StepPeriod > 0 {
		// As long as an evaluation run (rounded down to whole steps, at
		// least one).
		a.EpisodeSteps = max(1, int(l.Duration.Std()/c.StepPeriod.Std()))
	}
	if l.Runner == "" {
		l.Runner = api.RunnerSim
		if c.Mode == api.ModeK8s {
			l.Runner = api.RunnerLocust
		}
	}
	if l.Runner == api.RunnerLocust {
		if l.Locust == nil {
			l.Locust = &api.Locust{}
		}
		if l.Locust.Runner == "" {
			l.Locust.Runner = api.LocustKubernetes
		}
		if l.Locust.Host == "" && c.K8s != nil {
			l.Locust.Host = DefaultLocustHost(sp.App, c.K8s.Namespace)
		}
	}

	e := &sp.Evaluation
	if !given("spec.evaluation.controllers") {
		e.Controllers = DefaultControllers()
	}
	for i := range e.Controllers {
		defaultController(&e.Controllers[i], a)
	}
	if !given("spec.evaluation.repetitions") {
		e.Repetitions = DefaultRepetitions
	}
	if !given("spec.evaluation.validationSeeds") {
		e.ValidationSeeds = DefaultValidationSeeds
	}
	if !given("spec.evaluation.slo") {
		e.SLO = a.SLO
	}
	if !given("spec.agent.validation.seeds") {
		a.Validation.Seeds = e.ValidationSeeds
	}
	if !given("spec.agent.validation.every") && c.Mode != api.ModeK8s {
		n, total := a.Hyperparameters.NSteps, a.TotalSteps
		if n >= 1 && total >= n && total <= maxTotalSteps && n <= maxNSteps {
			rollouts := total / n
			a.Validation.Every = max(1, (rollouts+defaultValidations-1)/defaultValidations) * n
		} else {
			quiet["spec.agent.validation.every"] = true
		}
	}

	if sp.Storage.Bucket == "" {
		sp.Storage.Bucket = DefaultBucket
	}
	if sp.Storage.Prefix == "" {
		sp.Storage.Prefix = DefaultPrefix
	}
	if sp.Matrix != nil && !given("spec.matrix.concurrency") {
		sp.Matrix.Concurrency = DefaultSweepConcurrency
	}
	if sp.Execution.StageRunner == "" {
		sp.Execution.StageRunner = api.StageRunnerInProcess
	}
	if !given("spec.execution.heartbeatTimeout") {
		sp.Execution.HeartbeatTimeout = api.Duration(DefaultHeartbeatTimeout)
	}
}

// defaultController fills in an agent controller's policy and head from the
// agent, and an HPA's replica bounds. Fields of other types stay empty, so
// that validation can tell the user set them.
func defaultController(c *api.Controller, a *api.Agent) {
	switch c.Type {
	case api.ControllerAgent:
		if c.Policy == "" {
			c.Policy = a.Policy
		}
		if c.Head == "" {
			c.Head = a.Head
			if c.Policy == string(model.MLP) || c.Policy == string(model.MLPLSTM) {
				c.Head = string(model.JointHead)
			}
		}
		if c.Action == "" {
			c.Action = a.Action
		}
		if c.CostWeight == nil {
			w := a.CostWeight
			c.CostWeight = &w
		}
	case api.ControllerHPA:
		if c.MinReplicas == 0 {
			c.MinReplicas = app.DefaultMinReplicas
		}
		if c.MaxReplicas == 0 {
			c.MaxReplicas = app.DefaultMaxReplicas
		}
	}
}

// defaultHyperparameters fills the fields not given from the algorithm's
// defaults (an unknown algorithm takes PPO's; validation reports it).
func defaultHyperparameters(h *api.Hyperparameters, alg model.Algorithm, given func(string) bool) {
	d := model.DefaultHyperparameters()
	if alg == model.A2C {
		d = model.DefaultA2CHyperparameters()
	}
	set := func(field string, dst *float64, v float64) {
		if !given(field) {
			*dst = v
		}
	}
	setInt := func(field string, dst *int, v int) {
		if !given(field) {
			*dst = v
		}
	}
	setBool := func(field string, dst *bool, v bool) {
		if !given(field) {
			*dst = v
		}
	}
	set("learningRate", &h.LearningRate, d.LearningRate)
	setInt("nSteps", &h.NSteps, d.NSteps)
	setInt("batchSize", &h.BatchSize, d.BatchSize)
	setInt("epochs", &h.Epochs, d.Epochs)
	set("gamma", &h.Gamma, d.Gamma)
	set("lambda", &h.Lambda, d.Lambda)
	set("clipRange", &h.ClipRange, d.ClipRange)
	set("clipRangeVF", &h.ClipRangeVF, d.ClipRangeVF)
	set("entCoef", &h.EntCoef, d.EntCoef)
	set("vfCoef", &h.VFCoef, d.VFCoef)
	set("maxGradNorm", &h.MaxGradNorm, d.MaxGradNorm)
	set("adamEpsilon", &h.AdamEpsilon, d.AdamEpsilon)
	setBool("normalizeAdvantage", &h.NormalizeAdvantage, d.NormalizeAdvantage)
	setBool("linearSchedule", &h.LinearSchedule, d.LinearSchedule)
	setBool("normalizeObservations", &h.NormalizeObservations, d.NormalizeObservations)
	setBool("normalizeRewards", &h.NormalizeRewards, d.NormalizeRewards)
}

// Hyperparameters returns the model's hyperparameters for an agent: the
// spec's fields plus the algorithm and the total steps, which the spec
// keeps on the agent.
func Hyperparameters(a api.Agent) model.Hyperparameters {
	h := a.Hyperparameters
	return model.Hyperparameters{
		Algorithm:          model.Algorithm(a.Algorithm),
		LearningRate:       h.LearningRate,
		LinearSchedule:     h.LinearSchedule,
		TotalSteps:         a.TotalSteps,
		NSteps:             h.NSteps,
		BatchSize:          h.BatchSize,
		Epochs:             h.Epochs,
		Gamma:              h.Gamma,
		Lambda:             h.Lambda,
		ClipRange:          h.ClipRange,
		ClipRangeVF:        h.ClipRangeVF,
		EntCoef:            h.EntCoef,
		VFCoef:             h.VFCoef,
		MaxGradNorm:        h.MaxGradNorm,
		NormalizeAdvantage: h.NormalizeAdvantage,
		AdamEpsilon:        h.AdamEpsilon,

		NormalizeObservations: h.NormalizeObservations,
		NormalizeRewards:      h.NormalizeRewards,
	}
}

// scenarioApp returns the app whose scenarios an app uses: synthetic apps
// run Online Boutique's user curves (envs/sim SyntheticScenario).
func scenarioApp(name string) string {
	if _, ok := syntheticServices(name); ok {
		return load.OnlineBoutique
	}
	return name
}

// DefaultLocustHost is the Locust target of app deployed in namespace ns:
// its entry Service's cluster DNS name.
func DefaultLocustHost(app, ns string) string {
	switch app {
	case "redis":
		return "redis://redis-leader." + ns + ".svc.cluster.local:6379"
	default:
		return "http://frontend." + ns + ".svc.cluster.local:80"
	}
}
