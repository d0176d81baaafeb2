package api

import "slices"

// The experiment document's header values.
const (
	APIVersion     = "grlscaler.io/v1alpha1"
	ExperimentKind = "Experiment"
)

// ExperimentSpec is an experiment.yaml document and the input of
// ExperimentWorkflow, so the run's history records the exact configuration.
// experiment.Parse fills in every default, so a spec in history is complete:
// the worker never applies defaults of its own. The defaults quoted below
// are the ones experiment.Parse applies.
//
// It must survive encoding/json unchanged (Temporal's payload converter):
// durations are Duration strings, there are no interface values, and empty
// maps and slices are nil.
type ExperimentSpec struct {
	// APIVersion is APIVersion.
	APIVersion string `json:"apiVersion"`
	// Kind is ExperimentKind.
	Kind     string   `json:"kind"`
	Metadata Metadata `json:"metadata"`
	Spec     Spec     `json:"spec"`
}

// Metadata names the experiment.
type Metadata struct {
	// Name is a DNS-1123 label (lowercase letters, digits and '-', at most
	// 63 characters); the workflow ID and the object-store keys derive from
	// it. Required.
	Name string `json:"name"`
	// Labels are Kubernetes-style labels, copied to reports.
	Labels map[string]string `json:"labels,omitempty"`
}

// Spec is what to run.
type Spec struct {
	// App is "onlineboutique", "redis" or "synthetic-N" (a generated app
	// with N >= 2 services; sim mode only). Required.
	App        string     `json:"app"`
	Cluster    Cluster    `json:"cluster"`
	WarmUp     WarmUp     `json:"warmUp"`
	Agent      Agent      `json:"agent"`
	Load       Load       `json:"load"`
	Evaluation Evaluation `json:"evaluation"`
	Storage    Storage    `json:"storage"`
	Execution  Execution  `json:"execution"`
	// Matrix, when set, makes the document a sweep (SweepWorkflow).
	Matrix *Matrix `json:"matrix,omitempty"`
}

// Execution tunes how the pipeline runs on Temporal.
type Execution struct {
	// HeartbeatTimeout is how long a long-running activity (deploy,
	// warm-up, a training chunk, an evaluation run) may go without a
	// heartbeat before Temporal declares its worker lost and retries it on
	// another; default 2m, in [5s, 1h]. Shorter notices a crashed worker
	// sooner; it must stay well above the time between heartbeats (one
	// rollout of nSteps steps while training).
	HeartbeatTimeout Duration `json:"heartbeatTimeout"`
	// StageRunner runs every stage: StageRunnerInProcess (the default),
	// StageRunnerSubprocess (`grlctl stage` as a child of the worker) or
	// StageRunnerKubernetes (a Job).
	StageRunner string `json:"stageRunner,omitempty"`
	// StageRunners overrides StageRunner per stage (keys: the Stage*
	// names, e.g. "train-chunk").
	StageRunners map[string]string `json:"stageRunners,omitempty"`
	// Jobs shape the Kubernetes Jobs of the kubernetes runner.
	Jobs *StageJobs `json:"jobs,omitempty"`
}

// StageJobs are the scheduling settings of stage Jobs. The image, the
// namespace, the service account and the store's Secret are the worker's
// (grlctl worker --stage-*), not the experiment's.
type StageJobs struct {
	// CPU and Memory are the container's requests and limits, as
	// Kubernetes quantities ("2", "500m", "4Gi"); empty leaves them unset.
	CPU    string `json:"cpu,omitempty"`
	Memory string `json:"memory,omitempty"`
	// NodeSelector and Tolerations place the Jobs' pods.
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`
	Tolerations  []Toleration      `json:"tolerations,omitempty"`
}

// Toleration is a pod toleration.
type Toleration struct {
	Key      string `json:"key,omitempty"`
	Operator string `json:"operator,omitempty"`
	Value    string `json:"value,omitempty"`
	Effect   string `json:"effect,omitempty"`
}

// Stage runners.
const (
	StageRunnerInProcess  = "inprocess"
	StageRunnerSubprocess = "subprocess"
	StageRunnerKubernetes = "kubernetes"
)

// Stage names, as `grlctl stage NAME` and execution.stageRunners know them.
const (
	StageNameDeploy      = "deploy"
	StageNameWarmUp      = "warm-up"
	StageNameTrainChunk  = "train-chunk"
	StageNameEvaluateRun = "evaluate-run"
	StageNameReport      = "report"
	// StageNameLoad is a Locust run: the other stages on a cluster run it
	// beside their own work (its runner's "kubernetes" is a Job of the
	// Locust image, see LoadInput).
	StageNameLoad = "load"
)

// StageNames lists every stage that can run outside the worker.
var StageNames = append(slices.Clone(CountedStageNames), StageNameLoad)

// CountedStageNames are the stages the workflows schedule, in the order
// StageRunCounts.ByStage counts them (load runs inside them).
var CountedStageNames = []string{StageNameDeploy, StageNameWarmUp, StageNameTrainChunk, StageNameEvaluateRun, StageNameReport}

// RunnerFor returns the runner of stage: its override, else StageRunner,
// else in-process.
func (e Execution) RunnerFor(stage string) string {
	if r := e.StageRunners[stage]; r != "" {
		return r
	}
	if e.StageRunner != "" {
		return e.StageRunner
	}
	return StageRunnerInProcess
}

// Mode selects the environment backend.
type Mode string

// The environment backends.
const (
	// ModeSim is the digital twin (the default).
	ModeSim Mode = "sim"
	// ModeReplay is gym-hpa's dataset-driven simulated mode.
	ModeReplay Mode = "replay"
	// ModeK8s is a real cluster.
	ModeK8s Mode = "k8s"
)

// Cluster is where the app runs.
type Cluster struct {
	// Mode is sim (default), replay or k8s.
	Mode Mode `json:"mode"`
	// Replay configures replay mode; required there.
	Replay *Replay `json:"replay,omitempty"`
	// K8s configures k8s mode; required there.
	K8s *K8s `json:"k8s,omitempty"`
	// StepPeriod is the (simulated or real) time per environment step;
	// default 15s, one HPA sync period.
	StepPeriod Duration `json:"stepPeriod"`
}

// Replay configures replay mode.
type Replay struct {
	// Dataset is the path of a gym-hpa observation CSV. Required.
	Dataset string `json:"dataset"`
}

// K8s says how to reach a real cluster. It holds no secret, only names: a
// token is read from the environment variable TokenEnv names.
type K8s struct {
	// Kubeconfig is a kubeconfig path; empty means the client's default
	// loading rules ($KUBECONFIG, ~/.kube/config).
	Kubeconfig string `json:"kubeconfig,omitempty"`
	// Context is the kubeconfig context; empty means the current one.
	Context string `json:"context,omitempty"`
	// InCluster uses the pod's service account (the worker runs in the
	// cluster); it excludes Kubeconfig, Context and TokenEnv.
	InCluster bool `json:"inCluster,omitempty"`
	// TokenEnv and APIHostEnv name the environment variables that hold a
	// bearer token and the API server URL; set both or neither.
	TokenEnv   string `json:"tokenEnv,omitempty"`
	APIHostEnv string `json:"apiHostEnv,omitempty"`
	// Namespace is the app's namespace, a DNS-1123 label. Required.
	Namespace string `json:"namespace"`
	// PrometheusURL is the Prometheus HTTP API base URL. Required.
	PrometheusURL string `json:"prometheusURL"`
	// LinkerdVizURL is the Linkerd viz dashboard's JSON edges endpoint;
	// default http://web.linkerd-viz.svc.cluster.local:8084/api/edges (the
	// metrics API at :8085 speaks only protobuf to the dashboard, see
	// envs/k8s.DefaultVizURL).
	LinkerdVizURL string `json:"linkerdVizURL"`
	// Linkerd is the proxy injection: inject (default; Linkerd must be
	// installed, its proxy metrics give traffic, latency and the graph) or
	// disabled (no sidecars; latency and the graph are then unobserved
	// unless something else serves the same Prometheus series).
	Linkerd string `json:"linkerd,omitempty"`
	// Resources is where per-pod CPU and memory come from: metrics-server
	// (default; what the HPA reads) or prometheus (cAdvisor series).
	Resources string `json:"resources,omitempty"`
	// HPAReadyTimeout bounds the wait for an HPA baseline to be live
	// (metrics known, ScalingActive=True) before a run is measured;
	// default 3m.
	HPAReadyTimeout Duration `json:"hpaReadyTimeout,omitempty"`
}

// WarmUp is the load run before training, until metrics and the service
// graph are available.
type WarmUp struct {
	// Duration is the warm-up length; default 2m, 0 skips the warm-up.
	Duration Duration `json:"duration"`
}

// Agent is the reinforcement-learning agent to train.
type Agent struct {
	// Algorithm is ppo (default) or a2c.
	Algorithm string `json:"algorithm"`
	// Policy is mlp, gcn (default) or gat.
	Policy string `json:"policy"`
	// Head is joint (default) or per-node; per-node needs gcn or gat.
	Head string `json:"head"`
	// Goal is the reward: cost, latency or slo (default).
	Goal string `json:"goal"`
	// SLO is the p95 latency objective of the slo goal; default 500ms.
	SLO Duration `json:"slo"`
	// TotalSteps is the number of environment steps to train; a multiple of
	// Hyperparameters.NSteps. Required.
	TotalSteps int `json:"totalSteps"`
	// ChunkSteps is the steps per TrainChunk activity (one checkpoint each):
	// a multiple of Hyperparameters.NSteps, at most TotalSteps. Default:
	// whole rollouts making about 10 chunks.
	ChunkSteps int `json:"chunkSteps"`
	// EpisodeSteps is the episode length; default the evaluation run's
	// (load.duration / cluster.stepPeriod), so that training episodes are
	// as long as the runs the agent is scored on (gym-hpa used 25).
	EpisodeSteps int `json:"episodeSteps"`
	// Seed seeds training and evaluation; default 42.
	Seed uint64 `json:"seed"`
	// Action is the action space (envs.ActionSpace): seed (the seed's
	// [deployment, move]), factored (every service moves every step;
	// the default) or hpa-residual (every service sets its HPA's target).
	Action string `json:"action"`
	// BaseHPA is the hpa-residual space's HPA, a preset such as cpu-50
	// (the default); hpa-residual only.
	BaseHPA string `json:"baseHPA,omitempty"`
	// Credit is how the reward is credited to a factored action's
	// per-service choices: per-service (the default in the factored
	// spaces; each service is credited with its own replicas' cost and
	// the shared SLO terms, the slo goal only) or shared (the whole reward
	// to every choice; the only one in the seed space).
	Credit string `json:"credit,omitempty"`
	// CostWeight weighs the replicas against SLO violations in the slo
	// goal (envs.RewardConfig.CostWeight); default 1.
	CostWeight float64 `json:"costWeight"`
	// RandomStarts is the fraction of training episodes, in [0, 1], that
	// start at a random point of their scenario with random replicas per
	// service; the others start as evaluation runs do (time zero, minimum
	// replicas). Default 0.5.
	RandomStarts float64 `json:"randomStarts"`
	// Validation evaluates the policy greedily during training and keeps
	// the best one for the evaluation.
	Validation AgentValidation `json:"validation"`
	// Hyperparameters default to the algorithm's (model.DefaultHyperparameters
	// or model.DefaultA2CHyperparameters); fields given override them.
	Hyperparameters Hyperparameters `json:"hyperparameters"`
}

// AgentValidation is the periodic greedy evaluation during training that
// keeps the best policy, as Stable-Baselines3's EvalCallback does: runs
// exactly like the evaluation's, on every evaluation scenario, with the
// validation seeds (the HPA's choice uses the same seeds, never the test
// seeds), scored by their mean total reward.
type AgentValidation struct {
	// Every is the number of training steps between evaluations, a
	// multiple of hyperparameters.nSteps; 0 turns it off and the final
	// policy is evaluated. Default: a twentieth of totalSteps in whole
	// rollouts (sim mode), 0 in k8s mode.
	Every int `json:"every"`
	// Seeds is the number of validation seeds per scenario; default
	// evaluation.validationSeeds.
	Seeds int `json:"seeds"`
}

// Hyperparameters mirror model.Hyperparameters without the algorithm and
// the total steps, which Agent holds. See model.Hyperparameters for what
// each field does.
type Hyperparameters struct {
	LearningRate       float64 `json:"learningRate"`
	NSteps             int     `json:"nSteps"`
	BatchSize          int     `json:"batchSize"`
	Epochs             int     `json:"epochs"`
	Gamma              float64 `json:"gamma"`
	Lambda             float64 `json:"lambda"`
	ClipRange          float64 `json:"clipRange"`
	ClipRangeVF        float64 `json:"clipRangeVF"`
	EntCoef            float64 `json:"entCoef"`
	VFCoef             float64 `json:"vfCoef"`
	MaxGradNorm        float64 `json:"maxGradNorm"`
	AdamEpsilon        float64 `json:"adamEpsilon"`
	NormalizeAdvantage bool    `json:"normalizeAdvantage"`
	LinearSchedule     bool    `json:"linearSchedule"`
	// NormalizeObservations and NormalizeRewards are VecNormalize's
	// normalisation (model.Hyperparameters); default on.
	NormalizeObservations bool `json:"normalizeObservations"`
	NormalizeRewards      bool `json:"normalizeRewards"`
}

// Runner selects what generates load.
type Runner string

// The load runners.
const (
	// RunnerSim is the twin's arrival process (sim and replay modes).
	RunnerSim Runner = "sim"
	// RunnerLocust is real Locust against a real cluster (k8s mode).
	RunnerLocust Runner = "locust"
)

// Load is the load during training and evaluation.
type Load struct {
	// TrainingScenario is the one-scenario shorthand of TrainingScenarios.
	TrainingScenario string `json:"trainingScenario"`
	// TrainingScenarios is the weighted mix of scenarios that training
	// episodes draw from (on a cluster, each training chunk runs one, in
	// proportion to the weights); default: the evaluation scenarios,
	// equally weighted.
	TrainingScenarios []WeightedScenario `json:"trainingScenarios,omitempty"`
	// EvaluationScenarios are the scenarios every controller is evaluated
	// on, without repeats; default offpeak, peak, rushsale, fluctuating.
	EvaluationScenarios []string `json:"evaluationScenarios"`
	// Duration is the length of one evaluation run; default 15m (the seed's
	// scenario length).
	Duration Duration `json:"duration"`
	// Runner is sim (default in sim and replay modes) or locust (default and
	// required in k8s mode).
	Runner Runner `json:"runner"`
	// Locust says where Locust runs (locust runner only).
	Locust *Locust `json:"locust,omitempty"`
}

// WeightedScenario is one scenario of a training mix.
type WeightedScenario struct {
	// Name is a scenario of the app.
	Name string `json:"name"`
	// Weight is the scenario's share of the episodes relative to the
	// others'; positive, default 1.
	Weight float64 `json:"weight"`
}

// TrainingMix returns the training scenarios: TrainingScenarios, or
// TrainingScenario alone (specs recorded before mixes existed).
func (l Load) TrainingMix() []WeightedScenario {
	if len(l.TrainingScenarios) > 0 {
		return l.TrainingScenarios
	}
	if l.TrainingScenario != "" {
		return []WeightedScenario{{Name: l.TrainingScenario, Weight: 1}}
	}
	return nil
}

// Where Locust runs.
const (
	// LocustLocal runs locust --headless as a child of the worker.
	LocustLocal = "local"
	// LocustKubernetes runs it as a Job in the app's namespace.
	LocustKubernetes = "kubernetes"
	// LocustRemote asks the load agent that the worker's M1_HOST names
	// (grlctl agent on another machine).
	LocustRemote = "remote"
)

// Locust configures the locust load runner.
type Locust struct {
	// Runner is local, kubernetes (default) or remote.
	Runner string `json:"runner"`
	// Host is the target as Locust's --host; default the app's entry
	// service in its namespace (http://frontend.NS.svc.cluster.local:80 for
	// Online Boutique, redis://redis-leader.NS.svc.cluster.local:6379 for
	// Redis).
	Host string `json:"host"`
}

// ControllerType is what scales the app during an evaluation run.
type ControllerType string

// The controller types.
const (
	// ControllerAgent is a trained agent.
	ControllerAgent ControllerType = "agent"
	// ControllerHPA is the Kubernetes HPA with a preset configuration.
	ControllerHPA ControllerType = "hpa"
	// ControllerStatic keeps a fixed number of replicas per service.
	ControllerStatic ControllerType = "static"
)

// Controller is one contestant of the evaluation.
type Controller struct {
	// Name is unique among the controllers, a DNS-1123 label.
	Name string         `json:"name"`
	Type ControllerType `json:"type"`
	// Policy and Head (agent only) default to the agent's; an agent
	// controller with another policy is a baseline trained with the same
	// settings. Head defaults to joint for an mlp baseline.
	Policy string `json:"policy,omitempty"`
	Head   string `json:"head,omitempty"`
	// Action (agent only) defaults to the agent's action space: another
	// space trains a second agent with the same settings in it. Its
	// credit is the agent's when the space allows it, else shared.
	Action string `json:"action,omitempty"`
	// CostWeight (agent only) is the slo goal's cost weight this agent
	// trains (and is validated) with; default the agent's. Agents with
	// several weights are a portfolio of trade-offs, as HPA targets are;
	// evaluation scores every controller with the agent's.
	CostWeight *float64 `json:"costWeight,omitempty"`
	// HPA is a preset name such as cpu-50 or cpu-60-mem-80 (hpa only).
	HPA string `json:"hpa,omitempty"`
	// MinReplicas and MaxReplicas bound the HPA (hpa only); default 1 and 8.
	MinReplicas int `json:"minReplicas,omitempty"`
	MaxReplicas int `json:"maxReplicas,omitempty"`
	// Replicas is the fixed replica count per service (static only).
	Replicas int `json:"replicas,omitempty"`
}

// Evaluation compares controllers.
type Evaluation struct {
	// Controllers default to the trained agent ("agent") and the HPA at 50 %
	// CPU ("hpa-cpu-50").
	Controllers []Controller `json:"controllers"`
	// Repetitions is the number of seeds per controller x scenario;
	// default 5.
	Repetitions int `json:"repetitions"`
	// ValidationSeeds are separate seeds used to pick the best HPA
	// configuration, so the pick is not made on the evaluation seeds;
	// default 3.
	ValidationSeeds int `json:"validationSeeds"`
	// SLO is the p95 objective of the SLO violation rate; default the
	// agent's SLO.
	SLO Duration `json:"slo"`
}

// Storage is where checkpoints, time series and reports go.
type Storage struct {
	// Bucket is an S3 bucket name; default grlscaler.
	Bucket string `json:"bucket"`
	// Prefix is the key prefix, without leading or trailing '/'; objects go
	// under <prefix>/<experiment>/. Default experiments.
	Prefix string `json:"prefix"`
}
