// Package worker runs grlscaler's Temporal worker: it connects to Temporal
// and the object store, registers the workflows and activities, and polls
// the experiment task queue and the training task queue until stopped.
package worker

import (
	"context"
	"fmt"
	"log/slog"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"

	"github.com/grlscaler/grlscaler/activities"
	"github.com/grlscaler/grlscaler/infra/objstore"
	"github.com/grlscaler/grlscaler/workflows"
	"github.com/grlscaler/grlscaler/workflows/api"
)

// Options configure a worker.
type Options struct {
	// Client is a connected Temporal client; the worker does not close it.
	Client client.Client
	// Store holds checkpoints, time series and reports.
	Store objstore.Store
	// MaxConcurrentTraining caps concurrent TrainChunk activities on this
	// worker (training is CPU-bound; default 1).
	MaxConcurrentTraining int
	Logger                *slog.Logger
	// StageCommand and StageEnv run stages in child processes (see
	// activities.Activities); without StageCommand, a spec asking for the
	// subprocess runner fails with a clear error.
	StageCommand []string
	StageEnv     []string
	// Jobs runs stages as Kubernetes Jobs; nil on a worker that does not.
	Jobs *activities.JobRunner
}

// Run polls both task queues until ctx is done or a worker fails.
func Run(ctx context.Context, opts Options) error {
	if opts.Client == nil || opts.Store == nil {
		return fmt.Errorf("worker: a Temporal client and a store are required")
	}
	if opts.MaxConcurrentTraining == 0 {
		opts.MaxConcurrentTraining = 1
	}
	acts := &activities.Activities{Store: opts.Store, Logger: opts.Logger, StageCommand: opts.StageCommand, StageEnv: opts.StageEnv, Jobs: opts.Jobs}

	// Every activity attempt's log also goes to the experiment's logs/.
	logs := []interceptor.WorkerInterceptor{&activities.RunLogs{Activities: acts}}
	main := worker.New(opts.Client, api.TaskQueue, worker.Options{Interceptors: logs})
	workflows.Register(main)
	acts.Register(main)

	// Training chunks run on their own queue so that many workers can share
	// a sweep's training while one schedules the experiments.
	train := worker.New(opts.Client, api.TrainTaskQueue, worker.Options{
		MaxConcurrentActivityExecutionSize: opts.MaxConcurrentTraining,
		Interceptors:                       logs,
	})
	acts.Register(train)

	if err := main.Start(); err != nil {
		return fmt.Errorf("worker: start %s: %w", api.TaskQueue, err)
	}
	defer main.Stop()
	if err := train.Start(); err != nil {
		return fmt.Errorf("worker: start %s: %w", api.TrainTaskQueue, err)
	}
	defer train.Stop()
	<-ctx.Done()
	return nil
}

// Logger adapts slog to the Temporal SDK's logger.
func Logger(l *slog.Logger) tlog.Logger { return tlog.NewStructuredLogger(l) }
