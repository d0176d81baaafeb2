// Package api is the contract between grlctl, the workflows and the worker:
// task-queue names, the names under which workflows, activities and queries
// are registered, the experiment document (ExperimentSpec) that is every
// experiment's workflow input, and the small values that travel through
// workflow history (Progress, CheckpointRef).
//
// It imports the standard library only, so that the CLI and the
// deterministic workflow code can share it without pulling in Kubernetes,
// S3 or model code. Parsing and validating an experiment.yaml lives in
// package experiment; this package only describes the data.
package api

// Task queues. Training runs on its own queue so that workers with spare
// CPU can take training chunks while a small worker orchestrates.
const (
	// TaskQueue serves the workflows and every activity but TrainChunk.
	TaskQueue = "grlscaler"
	// TrainTaskQueue serves TrainChunk activities.
	TrainTaskQueue = "grlscaler-train"
)

// Workflow names, as registered with the worker and started by grlctl.
const (
	// ExperimentWorkflowName runs one experiment end to end; its input is an
	// ExperimentSpec.
	ExperimentWorkflowName = "ExperimentWorkflow"
	// TrainWorkflowName trains the agent, one TrainChunk activity per chunk.
	TrainWorkflowName = "TrainWorkflow"
	// EvaluateWorkflowName runs every controller x scenario x repetition.
	EvaluateWorkflowName = "EvaluateWorkflow"
	// SweepWorkflowName runs one ExperimentWorkflow per combination of a
	// spec's matrix; its input is the ExperimentSpec.
	SweepWorkflowName = "SweepWorkflow"
)

// Activity names. Workflows call activities by these names and the worker
// registers them under the same names.
const (
	DeployAppActivityName   = "DeployApp"
	WarmUpActivityName      = "WarmUp"
	TrainChunkActivityName  = "TrainChunk"
	EvaluateRunActivityName = "EvaluateRun"
	WriteReportActivityName = "WriteReport"
	CleanupActivityName     = "Cleanup"
	// WriteManifestActivityName writes manifest.json, the experiment's
	// last object: the index of everything it stored, with checksums.
	WriteManifestActivityName = "WriteManifest"
	// WriteDriftActivityName compares a run with the previous completed
	// run of the same spec hash.
	WriteDriftActivityName = "WriteDrift"
	// WriteSweepReportActivityName aggregates a sweep's experiments.
	WriteSweepReportActivityName = "WriteSweepReport"
)

// ProgressQueryName is the query that returns an experiment's Progress.
const ProgressQueryName = "progress"

// Application error types (temporal.ApplicationError.Type()). Errors of
// these types are not retryable: retrying cannot fix the input.
const (
	// ErrTypeInvalidSpec marks an ExperimentSpec that fails validation.
	ErrTypeInvalidSpec = "InvalidSpec"
	// ErrTypeCorruptCheckpoint marks a checkpoint whose size, checksum or
	// layout does not match its CheckpointRef or the experiment.
	ErrTypeCorruptCheckpoint = "CorruptCheckpoint"
	// ErrTypeCorruptObject marks a stored object whose checksum differs
	// from the one its writer returned.
	ErrTypeCorruptObject = "CorruptObject"
)
