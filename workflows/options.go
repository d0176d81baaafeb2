package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/grlscaler/grlscaler/workflows/api"
)

// Activity options, one function per activity, each chosen on purpose.
// Every activity treats api.ErrTypeInvalidSpec as non-retryable: retrying
// cannot fix the input. The long-running activities heartbeat; how long a
// silent one is given before it is retried on another worker is the spec's
// execution.heartbeatTimeout.

// defaultHeartbeatTimeout applies to specs recorded before
// execution.heartbeatTimeout existed, so that their histories replay with
// the options they ran with.
const defaultHeartbeatTimeout = 2 * time.Minute

func heartbeatTimeout(spec *api.ExperimentSpec) time.Duration {
	if d := spec.Spec.Execution.HeartbeatTimeout.Std(); d > 0 {
		return d
	}
	return defaultHeartbeatTimeout
}

// deployOptions: applying manifests (k8s) or building the twin (sim) takes
// minutes at most; the activity polls for readiness and heartbeats every
// few seconds. Five attempts
// with exponential backoff ride out an API server hiccup without looping
// forever on a broken cluster.
func deployOptions(heartbeat time.Duration) workflow.ActivityOptions {
	return workflow.ActivityOptions{
		StartToCloseTimeout: 10 * time.Minute,
		HeartbeatTimeout:    heartbeat,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        5 * time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        time.Minute,
			MaximumAttempts:        5,
			NonRetryableErrorTypes: []string{api.ErrTypeInvalidSpec},
		},
	}
}

// warmUpOptions: the warm-up runs load for spec.WarmUp.Duration (default
// 2m) and then waits for metrics; 30m bounds any sensible warm-up. It
// heartbeats while load runs.
func warmUpOptions(heartbeat time.Duration) workflow.ActivityOptions {
	return workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Minute,
		HeartbeatTimeout:    heartbeat,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        5 * time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        2 * time.Minute,
			NonRetryableErrorTypes: []string{api.ErrTypeInvalidSpec},
		},
	}
}

// trainChunkOptions: a chunk runs on the training task queue (workers with
// spare CPU), with the retry and timeout settings of an evaluation run: 2h
// bounds one chunk, and the heartbeat timeout notices a crashed trainer
// well before that. A retry restarts the chunk from its input checkpoint,
// so retrying is safe; a corrupt checkpoint is not fixed by retrying.
func trainChunkOptions(heartbeat time.Duration) workflow.ActivityOptions {
	o := evaluateRunOptions(heartbeat)
	o.TaskQueue = api.TrainTaskQueue
	return o
}

// evaluateRunOptions: one run lasts spec.Load.Duration (default 15m) plus
// app reset; 2h bounds it. A checkpoint that fails its checksum is as
// fatal here as in training.
func evaluateRunOptions(heartbeat time.Duration) workflow.ActivityOptions {
	return workflow.ActivityOptions{
		StartToCloseTimeout: 2 * time.Hour,
		HeartbeatTimeout:    heartbeat,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        10 * time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        5 * time.Minute,
			NonRetryableErrorTypes: []string{api.ErrTypeInvalidSpec, api.ErrTypeCorruptCheckpoint},
		},
	}
}

// shortOptions serve WriteReport and Cleanup: small, idempotent jobs (read
// summaries and write a few objects; delete HPAs and the app) that finish
// in seconds, so 10m with default exponential retries is generous.
func shortOptions() workflow.ActivityOptions {
	return workflow.ActivityOptions{
		StartToCloseTimeout: 10 * time.Minute,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        time.Minute,
			NonRetryableErrorTypes: []string{api.ErrTypeInvalidSpec},
		},
	}
}
