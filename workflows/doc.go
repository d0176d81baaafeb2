// Package workflows holds grlscaler's Temporal workflow definitions:
// deterministic orchestration only. It imports the Temporal SDK and
// workflows/api and nothing else of ours (`make check-deps` enforces that
// no Kubernetes, MinIO or gorgonia code is reachable from it).
//
//   - ExperimentWorkflow runs one experiment: DeployApp, WarmUp, one
//     TrainWorkflow child per agent controller (in parallel), an
//     EvaluateWorkflow child, WriteReport and Cleanup. Cleanup also runs, in
//     a disconnected context, when the experiment fails or is cancelled
//     after the deploy. It answers the progress query and sets a memo
//     summarising the experiment (app, mode, policy, goal, spec hash).
//   - TrainWorkflow runs one TrainChunk activity per chunk, each continuing
//     from the previous checkpoint, and continues as new when the server
//     suggests it, carrying the next chunk, the latest checkpoint and the
//     training curve.
//   - EvaluateWorkflow runs EvaluateRun for every controller x scenario x
//     repetition, a few at a time, with one seed per (scenario, repetition)
//     shared by every controller so that comparisons are paired.
//
// Activities are called by their api names through typed helpers that also
// set each activity's options (timeouts, heartbeats, retry policy), since
// this package cannot import package activities. Register registers the
// three workflows under their api names.
package workflows
