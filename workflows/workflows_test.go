package workflows

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/grlscaler/grlscaler/workflows/api"
)

// testSpec is a small valid experiment: 500 steps in chunks of 100 (5
// chunks), one agent and one HPA controller, one scenario, one repetition.
func testSpec() api.ExperimentSpec {
	return api.ExperimentSpec{
		APIVersion: api.APIVersion,
		Kind:       api.ExperimentKind,
		Metadata:   api.Metadata{Name: "quick"},
		Spec: api.Spec{
			App:     "onlineboutique",
			Cluster: api.Cluster{Mode: api.ModeSim, StepPeriod: api.Duration(15 * time.Second)},
			WarmUp:  api.WarmUp{Duration: api.Duration(2 * time.Minute)},
			Agent: api.Agent{
				Algorithm: "ppo", Policy: "gcn", Head: "joint", Goal: "slo",
				SLO: api.Duration(500 * time.Millisecond), TotalSteps: 500, ChunkSteps: 100,
				EpisodeSteps: 25, Seed: 42,
				Hyperparameters: api.Hyperparameters{NSteps: 100, BatchSize: 50, Epochs: 2, LearningRate: 3e-4},
			},
			Load: api.Load{TrainingScenario: "peak", EvaluationScenarios: []string{"peak"},
				Duration: api.Duration(15 * time.Minute), Runner: api.RunnerSim},
			Evaluation: api.Evaluation{
				Controllers: []api.Controller{
					{Name: "agent", Type: api.ControllerAgent},
					{Name: "hpa-cpu-50", Type: api.ControllerHPA, HPA: "cpu-50", MinReplicas: 1, MaxReplicas: 8},
				},
				Repetitions: 1, ValidationSeeds: 3,
			},
			Storage: api.Storage{Bucket: "grlscaler", Prefix: "experiments"},
		},
	}
}

// fakes records the activity calls the workflows make.
type fakes struct {
	mu      sync.Mutex
	calls   []string
	evalIns []api.EvaluateRunInput
	chunks  []api.TrainChunkInput
	// manifests are WriteManifest's inputs, reports WriteReport's and
	// drifts WriteDrift's.
	manifests []api.ManifestInput
	reports   []api.ReportInput
	drifts    []api.DriftInput
	// cached, when set, says whether the activity's n-th call (from 0)
	// was served from the store: its result's Cached.
	cached func(activity string, n int) bool
}

// served records a call of the activity name and returns whether its
// result is cached.
func (f *fakes) served(name string) bool {
	n := f.count(name)
	f.record(name)
	return f.cached != nil && f.cached(name, n)
}

func (f *fakes) record(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, name)
}

func (f *fakes) count(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if c == name {
			n++
		}
	}
	return n
}

// stages returns the recorded calls with consecutive repeats collapsed.
func (f *fakes) stages() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.calls {
		if len(out) == 0 || out[len(out)-1] != c {
			out = append(out, c)
		}
	}
	return out
}

func (f *fakes) trainChunk(_ context.Context, in api.TrainChunkInput) (api.TrainChunkResult, error) {
	cached := f.served(api.TrainChunkActivityName)
	f.mu.Lock()
	f.chunks = append(f.chunks, in)
	f.mu.Unlock()
	step := int64(in.Chunk*in.Spec.Spec.Agent.ChunkSteps + in.Steps)
	return api.TrainChunkResult{
		Checkpoint:        api.CheckpointRef{Key: fmt.Sprintf("experiments/x/checkpoints/%s/%d.ckpt", in.Agent, step), SHA256: "ab", Size: 10, Step: step},
		MeanEpisodeReward: float64(in.Chunk),
		StageCache:        api.StageCache{Cached: cached},
	}, nil
}

// newEnv returns a test environment with the workflows registered and every
// activity mocked by name, recording into f. TrainChunk is left to the
// caller when mockTrain is false.
func newEnv(t *testing.T, f *fakes, mockTrain bool) *testsuite.TestWorkflowEnvironment {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	Register(env)

	env.RegisterActivityWithOptions(func(_ context.Context, _ api.DeployInput) (api.DeployResult, error) {
		return api.DeployResult{}, nil
	}, activity.RegisterOptions{Name: api.DeployAppActivityName})
	env.RegisterActivityWithOptions(func(_ context.Context, _ api.WarmUpInput) (api.WarmUpResult, error) {
		return api.WarmUpResult{}, nil
	}, activity.RegisterOptions{Name: api.WarmUpActivityName})
	env.RegisterActivityWithOptions(f.trainChunk, activity.RegisterOptions{Name: api.TrainChunkActivityName})
	env.RegisterActivityWithOptions(func(_ context.Context, _ api.EvaluateRunInput) (api.EvaluateRunResult, error) {
		return api.EvaluateRunResult{}, nil
	}, activity.RegisterOptions{Name: api.EvaluateRunActivityName})
	env.RegisterActivityWithOptions(func(_ context.Context, _ api.ReportInput) (api.ReportResult, error) {
		return api.ReportResult{}, nil
	}, activity.RegisterOptions{Name: api.WriteReportActivityName})
	env.RegisterActivityWithOptions(func(_ context.Context, _ api.CleanupInput) error {
		return nil
	}, activity.RegisterOptions{Name: api.CleanupActivityName})
	env.RegisterActivityWithOptions(func(_ context.Context, _ api.ManifestInput) (api.ObjectRef, error) {
		return api.ObjectRef{}, nil
	}, activity.RegisterOptions{Name: api.WriteManifestActivityName})
	env.RegisterActivityWithOptions(func(_ context.Context, _ api.DriftInput) (api.DriftResult, error) {
		return api.DriftResult{}, nil
	}, activity.RegisterOptions{Name: api.WriteDriftActivityName})

	env.OnActivity(api.DeployAppActivityName, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in api.DeployInput) (api.DeployResult, error) {
			cached := f.served(api.DeployAppActivityName)
			return api.DeployResult{Services: []string{"frontend"}, StageCache: api.StageCache{Cached: cached}}, nil
		})
	env.OnActivity(api.WarmUpActivityName, mock.Anything, mock.Anything).Return(
		func(_ context.Context, _ api.WarmUpInput) (api.WarmUpResult, error) {
			cached := f.served(api.WarmUpActivityName)
			return api.WarmUpResult{Steps: 8, StageCache: api.StageCache{Cached: cached}}, nil
		})
	if mockTrain {
		env.OnActivity(api.TrainChunkActivityName, mock.Anything, mock.Anything).Return(f.trainChunk)
	}
	env.OnActivity(api.EvaluateRunActivityName, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in api.EvaluateRunInput) (api.EvaluateRunResult, error) {
			cached := f.served(api.EvaluateRunActivityName)
			f.mu.Lock()
			f.evalIns = append(f.evalIns, in)
			f.mu.Unlock()
			return api.EvaluateRunResult{SeriesKey: "k", Metrics: api.RunMetrics{LatencyP95Ms: float64(in.Seed % 1000)},
				StageCache: api.StageCache{Cached: cached}}, nil
		})
	env.OnActivity(api.WriteReportActivityName, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in api.ReportInput) (api.ReportResult, error) {
			cached := f.served(api.WriteReportActivityName)
			f.mu.Lock()
			f.reports = append(f.reports, in)
			f.mu.Unlock()
			return api.ReportResult{JSONKey: "r.json", Summary: fmt.Sprintf("%d runs", len(in.Runs)), StageCache: api.StageCache{Cached: cached}}, nil
		})
	env.OnActivity(api.CleanupActivityName, mock.Anything, mock.Anything).Return(
		func(_ context.Context, _ api.CleanupInput) error {
			f.record(api.CleanupActivityName)
			return nil
		})
	env.OnActivity(api.WriteDriftActivityName, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in api.DriftInput) (api.DriftResult, error) {
			f.record(api.WriteDriftActivityName)
			f.mu.Lock()
			f.drifts = append(f.drifts, in)
			f.mu.Unlock()
			return api.DriftResult{Key: "drift.json", Summary: fmt.Sprintf("%d agents", len(in.Training))}, nil
		})
	env.OnActivity(api.WriteManifestActivityName, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in api.ManifestInput) (api.ObjectRef, error) {
			f.record(api.WriteManifestActivityName)
			f.mu.Lock()
			f.manifests = append(f.manifests, in)
			f.mu.Unlock()
			return api.ObjectRef{Key: "experiments/x/manifest.json", SHA256: "cd"}, nil
		})
	return env
}

func TestExperimentRunsStagesInOrder(t *testing.T) {
	for _, tc := range []struct {
		name   string
		warmUp time.Duration
		want   []string
	}{
		{"with warm-up", 2 * time.Minute, []string{
			api.DeployAppActivityName, api.WarmUpActivityName, api.TrainChunkActivityName,
			api.EvaluateRunActivityName, api.WriteReportActivityName, api.WriteDriftActivityName, api.CleanupActivityName, api.WriteManifestActivityName}},
		{"warm-up skipped", 0, []string{
			api.DeployAppActivityName, api.TrainChunkActivityName,
			api.EvaluateRunActivityName, api.WriteReportActivityName, api.WriteDriftActivityName, api.CleanupActivityName, api.WriteManifestActivityName}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakes{}
			env := newEnv(t, f, true)
			spec := testSpec()
			spec.Spec.WarmUp.Duration = api.Duration(tc.warmUp)
			env.ExecuteWorkflow(api.ExperimentWorkflowName, spec)

			require.True(t, env.IsWorkflowCompleted())
			require.NoError(t, env.GetWorkflowError())
			var res api.ExperimentResult
			require.NoError(t, env.GetWorkflowResult(&res))
			require.Equal(t, api.SpecHash(&spec), res.SpecHash)
			require.Equal(t, "8 runs", res.Report.Summary) // 2 test runs, 3 validation runs of the HPA and 3 of the agent
			require.NotEmpty(t, res.ExperimentID)
			require.Equal(t, tc.want, f.stages())
			require.Equal(t, 5, f.count(api.TrainChunkActivityName))
			require.Equal(t, 1, f.count(api.CleanupActivityName))
			// The manifest indexes every chunk's checkpoint, every run and
			// the report, and the result points at it.
			require.Len(t, f.manifests, 1)
			m := f.manifests[0]
			require.Equal(t, api.OutcomeCompleted, m.Outcome)
			require.Len(t, m.Training, 1)
			require.Len(t, m.Training[0].History, 5)
			require.Len(t, m.Runs, 8)
			require.NotNil(t, m.Report)
			require.Equal(t, "experiments/x/manifest.json", res.Manifest.Key)
			require.NotNil(t, res.Drift)
			require.Equal(t, "1 agents", res.Drift.Summary)
			if tc.warmUp != 0 {
				env.AssertExpectations(t) // every mocked activity ran
			}

			// Chunks continue from each other's checkpoints, and the agent
			// controller is evaluated with the final one.
			require.Nil(t, f.chunks[0].From)
			for i := 1; i < len(f.chunks); i++ {
				require.Equal(t, f.chunks[i-1].Chunk+1, f.chunks[i].Chunk)
				require.Equal(t, int64(i*100), f.chunks[i].From.Step)
			}
			for _, in := range f.evalIns {
				if in.Controller.Type == api.ControllerAgent {
					require.Equal(t, int64(500), in.Checkpoint.Step)
				} else {
					require.Nil(t, in.Checkpoint)
				}
			}
		})
	}
}

func TestTrainContinuesAsNewAfterMaxChunks(t *testing.T) {
	old := maxChunksPerRun
	maxChunksPerRun = 2
	t.Cleanup(func() { maxChunksPerRun = old })

	f := &fakes{}
	env := newEnv(t, f, true)
	env.ExecuteWorkflow(api.TrainWorkflowName, api.TrainWorkflowInput{ExperimentID: "x", Spec: testSpec(), Agent: "agent"})

	require.True(t, env.IsWorkflowCompleted())
	var can *workflow.ContinueAsNewError
	require.ErrorAs(t, env.GetWorkflowError(), &can)
	require.Equal(t, api.TrainWorkflowName, can.WorkflowType.Name)
	require.Equal(t, 2, f.count(api.TrainChunkActivityName))

	var next api.TrainWorkflowInput
	require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(can.Input, &next))
	require.Equal(t, 2, next.NextChunk)
	require.NotNil(t, next.Latest)
	require.Equal(t, int64(200), next.Latest.Step)
	require.Equal(t, "experiments/x/checkpoints/agent/200.ckpt", next.Latest.Key)
	require.Len(t, next.History, 2)
	require.Equal(t, "agent", next.Agent)
}

func TestTrainResumesFromNextChunk(t *testing.T) {
	f := &fakes{}
	env := newEnv(t, f, true)
	spec := testSpec()
	spec.Spec.Agent.TotalSteps = 450 // last chunk is short: 50 steps
	latest := api.CheckpointRef{Key: "k", Step: 200}
	env.ExecuteWorkflow(api.TrainWorkflowName, api.TrainWorkflowInput{
		ExperimentID: "x", Spec: spec, Agent: "agent", NextChunk: 2, Latest: &latest,
		History: []api.TrainChunkResult{{}, {}},
	})

	require.NoError(t, env.GetWorkflowError())
	var res api.TrainWorkflowResult
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Len(t, res.History, 5)
	require.Equal(t, int64(450), res.Final.Step)
	require.Len(t, f.chunks, 3)
	require.Equal(t, "k", f.chunks[0].From.Key)
	require.Equal(t, []int{100, 100, 50}, []int{f.chunks[0].Steps, f.chunks[1].Steps, f.chunks[2].Steps})
}

func TestTrainRetriesTransientChunkFailure(t *testing.T) {
	f := &fakes{}
	env := newEnv(t, f, false)
	attempts := 0
	env.OnActivity(api.TrainChunkActivityName, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in api.TrainChunkInput) (api.TrainChunkResult, error) {
			if in.Chunk == 1 {
				attempts++
				if attempts <= 2 {
					return api.TrainChunkResult{}, temporal.NewApplicationError("store unavailable", "Transient")
				}
			}
			return f.trainChunk(ctx, in)
		})
	spec := testSpec()
	spec.Spec.Agent.TotalSteps = 300
	env.ExecuteWorkflow(api.TrainWorkflowName, api.TrainWorkflowInput{ExperimentID: "x", Spec: spec, Agent: "agent"})

	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var res api.TrainWorkflowResult
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Equal(t, 3, attempts)
	require.Len(t, res.History, 3)
	require.Equal(t, int64(300), res.Final.Step)
}

func TestCorruptCheckpointFailsExperimentOnceAndCleansUp(t *testing.T) {
	f := &fakes{}
	env := newEnv(t, f, false)
	attempts := 0
	env.OnActivity(api.TrainChunkActivityName, mock.Anything, mock.Anything).Return(
		func(_ context.Context, _ api.TrainChunkInput) (api.TrainChunkResult, error) {
			attempts++
			return api.TrainChunkResult{}, temporal.NewNonRetryableApplicationError("bad checkpoint", api.ErrTypeCorruptCheckpoint, nil)
		})
	env.ExecuteWorkflow(api.ExperimentWorkflowName, testSpec())

	require.True(t, env.IsWorkflowCompleted())
	err := env.GetWorkflowError()
	require.Error(t, err)
	require.Contains(t, err.Error(), "train agent agent")
	require.Contains(t, err.Error(), "bad checkpoint")
	require.Equal(t, 1, attempts)
	require.Equal(t, 1, f.count(api.CleanupActivityName))
	require.Zero(t, f.count(api.EvaluateRunActivityName))
	require.Zero(t, f.count(api.WriteReportActivityName))
	require.Len(t, f.manifests, 1, "a failed experiment still indexes what it stored")
	require.Equal(t, api.OutcomeFailed, f.manifests[0].Outcome)
	require.Contains(t, f.manifests[0].Error, "bad checkpoint")
}

func TestCancelDuringTrainingCleansUp(t *testing.T) {
	f := &fakes{}
	env := newEnv(t, f, false)
	env.OnActivity(api.TrainChunkActivityName, mock.Anything, mock.Anything).After(10 * time.Minute).Return(f.trainChunk)
	env.RegisterDelayedCallback(env.CancelWorkflow, 25*time.Minute)
	env.ExecuteWorkflow(api.ExperimentWorkflowName, testSpec())

	require.True(t, env.IsWorkflowCompleted())
	var canceled *temporal.CanceledError
	require.True(t, errors.As(env.GetWorkflowError(), &canceled), "got %v", env.GetWorkflowError())
	require.Equal(t, 1, f.count(api.CleanupActivityName))
	require.Zero(t, f.count(api.EvaluateRunActivityName))
	require.Less(t, f.count(api.TrainChunkActivityName), 5)
	require.Len(t, f.manifests, 1)
	require.Equal(t, api.OutcomeCanceled, f.manifests[0].Outcome)
}

func TestProgressQueryDuringTraining(t *testing.T) {
	f := &fakes{}
	env := newEnv(t, f, false)
	spec := testSpec()
	spec.Spec.Evaluation.Controllers = append(spec.Spec.Evaluation.Controllers,
		api.Controller{Name: "mlp", Type: api.ControllerAgent, Policy: "mlp"})
	// The gcn agent trains fast, the mlp baseline slowly: mid-way, the
	// experiment knows the gcn agent's 5 chunks of 10.
	env.OnActivity(api.TrainChunkActivityName, mock.Anything,
		mock.MatchedBy(func(in api.TrainChunkInput) bool { return in.Agent == "mlp" })).
		After(10 * time.Minute).Return(f.trainChunk)
	env.OnActivity(api.TrainChunkActivityName, mock.Anything,
		mock.MatchedBy(func(in api.TrainChunkInput) bool { return in.Agent != "mlp" })).
		After(time.Minute).Return(f.trainChunk)

	var mid api.Progress
	queried := false
	env.RegisterDelayedCallback(func() {
		v, err := env.QueryWorkflow(api.ProgressQueryName)
		require.NoError(t, err)
		require.NoError(t, v.Get(&mid))
		queried = true
	}, 30*time.Minute)
	env.ExecuteWorkflow(api.ExperimentWorkflowName, spec)

	require.NoError(t, env.GetWorkflowError())
	require.True(t, queried)
	require.Equal(t, api.StageTrain, mid.Stage)
	require.Equal(t, 5, mid.Chunk)
	require.Equal(t, 10, mid.Chunks)
	require.Equal(t, int64(500), mid.Steps)
	require.Equal(t, int64(1000), mid.TotalSteps)
	require.InDelta(t, 4.0, mid.LatestReward, 0) // the last chunk's reward is its index
	require.Positive(t, mid.ETA.Std())

	v, err := env.QueryWorkflow(api.ProgressQueryName)
	require.NoError(t, err)
	var end api.Progress
	require.NoError(t, v.Get(&end))
	require.Equal(t, api.StageDone, end.Stage)
	require.Equal(t, 10, end.Chunk)
}

// TestProgressCountsStagesRunAndServedFromTheStore: the progress query
// counts, per stage, the runs that did the work and those whose output was
// already stored (the results' Cached), and the flag goes no further: the
// report's, the drift report's and the manifest's inputs carry none, so
// that a rerun served from the store gives later stages the same input
// (and so the same cache key) as the run that computed it.
func TestProgressCountsStagesRunAndServedFromTheStore(t *testing.T) {
	f := &fakes{cached: func(name string, n int) bool {
		switch name {
		case api.DeployAppActivityName, api.WriteReportActivityName:
			return true
		case api.TrainChunkActivityName:
			return n < 3 // the first 3 of 5 chunks
		case api.EvaluateRunActivityName:
			return n%2 == 0 // runs 0, 2, 4, 6 of 8
		}
		return false
	}}
	env := newEnv(t, f, true)
	env.ExecuteWorkflow(api.ExperimentWorkflowName, testSpec())
	require.NoError(t, env.GetWorkflowError())

	v, err := env.QueryWorkflow(api.ProgressQueryName)
	require.NoError(t, err)
	var p api.Progress
	require.NoError(t, v.Get(&p))
	require.Equal(t, api.StageRunCounts{
		Deploy:      api.StageRuns{Cached: 1},
		WarmUp:      api.StageRuns{Ran: 1},
		TrainChunk:  api.StageRuns{Ran: 2, Cached: 3},
		EvaluateRun: api.StageRuns{Ran: 4, Cached: 4},
		Report:      api.StageRuns{Cached: 1},
	}, p.Runs)
	require.Equal(t, api.StageRuns{Ran: 7, Cached: 9}, p.Runs.Total())

	require.Len(t, f.reports, 1)
	require.Len(t, f.drifts, 1)
	require.Len(t, f.manifests, 1)
	for _, training := range [][]api.TrainWorkflowResult{f.reports[0].Training, f.drifts[0].Training, f.manifests[0].Training} {
		require.Len(t, training, 1)
		for _, c := range training[0].History {
			require.False(t, c.Cached, "a chunk result passed on still says it was cached")
		}
	}
	for _, runs := range [][]api.EvaluateRunResult{f.reports[0].Runs, f.manifests[0].Runs} {
		require.Len(t, runs, 8)
		for _, r := range runs {
			require.False(t, r.Cached, "a run result passed on still says it was cached")
		}
	}
	require.False(t, f.manifests[0].Report.Cached)
	require.False(t, f.drifts[0].Report.Cached)
	var res api.ExperimentResult
	require.NoError(t, env.GetWorkflowResult(&res))
	require.False(t, res.Report.Cached)
}

// TestTrainProgressCountsCachedChunks: a TrainWorkflow's own progress
// counts its chunks, those carried over from before it continued as new
// included.
func TestTrainProgressCountsCachedChunks(t *testing.T) {
	f := &fakes{cached: func(_ string, n int) bool { return n == 0 }}
	env := newEnv(t, f, true)
	latest := api.CheckpointRef{Key: "k", Step: 200}
	env.ExecuteWorkflow(api.TrainWorkflowName, api.TrainWorkflowInput{
		ExperimentID: "x", Spec: testSpec(), Agent: "agent", NextChunk: 2, Latest: &latest,
		History: []api.TrainChunkResult{{StageCache: api.StageCache{Cached: true}}, {}},
	})
	require.NoError(t, env.GetWorkflowError())
	v, err := env.QueryWorkflow(api.ProgressQueryName)
	require.NoError(t, err)
	var p api.Progress
	require.NoError(t, v.Get(&p))
	require.Equal(t, api.StageRunCounts{TrainChunk: api.StageRuns{Ran: 3, Cached: 2}}, p.Runs)
}

func TestEvaluateRunsFullMatrixWithPairedSeeds(t *testing.T) {
	f := &fakes{}
	env := newEnv(t, f, true)
	spec := testSpec()
	spec.Spec.Evaluation.Controllers = []api.Controller{
		{Name: "agent", Type: api.ControllerAgent},
		{Name: "hpa-cpu-50", Type: api.ControllerHPA, HPA: "cpu-50"},
		{Name: "static-2", Type: api.ControllerStatic, Replicas: 2},
	}
	spec.Spec.Load.EvaluationScenarios = []string{"peak", "offpeak"}
	spec.Spec.Evaluation.Repetitions = 2
	ckpt := api.CheckpointRef{Key: "final", Step: 500}
	env.ExecuteWorkflow(api.EvaluateWorkflowName, api.EvaluateWorkflowInput{
		ExperimentID: "x", Spec: spec, Checkpoints: map[string]api.CheckpointRef{"agent": ckpt},
	})

	require.NoError(t, env.GetWorkflowError())
	var res api.EvaluateWorkflowResult
	require.NoError(t, env.GetWorkflowResult(&res))
	// 3 controllers x 2 scenarios x 2 repetitions of test runs, then the
	// agent and the HPA on 2 scenarios x 3 validation seeds each.
	require.Len(t, f.evalIns, 12+12)
	require.Len(t, res.Runs, 12+12)

	seeds := map[[2]any]uint64{}
	distinct := map[uint64]bool{}
	validationSeeds := map[uint64]bool{}
	for _, in := range f.evalIns {
		if in.Split == api.SplitValidation {
			require.NotEqual(t, "static-2", in.Controller.Name, "only HPA configurations and agents get validation runs")
			if in.Controller.Name == "agent" {
				require.Equal(t, &ckpt, in.Checkpoint)
			}
			validationSeeds[in.Seed] = true
			continue
		}
		k := [2]any{in.Scenario, in.Repetition}
		if s, ok := seeds[k]; ok {
			require.Equal(t, s, in.Seed, "seed of %v differs across controllers", k)
		}
		seeds[k] = in.Seed
		distinct[in.Seed] = true
		if in.Controller.Name == "agent" {
			require.Equal(t, &ckpt, in.Checkpoint)
		}
	}
	require.Len(t, distinct, 4, "each (scenario, repetition) gets its own seed")
	require.Len(t, validationSeeds, 6, "each (scenario, validation seed) gets its own seed")
	for s := range validationSeeds {
		require.False(t, distinct[s], "a validation seed is also a test seed")
	}

	i := 0
	for _, c := range spec.Spec.Evaluation.Controllers {
		for _, sc := range spec.Spec.Load.EvaluationScenarios {
			for rep := 0; rep < 2; rep++ {
				r := res.Runs[i]
				require.Equal(t, [3]any{c.Name, sc, rep}, [3]any{r.Controller, r.Scenario, r.Repetition})
				require.InDelta(t, float64(seeds[[2]any{sc, rep}]%1000), r.Metrics.LatencyP95Ms, 0)
				require.Equal(t, seeds[[2]any{sc, rep}], r.Seed)
				i++
			}
		}
	}
	for _, name := range []string{"agent", "hpa-cpu-50"} {
		for _, sc := range spec.Spec.Load.EvaluationScenarios {
			for v := 0; v < 3; v++ {
				r := res.Runs[i]
				require.Equal(t, [4]any{name, sc, v, api.SplitValidation}, [4]any{r.Controller, r.Scenario, r.Repetition, r.Split})
				i++
			}
		}
	}
}

func TestEvaluateRejectsAgentWithoutCheckpoint(t *testing.T) {
	f := &fakes{}
	env := newEnv(t, f, true)
	env.ExecuteWorkflow(api.EvaluateWorkflowName, api.EvaluateWorkflowInput{ExperimentID: "x", Spec: testSpec()})

	var appErr *temporal.ApplicationError
	require.ErrorAs(t, env.GetWorkflowError(), &appErr)
	require.Equal(t, api.ErrTypeInvalidSpec, appErr.Type())
	require.Zero(t, f.count(api.EvaluateRunActivityName))
}
