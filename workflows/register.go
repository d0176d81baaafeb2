package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/grlscaler/grlscaler/workflows/api"
)

// Registry is the part of worker.Worker (worker.WorkflowRegistry) that
// Register needs; the test environment satisfies it too.
type Registry interface {
	RegisterWorkflowWithOptions(w interface{}, options workflow.RegisterOptions)
}

// Register registers ExperimentWorkflow, TrainWorkflow, EvaluateWorkflow
// and SweepWorkflow under their api names.
func Register(r Registry) {
	r.RegisterWorkflowWithOptions(ExperimentWorkflow, workflow.RegisterOptions{Name: api.ExperimentWorkflowName})
	r.RegisterWorkflowWithOptions(TrainWorkflow, workflow.RegisterOptions{Name: api.TrainWorkflowName})
	r.RegisterWorkflowWithOptions(EvaluateWorkflow, workflow.RegisterOptions{Name: api.EvaluateWorkflowName})
	r.RegisterWorkflowWithOptions(SweepWorkflow, workflow.RegisterOptions{Name: api.SweepWorkflowName})
}
