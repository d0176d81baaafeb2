package workflows

import (
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/grlscaler/grlscaler/workflows/api"
)

var stageKey = temporal.NewSearchAttributeKeyKeyword(api.SearchAttrStage)

// StartSearchAttributes are the search attributes an experiment starts
// with (stage deploy). Pass them only when the namespace has them
// registered: the server refuses unknown ones.
func StartSearchAttributes(spec *api.ExperimentSpec) temporal.SearchAttributes {
	s := &spec.Spec
	kw := temporal.NewSearchAttributeKeyKeyword
	return temporal.NewSearchAttributes(
		kw(api.SearchAttrApp).ValueSet(s.App),
		kw(api.SearchAttrMode).ValueSet(string(s.Cluster.Mode)),
		kw(api.SearchAttrPolicy).ValueSet(s.Agent.Policy),
		kw(api.SearchAttrGoal).ValueSet(s.Agent.Goal),
		kw(api.SearchAttrSpecHash).ValueSet(api.SpecHash(spec)),
		stageKey.ValueSet(string(api.StageDeploy)),
	)
}

// ExperimentMemo is the memo an experiment starts with: what it runs, where
// its objects are, and a one-line human summary for the web UI.
func ExperimentMemo(spec *api.ExperimentSpec) map[string]any {
	s := &spec.Spec
	return map[string]any{
		api.MemoApp:      s.App,
		api.MemoMode:     string(s.Cluster.Mode),
		api.MemoPolicy:   s.Agent.Policy,
		api.MemoGoal:     s.Agent.Goal,
		api.MemoSpecHash: api.SpecHash(spec),
		api.MemoBucket:   s.Storage.Bucket,
		api.MemoPrefix:   s.Storage.Prefix,
		api.MemoSummary: spec.Metadata.Name + " on " + s.App + " (" + string(s.Cluster.Mode) + "): " +
			s.Agent.Policy + " agent, " + s.Agent.Goal + " goal",
	}
}

// stageTracker moves the progress query's stage and, when the experiment
// was started with grlscaler's search attributes (so they are registered),
// the GrlStage search attribute with it. Whether to upsert is decided from
// the start attributes, which are part of history, so replay is
// deterministic.
type stageTracker struct {
	progress *api.Progress
	upsert   bool
}

func newStageTracker(ctx workflow.Context, p *api.Progress) *stageTracker {
	_, ok := workflow.GetTypedSearchAttributes(ctx).GetKeyword(stageKey)
	return &stageTracker{progress: p, upsert: ok}
}

func (t *stageTracker) set(ctx workflow.Context, stage api.Stage) {
	t.progress.Stage = stage
	if !t.upsert {
		return
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, stageKey.ValueSet(string(stage))); err != nil {
		workflow.GetLogger(ctx).Warn("upsert stage search attribute", "stage", stage, "error", err)
	}
}
