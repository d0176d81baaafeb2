// Package workflows holds grlscaler's Temporal workflow definitions
// (ExperimentWorkflow, TrainWorkflow, EvaluateWorkflow): deterministic
// orchestration only. It imports the Temporal SDK and workflows/api and
// nothing else of ours (docs/architecture in the README). The experiment
// pipeline issue fills it; until then `grlctl sim` drives the twin directly.
package workflows
