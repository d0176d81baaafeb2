package workflows

import (
	"fmt"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/grlscaler/grlscaler/workflows/api"
)

// evalConcurrency is the number of EvaluateRun activities in flight at
// once on the twin, where runs are independent simulations: enough to keep
// a worker busy. On a real cluster runs share the cluster, and parallel
// load runs would disturb each other's measurements, so they go one at a
// time.
func evalConcurrency(spec *api.ExperimentSpec) int {
	if spec.Spec.Cluster.Mode == api.ModeSim {
		return 4
	}
	return 1
}

// EvaluateWorkflow runs one EvaluateRun activity per controller x scenario
// x repetition (the test runs), then one per HPA or agent controller x
// scenario x validation seed (the validation runs), at most evalConcurrency at a
// time, and returns the runs in that order, each part in (controller,
// scenario, repetition) order, the order of the spec's lists.
// Agent controllers get their checkpoint from in.Checkpoints. The first
// failed run fails the evaluation and cancels the runs in flight.
func EvaluateWorkflow(ctx workflow.Context, in api.EvaluateWorkflowInput) (api.EvaluateWorkflowResult, error) {
	s := &in.Spec.Spec
	var runs []api.EvaluateRunInput
	for _, c := range s.Evaluation.Controllers {
		var ckpt *api.CheckpointRef
		if c.Type == api.ControllerAgent {
			ref, ok := in.Checkpoints[c.Name]
			if !ok {
				return api.EvaluateWorkflowResult{}, temporal.NewNonRetryableApplicationError(
					fmt.Sprintf("evaluate: no checkpoint for agent controller %s", c.Name), api.ErrTypeInvalidSpec, nil)
			}
			ckpt = &ref
		}
		for si, scenario := range s.Load.EvaluationScenarios {
			for rep := 0; rep < s.Evaluation.Repetitions; rep++ {
				runs = append(runs, api.EvaluateRunInput{
					ExperimentID: in.ExperimentID,
					Spec:         in.Spec,
					Controller:   c,
					Scenario:     scenario,
					Repetition:   rep,
					Seed:         api.TestSeed(s.Agent.Seed, si, rep),
					Checkpoint:   ckpt,
				})
			}
		}
	}

	// Validation runs: every HPA configuration (and, since version 2 of
	// these runs, every agent) on separate seeds, from which the report
	// picks the best HPA and the best agent per scenario, so that neither
	// choice is made on the test runs it is compared on. Histories
	// recorded before validation runs existed replay without them, and
	// those recorded before agents had them replay with the HPAs' only.
	if ver := workflow.GetVersion(ctx, "validation-runs", workflow.DefaultVersion, 2); ver >= 1 {
		for _, c := range s.Evaluation.Controllers {
			if c.Type != api.ControllerHPA && (c.Type != api.ControllerAgent || ver < 2) {
				continue
			}
			var ckpt *api.CheckpointRef
			if c.Type == api.ControllerAgent {
				ref := in.Checkpoints[c.Name]
				ckpt = &ref
			}
			for si, scenario := range s.Load.EvaluationScenarios {
				for v := 0; v < s.Evaluation.ValidationSeeds; v++ {
					runs = append(runs, api.EvaluateRunInput{
						ExperimentID: in.ExperimentID,
						Spec:         in.Spec,
						Controller:   c,
						Scenario:     scenario,
						Repetition:   v,
						Split:        api.SplitValidation,
						Seed:         api.ValidationSeed(s.Agent.Seed, si, v),
						Checkpoint:   ckpt,
					})
				}
			}
		}
	}

	ctx, cancel := workflow.WithCancel(ctx)
	defer cancel()
	futures := make([]workflow.Future, len(runs))
	results := make([]api.EvaluateRunResult, len(runs))
	wait := func(i int) error {
		if err := futures[i].Get(ctx, &results[i]); err != nil {
			r := runs[i]
			return fmt.Errorf("evaluate %s on %s repetition %d: %w", r.Controller.Name, r.Scenario, r.Repetition, err)
		}
		// The run's identity comes from the matrix, not from the activity.
		results[i].Controller = runs[i].Controller.Name
		results[i].Scenario = runs[i].Scenario
		results[i].Repetition = runs[i].Repetition
		results[i].Split = runs[i].Split
		results[i].Seed = runs[i].Seed
		return nil
	}
	// A sliding window in start order: before starting run i, wait for run
	// i-evalConcurrency. Simple and deterministic; a slow run can hold the
	// window, which costs little since runs last about the same time.
	window := evalConcurrency(&in.Spec)
	for i := range runs {
		if i >= window {
			if err := wait(i - window); err != nil {
				return api.EvaluateWorkflowResult{}, err
			}
		}
		futures[i] = startEvaluateRun(ctx, runs[i])
	}
	for i := max(0, len(runs)-window); i < len(runs); i++ {
		if err := wait(i); err != nil {
			return api.EvaluateWorkflowResult{}, err
		}
	}
	return api.EvaluateWorkflowResult{Runs: results}, nil
}
