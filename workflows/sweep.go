package workflows

import (
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/grlscaler/grlscaler/workflows/api"
)

// StageSweep is the progress stage of a running sweep.
const StageSweep api.Stage = "sweep"

// SweepWorkflow runs one ExperimentWorkflow child per combination of the
// spec's matrix (api.ExpandMatrix), at most matrix.concurrency at a time,
// each under its own ID (the member's name) and search attributes. A
// failed experiment does not stop the others; WriteSweepReport then
// aggregates the completed ones across seeds. The sweep fails only when
// every experiment failed. Its progress query counts finished experiments
// as chunks.
func SweepWorkflow(ctx workflow.Context, spec api.ExperimentSpec) (api.SweepResult, error) {
	id := workflow.GetInfo(ctx).WorkflowExecution.ID
	result := api.SweepResult{SweepID: id}
	members, err := api.ExpandMatrix(&spec)
	if err != nil || len(members) == 0 {
		return result, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("sweep %s: the spec has no matrix to expand (%v)", id, err), api.ErrTypeInvalidSpec, nil)
	}
	progress := api.Progress{Stage: StageSweep, Chunks: len(members)}
	if err := workflow.SetQueryHandler(ctx, api.ProgressQueryName, func() (api.Progress, error) { return progress, nil }); err != nil {
		return result, fmt.Errorf("set progress query: %w", err)
	}
	if err := workflow.UpsertMemo(ctx, ExperimentMemo(&spec)); err != nil {
		return result, fmt.Errorf("upsert memo: %w", err)
	}
	_, withSearchAttributes := workflow.GetTypedSearchAttributes(ctx).GetKeyword(stageKey)

	concurrency := spec.Spec.Matrix.Concurrency
	if concurrency < 1 {
		concurrency = 1
	}
	outcomes := make([]api.SweepMemberResult, len(members))
	futures := make([]workflow.ChildWorkflowFuture, len(members))
	wait := func(i int) {
		m := members[i]
		outcomes[i] = api.SweepMemberResult{Name: m.Name, Combo: m.Combo, Group: m.Group()}
		var res api.ExperimentResult
		if err := futures[i].Get(ctx, &res); err != nil {
			outcomes[i].Error = err.Error()
			result.Failed = append(result.Failed, m.Name)
			workflow.GetLogger(ctx).Warn("sweep experiment failed; the others go on", "experiment", m.Name, "error", err)
		} else {
			rep := res.Report
			outcomes[i].Report = &rep
		}
		progress.Chunk++
	}
	for i, m := range members {
		if i >= concurrency {
			wait(i - concurrency)
		}
		opts := workflow.ChildWorkflowOptions{
			WorkflowID: m.Name,
			TaskQueue:  api.TaskQueue,
			Memo:       ExperimentMemo(&m.Spec),
			// Cancelling the sweep cancels its experiments, which then
			// clean up.
			ParentClosePolicy: enumspb.PARENT_CLOSE_POLICY_REQUEST_CANCEL,
		}
		if withSearchAttributes {
			opts.TypedSearchAttributes = StartSearchAttributes(&m.Spec)
		}
		futures[i] = workflow.ExecuteChildWorkflow(workflow.WithChildOptions(ctx, opts), api.ExperimentWorkflowName, m.Spec)
	}
	for i := max(0, len(members)-concurrency); i < len(members); i++ {
		wait(i)
	}
	if len(result.Failed) == len(members) {
		return result, fmt.Errorf("sweep %s: all %d experiments failed; the first: %s", id, len(members), outcomes[0].Error)
	}
	progress.Stage = api.StageReport
	var rep api.ReportResult
	actx := workflow.WithActivityOptions(ctx, shortOptions())
	if err := workflow.ExecuteActivity(actx, api.WriteSweepReportActivityName, api.SweepReportInput{
		SweepID: id, Spec: spec, Members: outcomes,
	}).Get(ctx, &rep); err != nil {
		return result, fmt.Errorf("write sweep report: %w", err)
	}
	result.Report = rep
	progress.Stage = api.StageDone
	return result, nil
}
