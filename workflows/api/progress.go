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
