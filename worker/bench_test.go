package worker

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/grlscaler/grlscaler/envs"
	"github.com/grlscaler/grlscaler/envs/sim"
	"github.com/grlscaler/grlscaler/experiment"
	"github.com/grlscaler/grlscaler/infra/objstore"
	"github.com/grlscaler/grlscaler/infra/objstore/objstoretest"
	"github.com/grlscaler/grlscaler/infra/temporaltest"
	"github.com/grlscaler/grlscaler/model"
	"github.com/grlscaler/grlscaler/workflows/api"
)

// benchChunks is the number of 500-step chunks one iteration trains.
const benchChunks = 4

// benchSpec trains a gcn agent on onlineboutique in 500-step chunks of one
// 500-step rollout each (gym-hpa's nSteps), with the other
// hyperparameters at their defaults (10 epochs of minibatches of 64).
var benchSpec = fmt.Sprintf(`apiVersion: grlscaler.io/v1alpha1
kind: Experiment
metadata:
  name: bench
spec:
  app: onlineboutique
  agent:
    policy: gcn
    goal: slo
    totalSteps: %d
    chunkSteps: 500
    seed: 7
    hyperparameters: {nSteps: 500}
  load:
    trainingScenario: peak
    evaluationScenarios: [peak]
  evaluation:
    controllers:
    - {name: agent, type: agent}
  storage: {bucket: grl-bench}
`, benchChunks*500)

// BenchmarkChunkOverhead measures what training in chunks through Temporal
// costs over training in process: (a) TrainWorkflow, started directly,
// runs benchChunks TrainChunk activities, each a workflow task and an
// activity task on the local dev server, an environment build, a
// checkpoint load from the local S3 server (from the second chunk on) and
// a checkpoint save; (b) one trainer trains the same steps with the same
// seed in this process. It reports both per chunk and the overhead of (a)
// over (b) in percent; the target is under 5 %. It also splits the
// Temporal path's time per chunk by the server's event times (queued,
// activity, workflow task; see chunkSpans).
//
// A 500-step chunk is only about 50 ms of compute, so the fixed cost per
// chunk dominates: on a 2-CPU machine about 75 ms with an in-memory dev
// server, and 120 to 250 ms with the file-backed SQLite that
// temporaltest.StartDevServer uses (a synchronous write per workflow
// transition and per heartbeat). Chunks reach the target when they last
// seconds, not tens of milliseconds.
//
//	GRL_VERSITYGW=$PWD/bin/versitygw-v1.8.0 GRL_TEMPORAL=$PWD/bin/temporal-v1.5.1 \
//	    go test -run '^$' -bench ChunkOverhead -benchtime 3x ./worker
func BenchmarkChunkOverhead(b *testing.B) {
	if os.Getenv(temporaltest.EnvTemporal) == "" || os.Getenv(objstoretest.EnvBinary) == "" {
		b.Skipf("needs the local stack: set %s and %s (make tools builds them into bin/)", temporaltest.EnvTemporal, objstoretest.EnvBinary)
	}
	tc, _ := temporaltest.StartDevServer(b)
	store, err := objstore.NewMinIO(objstoretest.StartLocalServer(b))
	if err != nil {
		b.Fatal(err)
	}
	spec, err := experiment.Parse("bench.yaml", []byte(benchSpec))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, Options{Client: tc, Store: store}) }()
	b.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.Errorf("worker: %v", err)
		}
	})

	runs := 0
	viaTemporal := func() api.TrainWorkflowResult {
		runs++
		id := fmt.Sprintf("bench-%d", runs) // a fresh ID: TrainChunk reuses stored checkpoints
		run, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: api.TaskQueue},
			api.TrainWorkflowName, api.TrainWorkflowInput{ExperimentID: id, Spec: *spec, Agent: "agent"})
		if err != nil {
			b.Fatal(err)
		}
		var res api.TrainWorkflowResult
		if err := run.Get(ctx, &res); err != nil {
			b.Fatal(err)
		}
		if len(res.History) != benchChunks {
			b.Fatalf("trained %d chunks, want %d", len(res.History), benchChunks)
		}
		return res
	}
	inProcess := func() *model.Trainer {
		env := benchEnv(b, spec)
		tr, err := model.NewTrainer(env, model.Options{
			Policy: model.PolicyKind(spec.Spec.Agent.Policy), Head: model.HeadKind(spec.Spec.Agent.Head),
			Hyper: experiment.Hyperparameters(spec.Spec.Agent), Seed: spec.Spec.Agent.Seed,
		})
		if err != nil {
			b.Fatal(err)
		}
		for range benchChunks {
			if _, err := tr.Train(ctx, spec.Spec.Agent.ChunkSteps, nil); err != nil {
				b.Fatal(err)
			}
		}
		return tr
	}

	// Untimed: warm the worker's pollers and connections, and check that
	// both paths do the same work: the same weights after the same steps.
	res := viaTemporal()
	tr := inProcess()
	checkSameWeights(b, ctx, store, spec, res.Final, tr)

	var temporalTime, localTime time.Duration
	var timed []string
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		viaTemporal()
		temporalTime += time.Since(start)
		timed = append(timed, fmt.Sprintf("bench-%d", runs))

		start = time.Now()
		inProcess()
		localTime += time.Since(start)
	}
	b.StopTimer()
	chunks := float64(b.N * benchChunks)
	a := float64(temporalTime.Milliseconds()) / chunks
	l := float64(localTime.Milliseconds()) / chunks
	b.ReportMetric(a, "ms/chunk-temporal")
	b.ReportMetric(l, "ms/chunk-inprocess")
	b.ReportMetric((a-l)/l*100, "overhead_%")

	// Where the Temporal path's time goes, from the server's event times.
	var sp chunkSpans
	for _, id := range timed {
		sp.add(b, ctx, tc, id)
	}
	b.ReportMetric(sp.queue.Seconds()*1000/chunks, "ms/chunk-queued")
	b.ReportMetric(sp.activity.Seconds()*1000/chunks, "ms/chunk-activity")
	b.ReportMetric(sp.workflow.Seconds()*1000/chunks, "ms/chunk-workflow-task")
}

// chunkSpans splits TrainWorkflow runs' time by the server's event times:
// queued is from ActivityTaskScheduled to ActivityTaskStarted (the
// training worker's poll), activity from Started to Completed (the
// activity on the worker: environment, checkpoint load, training,
// checkpoint and metrics save, log upload, and the completion call), and
// workflow from Completed to the next ActivityTaskScheduled or the
// workflow's completion (a workflow task round trip), plus the first
// workflow task.
type chunkSpans struct {
	queue, activity, workflow time.Duration
}

func (s *chunkSpans) add(b *testing.B, ctx context.Context, c client.Client, id string) {
	b.Helper()
	var last time.Time // the event that opened the current span
	it := c.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			b.Fatal(err)
		}
		at := ev.GetEventTime().AsTime()
		switch ev.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
			last = at
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
			s.workflow += at.Sub(last)
			last = at
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED:
			s.queue += at.Sub(last)
			last = at
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
			s.activity += at.Sub(last)
			last = at
		}
	}
}

// benchEnv builds the spec's training environment as the TrainChunk
// activity does (activities' trainingEnv).
func benchEnv(b *testing.B, spec *api.ExperimentSpec) *sim.Env {
	b.Helper()
	a, err := sim.LookupApp(spec.Spec.App, spec.Spec.Agent.Seed)
	if err != nil {
		b.Fatal(err)
	}
	sc, err := sim.ScenarioFor(a, spec.Spec.Load.TrainingScenario)
	if err != nil {
		b.Fatal(err)
	}
	g, err := envs.ParseGoal(spec.Spec.Agent.Goal)
	if err != nil {
		b.Fatal(err)
	}
	reward := envs.DefaultRewardConfig(g, a.LatencyCapMs)
	reward.SLO = spec.Spec.Agent.SLO.Std()
	env, err := sim.NewEnv(sim.EnvOptions{
		Options:      sim.Options{App: a, Scenario: sc, StepPeriod: spec.Spec.Cluster.StepPeriod.Std()},
		Reward:       reward,
		EpisodeSteps: spec.Spec.Agent.EpisodeSteps,
	})
	if err != nil {
		b.Fatal(err)
	}
	return env
}

// checkSameWeights loads the final checkpoint of the Temporal path and
// compares its weights with the in-process trainer's: chunked training
// resumes exactly, so they must be equal, or the comparison is unfair.
func checkSameWeights(b *testing.B, ctx context.Context, store *objstore.MinIOStore, spec *api.ExperimentSpec, final api.CheckpointRef, tr *model.Trainer) {
	b.Helper()
	bucket, err := store.OpenBucket(ctx, spec.Spec.Storage.Bucket)
	if err != nil {
		b.Fatal(err)
	}
	data, _, err := objstore.GetVerified(ctx, bucket, final.Key, final.SHA256)
	if err != nil {
		b.Fatal(err)
	}
	loaded, err := model.Load(bytes.NewReader(data), benchEnv(b, spec))
	if err != nil {
		b.Fatal(err)
	}
	if got, want := loaded.Counters().Steps, tr.Counters().Steps; got != want {
		b.Fatalf("Temporal path trained %d steps, in-process %d", got, want)
	}
	if !slices.Equal(loaded.Weights(), tr.Weights()) {
		b.Errorf("the chunked and in-process trainings end with different weights")
	}
}
