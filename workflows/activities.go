package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/grlscaler/grlscaler/workflows/api"
)

// Typed helpers around the activities, which this package calls by their
// registered names (it must not import package activities). Each sets the
// activity's options, so callers cannot forget them.

func executeDeploy(ctx workflow.Context, in api.DeployInput) (api.DeployResult, error) {
	var out api.DeployResult
	ctx = workflow.WithActivityOptions(ctx, deployOptions(heartbeatTimeout(&in.Spec)))
	err := workflow.ExecuteActivity(ctx, api.DeployAppActivityName, in).Get(ctx, &out)
	return out, err
}

func executeWarmUp(ctx workflow.Context, in api.WarmUpInput) (api.WarmUpResult, error) {
	var out api.WarmUpResult
	ctx = workflow.WithActivityOptions(ctx, warmUpOptions(heartbeatTimeout(&in.Spec)))
	err := workflow.ExecuteActivity(ctx, api.WarmUpActivityName, in).Get(ctx, &out)
	return out, err
}

func executeTrainChunk(ctx workflow.Context, in api.TrainChunkInput) (api.TrainChunkResult, error) {
	var out api.TrainChunkResult
	ctx = workflow.WithActivityOptions(ctx, trainChunkOptions(heartbeatTimeout(&in.Spec)))
	err := workflow.ExecuteActivity(ctx, api.TrainChunkActivityName, in).Get(ctx, &out)
	return out, err
}

// startEvaluateRun returns the future so that EvaluateWorkflow can keep
// several runs in flight.
func startEvaluateRun(ctx workflow.Context, in api.EvaluateRunInput) workflow.Future {
	ctx = workflow.WithActivityOptions(ctx, evaluateRunOptions(heartbeatTimeout(&in.Spec)))
	return workflow.ExecuteActivity(ctx, api.EvaluateRunActivityName, in)
}

func executeWriteReport(ctx workflow.Context, in api.ReportInput) (api.ReportResult, error) {
	var out api.ReportResult
	ctx = workflow.WithActivityOptions(ctx, shortOptions())
	err := workflow.ExecuteActivity(ctx, api.WriteReportActivityName, in).Get(ctx, &out)
	return out, err
}

func executeCleanup(ctx workflow.Context, in api.CleanupInput) error {
	ctx = workflow.WithActivityOptions(ctx, shortOptions())
	return workflow.ExecuteActivity(ctx, api.CleanupActivityName, in).Get(ctx, nil)
}

func executeWriteManifest(ctx workflow.Context, in api.ManifestInput) (api.ObjectRef, error) {
	var out api.ObjectRef
	ctx = workflow.WithActivityOptions(ctx, shortOptions())
	err := workflow.ExecuteActivity(ctx, api.WriteManifestActivityName, in).Get(ctx, &out)
	return out, err
}

func executeWriteDrift(ctx workflow.Context, in api.DriftInput) (api.DriftResult, error) {
	var out api.DriftResult
	ctx = workflow.WithActivityOptions(ctx, shortOptions())
	err := workflow.ExecuteActivity(ctx, api.WriteDriftActivityName, in).Get(ctx, &out)
	return out, err
}
