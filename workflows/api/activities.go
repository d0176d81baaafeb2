package api

// Activity inputs and results. Every input carries the experiment ID and the
// validated spec (which holds no secrets); results carry object keys,
// checksums and small summaries, never tensors or time series.

// Key layout in the store, under Storage.Prefix:
//
//	<prefix>/<experimentID>/spec.json
//	<prefix>/<experimentID>/manifest.json
//	<prefix>/<experimentID>/checkpoints/<agent>/<step>.ckpt
//	<prefix>/<experimentID>/evals/<controller>/<scenario>/<repetition>.csv
//	<prefix>/<experimentID>/reports/report.{json,md}
//	<prefix>/<experimentID>/checkpoints/<agent>/<step>.metrics.json
//	<prefix>/<experimentID>/logs/<workflowID>/<activity>-<activityID>-attempt<N>.log

// DeployInput is the input of DeployApp (sim: build and check the twin;
// k8s: apply the manifests).
type DeployInput struct {
	ExperimentID string         `json:"experimentId"`
	Spec         ExperimentSpec `json:"spec"`
}

// DeployResult describes the deployed app.
type DeployResult struct {
	Services []string `json:"services"`
	Edges    int      `json:"edges"`
	// Spec is where the deployed spec is stored, with its checksum.
	Spec ObjectRef `json:"spec"`
	StageCache
}

// ObjectRef names a stored object and its SHA-256.
type ObjectRef struct {
	Key    string `json:"key"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// WarmUpInput is the input of WarmUp.
type WarmUpInput struct {
	ExperimentID string         `json:"experimentId"`
	Spec         ExperimentSpec `json:"spec"`
}

// WarmUpResult reports what the warm-up observed.
type WarmUpResult struct {
	Steps        int     `json:"steps"`
	LatencyP95Ms float64 `json:"latencyP95Ms"`
	StageCache
}

// TrainChunkInput is one chunk of training for one agent.
type TrainChunkInput struct {
	ExperimentID string         `json:"experimentId"`
	Spec         ExperimentSpec `json:"spec"`
	// Agent is the evaluation controller name of the agent being trained
	// (its Policy and Head override the spec's agent section).
	Agent string `json:"agent"`
	// Chunk is this chunk's index, from 0; Steps the environment steps it
	// trains.
	Chunk int `json:"chunk"`
	Steps int `json:"steps"`
	// From is the checkpoint to continue from; nil for the first chunk.
	From *CheckpointRef `json:"from,omitempty"`
}

// TrainChunkResult is the chunk's checkpoint and a metrics summary.
type TrainChunkResult struct {
	Checkpoint        CheckpointRef `json:"checkpoint"`
	MeanEpisodeReward float64       `json:"meanEpisodeReward"`
	PolicyLoss        float64       `json:"policyLoss"`
	ValueLoss         float64       `json:"valueLoss"`
	Entropy           float64       `json:"entropy"`
	// ValidationScore is the last greedy validation's mean total reward in
	// the chunk, BestScore and BestStep the best validation so far and the
	// step of its policy (omitted without validation).
	ValidationScore float64 `json:"validationScore,omitempty"`
	BestScore       float64 `json:"bestScore,omitempty"`
	BestStep        int64   `json:"bestStep,omitempty"`
	StageCache
}

// TrainWorkflowInput trains one agent from Next chunk on; continue-as-new
// carries the state forward.
type TrainWorkflowInput struct {
	ExperimentID string         `json:"experimentId"`
	Spec         ExperimentSpec `json:"spec"`
	Agent        string         `json:"agent"`
	// NextChunk is the chunk to run next and Latest its starting checkpoint.
	NextChunk int            `json:"nextChunk"`
	Latest    *CheckpointRef `json:"latest,omitempty"`
	// History is the per-chunk summary so far (small: a few numbers per chunk).
	History []TrainChunkResult `json:"history,omitempty"`
}

// TrainWorkflowResult is the final checkpoint and the training curve.
type TrainWorkflowResult struct {
	Agent   string             `json:"agent"`
	Final   CheckpointRef      `json:"final"`
	History []TrainChunkResult `json:"history"`
}

// EvaluateRunInput is one controller x scenario x repetition run.
type EvaluateRunInput struct {
	ExperimentID string         `json:"experimentId"`
	Spec         ExperimentSpec `json:"spec"`
	Controller   Controller     `json:"controller"`
	Scenario     string         `json:"scenario"`
	Repetition   int            `json:"repetition"`
	// Split is SplitTest or SplitValidation (runs that only choose the best
	// HPA configuration); empty means test.
	Split string `json:"split,omitempty"`
	// Seed drives the run's load and sampling; the same seed is used for
	// every controller, so comparisons are paired.
	Seed uint64 `json:"seed"`
	// Checkpoint is the trained agent's final checkpoint (agent controllers).
	Checkpoint *CheckpointRef `json:"checkpoint,omitempty"`
}

// RunMetrics summarise one evaluation run.
type RunMetrics struct {
	CostReplicaSeconds float64 `json:"costReplicaSeconds"`
	// CostCPUCoreSeconds is the CPU requested by the replicas, in
	// core-seconds.
	CostCPUCoreSeconds float64 `json:"costCpuCoreSeconds"`
	SLOViolationRate   float64 `json:"sloViolationRate"`
	LatencyMeanMs      float64 `json:"latencyMeanMs"`
	LatencyP50Ms       float64 `json:"latencyP50Ms"`
	LatencyP95Ms       float64 `json:"latencyP95Ms"`
	LatencyP99Ms       float64 `json:"latencyP99Ms"`
	ErrorRate          float64 `json:"errorRate"`
	ScalingActions     int     `json:"scalingActions"`
	// RecoveryTimeS is the mean time, over the scenario's load increases,
	// until p95 latency is back within the SLO for three steps in a row
	// (0 when it never left it; censored at the next increase or the end).
	RecoveryTimeS float64 `json:"recoveryTimeS"`
	// TotalReward is the sum over steps of the spec goal's reward, the
	// same function for every controller.
	TotalReward  float64 `json:"totalReward"`
	ReplicasMean float64 `json:"replicasMean"`
	ReplicasMax  int     `json:"replicasMax"`
}

// Run splits.
const (
	SplitTest       = "test"
	SplitValidation = "validation"
)

// EvaluateRunResult points at the run's time series and summarises it.
type EvaluateRunResult struct {
	Controller string `json:"controller"`
	Scenario   string `json:"scenario"`
	Repetition int    `json:"repetition"`
	Split      string `json:"split,omitempty"`
	Seed       uint64 `json:"seed"`
	// Valid is false when the run cannot count as a result, with the
	// reason: an HPA that never scaled while its metric was above target,
	// or whose metrics were missing.
	Valid         bool       `json:"valid"`
	InvalidReason string     `json:"invalidReason,omitempty"`
	SeriesKey     string     `json:"seriesKey"`
	SHA256        string     `json:"sha256"`
	Metrics       RunMetrics `json:"metrics"`
	StageCache
}

// EvaluateWorkflowInput is the evaluation matrix.
type EvaluateWorkflowInput struct {
	ExperimentID string         `json:"experimentId"`
	Spec         ExperimentSpec `json:"spec"`
	// Checkpoints maps agent controller names to their final checkpoints.
	Checkpoints map[string]CheckpointRef `json:"checkpoints"`
}

// EvaluateWorkflowResult lists every run.
type EvaluateWorkflowResult struct {
	Runs []EvaluateRunResult `json:"runs"`
}

// ReportInput is what the report aggregates.
type ReportInput struct {
	ExperimentID string                `json:"experimentId"`
	Spec         ExperimentSpec        `json:"spec"`
	Training     []TrainWorkflowResult `json:"training"`
	Runs         []EvaluateRunResult   `json:"runs"`
}

// ReportResult points at the report and carries its one-paragraph summary.
type ReportResult struct {
	JSONKey        string `json:"jsonKey"`
	JSONSHA256     string `json:"jsonSha256,omitempty"`
	MarkdownKey    string `json:"markdownKey"`
	MarkdownSHA256 string `json:"markdownSha256,omitempty"`
	Summary        string `json:"summary"`
	StageCache
}

// CleanupInput is the input of Cleanup.
type CleanupInput struct {
	ExperimentID string         `json:"experimentId"`
	Spec         ExperimentSpec `json:"spec"`
}

// Experiment outcomes recorded in the manifest.
const (
	OutcomeCompleted = "completed"
	OutcomeFailed    = "failed"
	OutcomeCanceled  = "canceled"
)

// ManifestInput is everything the workflow knows the experiment stored.
// On failure or cancellation it holds what was produced before.
type ManifestInput struct {
	ExperimentID string         `json:"experimentId"`
	Spec         ExperimentSpec `json:"spec"`
	// Outcome is OutcomeCompleted, OutcomeFailed or OutcomeCanceled, and
	// Error the failure's message.
	Outcome    string                `json:"outcome"`
	Error      string                `json:"error,omitempty"`
	SpecObject *ObjectRef            `json:"specObject,omitempty"`
	Training   []TrainWorkflowResult `json:"training,omitempty"`
	Runs       []EvaluateRunResult   `json:"runs,omitempty"`
	Report     *ReportResult         `json:"report,omitempty"`
}

// Experiment implements the same method as DeployInput's.
func (in ManifestInput) Experiment() (string, *ExperimentSpec) { return in.ExperimentID, &in.Spec }

// DriftInput is what WriteDrift compares with the previous completed run
// of the same spec hash.
type DriftInput struct {
	ExperimentID string                `json:"experimentId"`
	Spec         ExperimentSpec        `json:"spec"`
	Training     []TrainWorkflowResult `json:"training,omitempty"`
	Report       ReportResult          `json:"report"`
}

// Experiment implements the same method as DeployInput's.
func (in DriftInput) Experiment() (string, *ExperimentSpec) { return in.ExperimentID, &in.Spec }

// DriftResult points at the drift report. Previous is empty when no
// earlier completed run of the spec hash exists.
type DriftResult struct {
	Key      string `json:"key"`
	Previous string `json:"previous,omitempty"`
	// Identical is true when the checkpoints and every run's metrics equal
	// the previous run's, bit for bit.
	Identical bool   `json:"identical"`
	Summary   string `json:"summary"`
}

// ExperimentResult is ExperimentWorkflow's result.
type ExperimentResult struct {
	ExperimentID string       `json:"experimentId"`
	SpecHash     string       `json:"specHash"`
	Report       ReportResult `json:"report"`
	// Manifest is the manifest's key and checksum.
	Manifest ObjectRef `json:"manifest"`
	// Drift compares the run with the previous completed run of the same
	// spec hash.
	Drift *DriftResult `json:"drift,omitempty"`
}

// Experiment returns the experiment an activity input belongs to; the
// worker files each activity's log under that experiment in the store.
func (in DeployInput) Experiment() (string, *ExperimentSpec) { return in.ExperimentID, &in.Spec }

// Experiment implements the same method as DeployInput's.
func (in WarmUpInput) Experiment() (string, *ExperimentSpec) { return in.ExperimentID, &in.Spec }

// Experiment implements the same method as DeployInput's.
func (in TrainChunkInput) Experiment() (string, *ExperimentSpec) { return in.ExperimentID, &in.Spec }

// Experiment implements the same method as DeployInput's.
func (in EvaluateRunInput) Experiment() (string, *ExperimentSpec) { return in.ExperimentID, &in.Spec }

// Experiment implements the same method as DeployInput's.
func (in ReportInput) Experiment() (string, *ExperimentSpec) { return in.ExperimentID, &in.Spec }

// Experiment implements the same method as DeployInput's.
func (in CleanupInput) Experiment() (string, *ExperimentSpec) { return in.ExperimentID, &in.Spec }

// SweepMemberResult is how one experiment of a sweep ended.
type SweepMemberResult struct {
	Name  string       `json:"name"`
	Combo []ComboValue `json:"combo"`
	Group string       `json:"group"`
	// Report is set when the experiment completed; Error when it failed.
	Report *ReportResult `json:"report,omitempty"`
	Error  string        `json:"error,omitempty"`
}

// SweepReportInput is what WriteSweepReport aggregates.
type SweepReportInput struct {
	SweepID string              `json:"sweepId"`
	Spec    ExperimentSpec      `json:"spec"`
	Members []SweepMemberResult `json:"members"`
}

// Experiment implements the same method as DeployInput's.
func (in SweepReportInput) Experiment() (string, *ExperimentSpec) { return in.SweepID, &in.Spec }

// SweepResult is SweepWorkflow's result.
type SweepResult struct {
	SweepID string       `json:"sweepId"`
	Report  ReportResult `json:"report"`
	// Failed names the experiments that failed; the others still ran.
	Failed []string `json:"failed,omitempty"`
}

// LoadInput is one run of the load stage: Locust sending the scenario's
// load to the app for Duration. The stage runs beside the stage that
// needs the load (warm-up, a training chunk, an evaluation run), through
// the runner execution.stageRunners.load names: in the worker's process
// or as `grlctl stage load` in a child process, either of which drives
// Locust through load.locust.runner; or, with the kubernetes runner, as a
// Job whose container is the Locust image itself.
type LoadInput struct {
	ExperimentID string         `json:"experimentId"`
	Spec         ExperimentSpec `json:"spec"`
	// Name is the Locust job's name, a DNS-1123 label: the work's, plus
	// a random suffix, so that a retry gets fresh load, never the
	// finished job of an earlier attempt.
	Name     string   `json:"name"`
	Scenario string   `json:"scenario"`
	Duration Duration `json:"duration"`
}

// Experiment returns the experiment the load belongs to.
func (in LoadInput) Experiment() (string, *ExperimentSpec) { return in.ExperimentID, &in.Spec }

// LoadResult summarises a load run; its full Locust results (series,
// totals, failures, the raw CSV files) are the object ResultsKey.
type LoadResult struct {
	StageCache
	Job        string `json:"job"`
	State      string `json:"state"`
	ResultsKey string `json:"resultsKey,omitempty"`
	SHA256     string `json:"sha256,omitempty"`
	Requests   int64  `json:"requests"`
	Failures   int64  `json:"failures"`
	// RPS is the achieved request rate; latencies are over all requests.
	RPS          float64 `json:"rps"`
	LatencyP50Ms float64 `json:"latencyP50Ms"`
	LatencyP95Ms float64 `json:"latencyP95Ms"`
	LatencyP99Ms float64 `json:"latencyP99Ms"`
}
