package activities

import (
	"testing"

	"github.com/grlscaler/grlscaler/workflows/api"
)

// TestEveryStageResultCanSayItWasCached: runOutside marks a result served
// from the store through MarkCached (api.StageCache); a stage result
// without it would report a cached run as run.
func TestEveryStageResultCanSayItWasCached(t *testing.T) {
	results := map[string]any{
		api.StageNameDeploy:      &api.DeployResult{},
		api.StageNameWarmUp:      &api.WarmUpResult{},
		api.StageNameTrainChunk:  &api.TrainChunkResult{},
		api.StageNameEvaluateRun: &api.EvaluateRunResult{},
		api.StageNameReport:      &api.ReportResult{},
		api.StageNameLoad:        &api.LoadResult{},
	}
	if len(results) != len(api.StageNames) {
		t.Fatalf("%d results for stages %v", len(results), api.StageNames)
	}
	for _, stage := range api.StageNames {
		if _, ok := results[stage].(interface{ MarkCached() }); !ok {
			t.Errorf("the result of stage %s cannot say it was cached", stage)
		}
	}
}
