package workflows

import (
	"fmt"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/grlscaler/grlscaler/workflows/api"
)

// maxChunksPerRun caps the chunks one TrainWorkflow run executes before it
// continues as new; 0 means no cap (continue-as-new happens only when the
// server suggests it). Tests set it to exercise continue-as-new without
// thousands of events.
var maxChunksPerRun = 0

// chunkCount is the number of TrainChunk activities that train spec's agent:
// ceil(TotalSteps / ChunkSteps).
func chunkCount(spec *api.ExperimentSpec) int {
	a := spec.Spec.Agent
	if a.ChunkSteps <= 0 || a.TotalSteps <= 0 {
		return 0
	}
	return (a.TotalSteps + a.ChunkSteps - 1) / a.ChunkSteps
}

// TrainWorkflow trains one agent: one TrainChunk activity per chunk, run in
// order from in.NextChunk, each continuing from the previous chunk's
// checkpoint. It continues as new (carrying NextChunk, Latest and History)
// when the server suggests it or after maxChunksPerRun chunks, so its
// history stays small however long training runs. It answers the progress
// query with its own chunk and step counts, and its chunks' run and cached
// counts (those of earlier runs included, from the history it carries).
func TrainWorkflow(ctx workflow.Context, in api.TrainWorkflowInput) (api.TrainWorkflowResult, error) {
	a := in.Spec.Spec.Agent
	chunks := chunkCount(&in.Spec)
	if chunks == 0 {
		return api.TrainWorkflowResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("train agent %s: totalSteps %d and chunkSteps %d must be positive", in.Agent, a.TotalSteps, a.ChunkSteps),
			api.ErrTypeInvalidSpec, nil)
	}

	progress := api.Progress{Stage: api.StageTrain, Chunk: in.NextChunk, Chunks: chunks, TotalSteps: int64(a.TotalSteps)}
	if in.Latest != nil {
		progress.Steps = in.Latest.Step
	}
	if n := len(in.History); n > 0 {
		progress.LatestReward = in.History[n-1].MeanEpisodeReward
	}
	for _, c := range in.History {
		progress.Runs.Add(api.StageNameTrainChunk, c.Cached)
	}
	if err := workflow.SetQueryHandler(ctx, api.ProgressQueryName, func() (api.Progress, error) {
		return progress, nil
	}); err != nil {
		return api.TrainWorkflowResult{}, fmt.Errorf("train agent %s: set progress query: %w", in.Agent, err)
	}

	ran := 0
	for c := in.NextChunk; c < chunks; c++ {
		steps := min(a.ChunkSteps, a.TotalSteps-c*a.ChunkSteps)
		res, err := executeTrainChunk(ctx, api.TrainChunkInput{
			ExperimentID: in.ExperimentID,
			Spec:         in.Spec,
			Agent:        in.Agent,
			Chunk:        c,
			Steps:        steps,
			From:         in.Latest,
		})
		if err != nil {
			return api.TrainWorkflowResult{}, fmt.Errorf("train agent %s chunk %d: %w", in.Agent, c, err)
		}
		ckpt := res.Checkpoint
		in.Latest = &ckpt
		in.History = append(in.History, res)
		in.NextChunk = c + 1
		ran++
		progress.Chunk = in.NextChunk
		progress.Steps = min(int64(in.NextChunk)*int64(a.ChunkSteps), int64(a.TotalSteps))
		progress.LatestReward = res.MeanEpisodeReward
		progress.Runs.Add(api.StageNameTrainChunk, res.Cached)

		if in.NextChunk < chunks &&
			(workflow.GetInfo(ctx).GetContinueAsNewSuggested() || (maxChunksPerRun > 0 && ran >= maxChunksPerRun)) {
			workflow.GetLogger(ctx).Info("continuing as new", "agent", in.Agent, "nextChunk", in.NextChunk)
			return api.TrainWorkflowResult{}, workflow.NewContinueAsNewError(ctx, api.TrainWorkflowName, in)
		}
	}
	if in.Latest == nil {
		return api.TrainWorkflowResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("train agent %s: no checkpoint after %d chunks", in.Agent, chunks), api.ErrTypeInvalidSpec, nil)
	}
	return api.TrainWorkflowResult{Agent: in.Agent, Final: *in.Latest, History: in.History}, nil
}
