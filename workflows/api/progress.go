package api

// Stage is the step of the experiment pipeline that is running.
type Stage string

// The pipeline stages, in order.
const (
	StageDeploy   Stage = "deploy"
	StageWarmUp   Stage = "warmup"
	StageTrain    Stage = "train"
	StageEvaluate Stage = "evaluate"
	StageReport   Stage = "report"
	StageCleanup  Stage = "cleanup"
	StageDone     Stage = "done"
)

// Progress is the answer to the progress query.
type Progress struct {
	Stage Stage `json:"stage"`
	// Chunk is the number of training chunks done, of Chunks.
	Chunk  int `json:"chunk"`
	Chunks int `json:"chunks"`
	// Steps is the number of environment steps trained, of TotalSteps.
	Steps      int64 `json:"steps"`
	TotalSteps int64 `json:"totalSteps"`
	// LatestReward is the mean episode reward of the latest chunk.
	LatestReward float64 `json:"latestReward"`
	// ETA is the estimated time until the experiment finishes; 0 when
	// unknown.
	ETA Duration `json:"eta"`
	// Runs counts the stage runs that have finished, per stage, and how
	// many of them were served from the store instead of run.
	Runs StageRunCounts `json:"runs"`
}

// StageCache is embedded in the result of every stage that can run
// outside the worker (StageNames). The workflows record it in their
// progress and clear it before passing results on, so that no later
// stage's input, and so its cache key, depends on it.
type StageCache struct {
	// Cached is true when the stage did not run because its output for
	// the same input and build was already stored (kept by the subprocess
	// and kubernetes runners, stages/<stage>/<hash>.output.json).
	Cached bool `json:"cached,omitempty"`
}

// MarkCached sets Cached.
func (c *StageCache) MarkCached() { c.Cached = true }

// StageRuns counts the finished runs of one stage: Ran did the work,
// Cached were served from an output already stored.
type StageRuns struct {
	Ran    int `json:"ran"`
	Cached int `json:"cached"`
}

// StageRunCounts counts the finished runs of each stage, keyed in JSON by
// the stage names (CountedStageNames).
type StageRunCounts struct {
	Deploy      StageRuns `json:"deploy"`
	WarmUp      StageRuns `json:"warm-up"`
	TrainChunk  StageRuns `json:"train-chunk"`
	EvaluateRun StageRuns `json:"evaluate-run"`
	Report      StageRuns `json:"report"`
}

// Add counts one finished run of stage (a StageName*); other names are
// ignored.
func (c *StageRunCounts) Add(stage string, cached bool) {
	var r *StageRuns
	switch stage {
	case StageNameDeploy:
		r = &c.Deploy
	case StageNameWarmUp:
		r = &c.WarmUp
	case StageNameTrainChunk:
		r = &c.TrainChunk
	case StageNameEvaluateRun:
		r = &c.EvaluateRun
	case StageNameReport:
		r = &c.Report
	default:
		return
	}
	if cached {
		r.Cached++
	} else {
		r.Ran++
	}
}

// ByStage returns the counts in CountedStageNames order.
func (c StageRunCounts) ByStage() []StageRuns {
	return []StageRuns{c.Deploy, c.WarmUp, c.TrainChunk, c.EvaluateRun, c.Report}
}

// Total sums the counts of every stage.
func (c StageRunCounts) Total() StageRuns {
	var t StageRuns
	for _, r := range c.ByStage() {
		t.Ran += r.Ran
		t.Cached += r.Cached
	}
	return t
}

// CheckpointRef points at a checkpoint in the object store. Only the
// reference travels through workflow history, never the weights.
type CheckpointRef struct {
	// Key is the object key, e.g. experiments/<id>/checkpoints/<step>.ckpt.
	Key string `json:"key"`
	// SHA256 is the hex SHA-256 of the object; a mismatch on load is an
	// ErrTypeCorruptCheckpoint error.
	SHA256 string `json:"sha256"`
	// Size is the object's size in bytes.
	Size int64 `json:"size"`
	// Step is the number of environment steps trained when it was written.
	Step int64 `json:"step"`
}
