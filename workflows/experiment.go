package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/grlscaler/grlscaler/workflows/api"
)

// experimentState is what the progress query reports. Only the workflow's
// own goroutine writes it; the query handler reads it.
type experimentState struct {
	progress   api.Progress
	trainStart time.Time
}

// chunksDone records finished training chunks and re-estimates the ETA from
// the elapsed workflow time per chunk (training dominates an experiment's
// run time, so the other stages are left out of the estimate).
func (s *experimentState) chunksDone(ctx workflow.Context, res api.TrainWorkflowResult, chunkSteps int) {
	p := &s.progress
	for _, c := range res.History {
		p.Runs.Add(api.StageNameTrainChunk, c.Cached)
	}
	p.Chunk += len(res.History)
	p.Steps += res.Final.Step
	if res.Final.Step == 0 {
		p.Steps += int64(len(res.History) * chunkSteps)
	}
	if n := len(res.History); n > 0 {
		p.LatestReward = res.History[n-1].MeanEpisodeReward
	}
	if p.Chunk > 0 && p.Chunk < p.Chunks {
		perChunk := workflow.Now(ctx).Sub(s.trainStart) / time.Duration(p.Chunk)
		p.ETA = api.Duration(perChunk * time.Duration(p.Chunks-p.Chunk))
	} else {
		p.ETA = 0
	}
}

// ExperimentWorkflow runs one experiment end to end: DeployApp, WarmUp
// (skipped when spec.WarmUp.Duration is 0), one TrainWorkflow child per
// agent controller in parallel, an EvaluateWorkflow child, WriteReport and
// Cleanup. The experiment ID is the workflow ID. Once the app is deployed,
// Cleanup also runs, in a disconnected context, when the workflow fails or
// is cancelled.
//
// The progress query reports the current stage and, during training, the
// chunks and steps of the agents whose TrainWorkflow has finished (the
// parent cannot query its children from workflow code, so counts advance
// per agent; query a TrainWorkflow child, ID <experiment>-train-<agent>,
// for finer progress), and how many runs of each stage have finished and
// how many of those were served from the store instead of run (training's
// counted per agent and evaluation's all at once, as their child workflows
// finish). Every stage's error names the stage.
func ExperimentWorkflow(ctx workflow.Context, spec api.ExperimentSpec) (result api.ExperimentResult, err error) {
	id := workflow.GetInfo(ctx).WorkflowExecution.ID
	logger := workflow.GetLogger(ctx)
	s := &spec.Spec
	hash := api.SpecHash(&spec)
	result = api.ExperimentResult{ExperimentID: id, SpecHash: hash}

	var agents []api.Controller
	for _, c := range s.Evaluation.Controllers {
		if c.Type == api.ControllerAgent {
			agents = append(agents, c)
		}
	}

	st := &experimentState{progress: api.Progress{
		Stage:      api.StageDeploy,
		Chunks:     chunkCount(&spec) * len(agents),
		TotalSteps: int64(s.Agent.TotalSteps) * int64(len(agents)),
	}}
	if err := workflow.SetQueryHandler(ctx, api.ProgressQueryName, func() (api.Progress, error) {
		return st.progress, nil
	}); err != nil {
		return result, fmt.Errorf("set progress query: %w", err)
	}
	if err := workflow.UpsertMemo(ctx, ExperimentMemo(&spec)); err != nil {
		return result, fmt.Errorf("upsert memo: %w", err)
	}
	stage := newStageTracker(ctx, &st.progress)

	// Deploy.
	deployed, err := executeDeploy(ctx, api.DeployInput{ExperimentID: id, Spec: spec})
	if err != nil {
		return result, fmt.Errorf("deploy: %w", err)
	}
	st.progress.Runs.Add(api.StageNameDeploy, deployed.Cached)
	// What the experiment has stored so far, for the manifest.
	stored := api.ManifestInput{ExperimentID: id, Spec: spec}
	if deployed.Spec.Key != "" {
		specRef := deployed.Spec
		stored.SpecObject = &specRef
	}

	// From here on the app exists: tear it down however the run ends, and
	// index what was stored. The normal path runs Cleanup and
	// WriteManifest as its last stages; this deferred call covers failure
	// and cancellation, in a disconnected context so that it still runs
	// after the workflow's context is cancelled (samples-go
	// cancellation/workflow.go).
	cleanupIn := api.CleanupInput{ExperimentID: id, Spec: spec}
	cleaned := false
	defer func() {
		if cleaned {
			return
		}
		dctx, _ := workflow.NewDisconnectedContext(ctx)
		stage.set(dctx, api.StageCleanup)
		logger.Info("cleaning up after failure or cancellation", "error", err)
		if cerr := executeCleanup(dctx, cleanupIn); cerr != nil {
			err = errors.Join(err, fmt.Errorf("cleanup: %w", cerr))
		}
		stored.Outcome, stored.Error = api.OutcomeFailed, err.Error()
		if temporal.IsCanceledError(err) {
			stored.Outcome = api.OutcomeCanceled
		}
		if _, merr := executeWriteManifest(dctx, stored); merr != nil {
			err = errors.Join(err, fmt.Errorf("write manifest: %w", merr))
		}
	}()

	// Warm up.
	if s.WarmUp.Duration != 0 {
		stage.set(ctx, api.StageWarmUp)
		warm, err := executeWarmUp(ctx, api.WarmUpInput{ExperimentID: id, Spec: spec})
		if err != nil {
			return result, fmt.Errorf("warm-up: %w", err)
		}
		st.progress.Runs.Add(api.StageNameWarmUp, warm.Cached)
	}

	// Train every agent in parallel, one child workflow each.
	stage.set(ctx, api.StageTrain)
	st.trainStart = workflow.Now(ctx)
	training, err := trainAgents(ctx, id, spec, agents, st)
	clearCached(training, nil)
	stored.Training = training
	if err != nil {
		return result, err
	}

	// Evaluate.
	stage.set(ctx, api.StageEvaluate)
	st.progress.ETA = 0
	checkpoints := make(map[string]api.CheckpointRef, len(training))
	for _, t := range training {
		checkpoints[t.Agent] = t.Final
	}
	var eval api.EvaluateWorkflowResult
	ectx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{WorkflowID: id + "-evaluate"})
	if err := workflow.ExecuteChildWorkflow(ectx, api.EvaluateWorkflowName, api.EvaluateWorkflowInput{
		ExperimentID: id, Spec: spec, Checkpoints: checkpoints,
	}).Get(ctx, &eval); err != nil {
		return result, fmt.Errorf("evaluate: %w", err)
	}
	for _, r := range eval.Runs {
		st.progress.Runs.Add(api.StageNameEvaluateRun, r.Cached)
	}
	clearCached(nil, eval.Runs)
	stored.Runs = eval.Runs

	// Report.
	stage.set(ctx, api.StageReport)
	report, err := executeWriteReport(ctx, api.ReportInput{ExperimentID: id, Spec: spec, Training: training, Runs: eval.Runs})
	if err != nil {
		return result, fmt.Errorf("write report: %w", err)
	}
	st.progress.Runs.Add(api.StageNameReport, report.Cached)
	report.Cached = false
	result.Report = report
	stored.Report = &report

	// Drift: compare with the previous completed run of the same spec.
	// Histories from before drift reports replay without it.
	if workflow.GetVersion(ctx, "drift-report", workflow.DefaultVersion, 1) == 1 {
		drift, err := executeWriteDrift(ctx, api.DriftInput{ExperimentID: id, Spec: spec, Training: training, Report: report})
		if err != nil {
			return result, fmt.Errorf("write drift report: %w", err)
		}
		result.Drift = &drift
	}

	// Clean up.
	stage.set(ctx, api.StageCleanup)
	cleaned = true
	if err := executeCleanup(ctx, cleanupIn); err != nil {
		return result, fmt.Errorf("cleanup: %w", err)
	}
	stored.Outcome = api.OutcomeCompleted
	if result.Manifest, err = executeWriteManifest(ctx, stored); err != nil {
		return result, fmt.Errorf("write manifest: %w", err)
	}
	stage.set(ctx, api.StageDone)
	return result, nil
}

// clearCached clears the stage results' cache flags once the progress has
// counted them: they say how a result was obtained, not what it is, and
// the reports, the manifest and the inputs of later stages (whose cache
// keys hash them) must not depend on it.
func clearCached(training []api.TrainWorkflowResult, runs []api.EvaluateRunResult) {
	for i := range training {
		for j := range training[i].History {
			training[i].History[j].Cached = false
		}
	}
	for i := range runs {
		runs[i].Cached = false
	}
}

// trainAgents starts one TrainWorkflow per agent and waits for all of them,
// in completion order so that progress advances as each finishes. The
// results keep the agents' order. The first failure cancels the others and
// returns the agents that had finished.
func trainAgents(ctx workflow.Context, id string, spec api.ExperimentSpec, agents []api.Controller, st *experimentState) ([]api.TrainWorkflowResult, error) {
	if len(agents) == 0 {
		return nil, nil
	}
	if chunkCount(&spec) == 0 {
		return nil, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("train: totalSteps %d and chunkSteps %d must be positive", spec.Spec.Agent.TotalSteps, spec.Spec.Agent.ChunkSteps),
			api.ErrTypeInvalidSpec, nil)
	}
	cctx, cancel := workflow.WithCancel(ctx)
	defer cancel()

	results := make([]api.TrainWorkflowResult, len(agents))
	done := make([]bool, len(agents))
	var firstErr error
	sel := workflow.NewSelector(ctx)
	for i, a := range agents {
		opts := workflow.ChildWorkflowOptions{
			WorkflowID: id + "-train-" + a.Name,
			Memo:       map[string]any{"experiment": id, "agent": a.Name},
		}
		f := workflow.ExecuteChildWorkflow(workflow.WithChildOptions(cctx, opts), api.TrainWorkflowName, api.TrainWorkflowInput{
			ExperimentID: id, Spec: spec, Agent: a.Name,
		})
		sel.AddFuture(f, func(f workflow.Future) {
			if err := f.Get(ctx, &results[i]); err != nil {
				if firstErr == nil {
					firstErr = fmt.Errorf("train agent %s: %w", a.Name, err)
					cancel()
				}
				return
			}
			if results[i].Agent == "" {
				results[i].Agent = a.Name
			}
			done[i] = true
			st.chunksDone(ctx, results[i], spec.Spec.Agent.ChunkSteps)
		})
	}
	for range agents {
		sel.Select(ctx)
		if firstErr != nil {
			var finished []api.TrainWorkflowResult
			for i, r := range results {
				if done[i] {
					finished = append(finished, r)
				}
			}
			return finished, firstErr
		}
	}
	return results, nil
}
