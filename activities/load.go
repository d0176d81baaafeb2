package activities

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/grlscaler/grlscaler/envs/sim"
	"github.com/grlscaler/grlscaler/infra/objstore"
	"github.com/grlscaler/grlscaler/loadtest"
	"github.com/grlscaler/grlscaler/workflows/api"
)

// LoadResultsKey is where the load stage keeps a job's full Locust
// results.
func LoadResultsKey(spec *api.ExperimentSpec, id, job string) string {
	return experimentKey(spec, id, "loads", job+".json")
}

// locustRunnerOf is where Locust runs for spec: load.locust.runner, except
// that a load stage run by the kubernetes stage runner is a Job of the
// Locust image.
func locustRunnerOf(spec *api.ExperimentSpec) string {
	if spec.Spec.Execution.RunnerFor(api.StageNameLoad) == api.StageRunnerKubernetes {
		return api.LocustKubernetes
	}
	return spec.Spec.Load.Locust.Runner
}

// runLoad is the load stage: it starts the scenario's Locust job, waits
// for its end with a heartbeat per poll, stores Locust's results and
// returns their summary. When ctx ends first, it stops the job.
func (a *Activities) runLoad(ctx context.Context, in api.LoadInput) (api.LoadResult, error) {
	log := logger(ctx)
	spec := &in.Spec
	if spec.Spec.Cluster.Mode != api.ModeK8s || spec.Spec.Load.Locust == nil {
		return api.LoadResult{}, invalidSpec("load %s: the load stage needs cluster.mode k8s and load.locust", in.Name)
	}
	ap, err := lookupApp(spec)
	if err != nil {
		return api.LoadResult{}, err
	}
	sc, err := sim.ScenarioFor(ap, in.Scenario)
	if err != nil {
		return api.LoadResult{}, invalidSpec("load %s: scenario %q: %w", in.Name, in.Scenario, err)
	}
	d := in.Duration.Std()
	if d <= 0 {
		d = sc.Duration
	}
	period := spec.Spec.Cluster.StepPeriod.Std()
	job, err := loadtest.NewJob(sc.WithDuration(d), ap, spec.Spec.Load.Locust.Host, loadtest.GenerateOptions{SampleInterval: max(period, time.Second)})
	if err != nil {
		return api.LoadResult{}, invalidSpec("load %s: %w", in.Name, err)
	}
	job.Name, job.Scenario = in.Name, in.Scenario
	r, err := a.locustRunner(ctx, spec)
	if err != nil {
		return api.LoadResult{}, fmt.Errorf("load %s: %w", in.Name, err)
	}
	h, err := r.Start(ctx, job)
	if errors.Is(err, loadtest.ErrBadJob) {
		// The runner refuses the job itself: retrying sends it again.
		return api.LoadResult{}, invalidSpec("start load %s (%s): %w", in.Name, in.Scenario, err)
	}
	if err != nil {
		return api.LoadResult{}, fmt.Errorf("start load %s (%s): %w", in.Name, in.Scenario, err)
	}
	log.Info("load started", "job", in.Name, "scenario", in.Scenario, "duration", d.String(), "locust", locustRunnerOf(spec), "id", h.ID)
	poll := min(5*time.Second, period)
	var st loadtest.Status
	for {
		st, err = r.Status(ctx, h)
		if err == nil && st.State.Done() {
			break
		}
		if err != nil && ctx.Err() == nil {
			log.Warn("load status", "job", in.Name, "error", err)
		}
		heartbeat(ctx, map[string]any{"load": in.Name, "state": st.State})
		if err := sleepCtx(ctx, poll); err != nil {
			// The runner stops a job whose context ends; say so once more
			// in case the runner's own stop did not reach it.
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			_, _ = r.Stop(sctx, h)
			cancel()
			return api.LoadResult{}, fmt.Errorf("load %s: %w", in.Name, err)
		}
	}
	out := api.LoadResult{Job: in.Name, State: string(st.State)}
	res, err := r.Results(ctx, h)
	if err != nil {
		// A Locust that did not finish is retried with the activity.
		return out, fmt.Errorf("load %s ended %s (%s): %w", in.Name, st.State, st.Reason, err)
	}
	data, err := json.Marshal(res)
	if err != nil {
		return out, fmt.Errorf("load %s: encode results: %w", in.Name, err)
	}
	store, err := a.storeFor(ctx, spec)
	if err != nil {
		return out, fmt.Errorf("load %s: %w", in.Name, err)
	}
	key := LoadResultsKey(spec, in.ExperimentID, in.Name)
	info, err := objstore.PutVerified(ctx, store, key, data)
	if err != nil {
		return out, fmt.Errorf("load %s: store results: %w", in.Name, err)
	}
	t := res.Total
	out.ResultsKey, out.SHA256 = key, info.SHA256
	out.Requests, out.Failures, out.RPS = t.Requests, t.Failures, finite(t.RPS)
	out.LatencyP50Ms, out.LatencyP95Ms, out.LatencyP99Ms = finite(t.P50), finite(t.P95), finite(t.P99)
	log.Info("load done", "job", in.Name, "state", st.State, "requests", t.Requests, "rps", t.RPS, "p95Ms", t.P95, "results", key)
	return out, nil
}

// LoadRunnerFor returns the Locust runner of kind (an api.Locust* name)
// for an experiment. Nil means the real runners: a local Locust, the load
// agent at M1_HOST, or Jobs in the app's namespace.
type LoadRunnerFor func(ctx context.Context, spec *api.ExperimentSpec, kind string) (loadtest.Runner, error)

// localLoad is the process's local Locust runner (see localLocust).
var localLoad = struct {
	sync.Mutex
	r *loadtest.LocalRunner
}{}

// locustRunner returns the Locust runner of spec.
func (a *Activities) locustRunner(ctx context.Context, spec *api.ExperimentSpec) (loadtest.Runner, error) {
	if a.LoadRunners != nil {
		return a.LoadRunners(ctx, spec, locustRunnerOf(spec))
	}
	switch kind := locustRunnerOf(spec); kind {
	case api.LocustLocal:
		return a.localLocust()
	case api.LocustRemote:
		return loadtest.NewRemoteRunnerFromEnv(os.Getenv)
	case api.LocustKubernetes:
		connect := a.Kube
		if connect == nil {
			connect = connectKube
		}
		kube, _, err := connect(ctx, spec.Spec.Cluster.K8s)
		if err != nil {
			return nil, fmt.Errorf("connect to the cluster: %w", err)
		}
		return loadtest.NewKubernetesJobRunner(kube, loadtest.KubernetesOptions{Namespace: spec.Spec.Cluster.K8s.Namespace})
	default:
		return nil, invalidSpec("load.locust.runner: unknown runner %q", kind)
	}
}

// localLocust is the process's local Locust runner, made on first use. The
// worker keeps its jobs' records in one directory, so that a restarted
// worker finds the jobs a retried activity asks for; a `grlctl stage load`
// process uses a directory of its own.
func (a *Activities) localLocust() (*loadtest.LocalRunner, error) {
	localLoad.Lock()
	defer localLoad.Unlock()
	if localLoad.r != nil {
		return localLoad.r, nil
	}
	dir := os.TempDir() + "/grlscaler-locust"
	if a.InStage {
		d, err := os.MkdirTemp("", "grlscaler-stage-locust-")
		if err != nil {
			return nil, fmt.Errorf("local locust runner: %w", err)
		}
		dir = d
	}
	r, err := loadtest.NewLocalRunner(dir, loadtest.LocalOptions{})
	if err != nil {
		return nil, fmt.Errorf("local locust runner: %w", err)
	}
	localLoad.r = r
	return r, nil
}

// loadRun is a load stage running beside an activity's own work.
type loadRun struct {
	cancel context.CancelFunc
	done   chan struct{}
	res    api.LoadResult
	err    error
}

// startLoad starts the load stage for scenario, lasting d, beside the
// caller's work. The job is named after the work plus a suffix of its
// own, so that a retry (of the activity, or of a stage in a child process
// or Job, which knows no attempt number) gets fresh load rather than an
// earlier attempt's finished job; an earlier attempt's job that outlived
// its worker ends at its own deadline.
func (a *Activities) startLoad(ctx context.Context, spec *api.ExperimentSpec, id, scenario string, d time.Duration, work ...string) *loadRun {
	in := api.LoadInput{
		ExperimentID: id, Spec: *spec, Scenario: scenario, Duration: api.Duration(d),
		Name: loadJobName(id, append(work, rand.Text()[:8])...),
	}
	lctx, cancel := context.WithCancel(ctx)
	l := &loadRun{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		l.res, l.err = a.RunLoad(lctx, in)
	}()
	return l
}

// RunLoad runs the load stage with the runner the spec names for it and
// waits for its end: in this process, as `grlctl stage load` in a child
// process, or (kubernetes) as a Job of the Locust image, which runLoad
// creates from here since that container is not grlctl.
func (a *Activities) RunLoad(ctx context.Context, in api.LoadInput) (api.LoadResult, error) {
	if in.Spec.Spec.Execution.RunnerFor(api.StageNameLoad) == api.StageRunnerKubernetes {
		return a.runLoad(ctx, in)
	}
	return runStage(ctx, a, api.StageNameLoad, in, a.runLoad)
}

// failed returns the stage's error once it has ended with one: load that
// could not start, or Locust that died, fails the work it was for.
func (l *loadRun) failed() error {
	select {
	case <-l.done:
		if l.err != nil {
			return fmt.Errorf("load: %w", l.err)
		}
		if l.res.State != "" && l.res.State != string(loadtest.StateSucceeded) {
			return fmt.Errorf("load %s ended %s", l.res.Job, l.res.State)
		}
	default:
	}
	return nil
}

// wait waits for the load to end by itself (or ctx) and returns its
// result.
func (l *loadRun) wait(ctx context.Context) (api.LoadResult, error) {
	select {
	case <-l.done:
	case <-ctx.Done():
		l.stop()
		return api.LoadResult{}, ctx.Err()
	}
	if l.err != nil {
		return l.res, l.err
	}
	return l.res, nil
}

// stop ends the load now; its results are not wanted.
func (l *loadRun) stop() {
	l.cancel()
	<-l.done
}

var errLoadEnded = errors.New("the load ended before the work it was for")

// ended returns an error once the stage has ended, for whatever reason.
func (l *loadRun) ended() error {
	select {
	case <-l.done:
		if err := l.failed(); err != nil {
			return err
		}
		return errLoadEnded
	default:
		return nil
	}
}
