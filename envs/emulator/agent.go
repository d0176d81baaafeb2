package emulator

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/grlscaler/grlscaler/loadtest"
)

// Handler serves, on one mux, everything the k8s backend reads besides the
// API server, so one loopback port is PROMETHEUS_URL, LINKERD_VIZ_API_URL
// (with /api/edges) and M1_HOST at once:
//
//	GET  /healthz                the load agent's API (loadtest.Agent),
//	POST /jobs                   where a job replays its scenario in the
//	GET  /jobs                   twin; with Options.Token set, /jobs
//	GET  /jobs/{id}              requests need it as a bearer token
//	POST /jobs/{id}/stop
//	GET  /jobs/{id}/results
//	GET|POST /api/v1/query       Prometheus instant queries (envs/k8s's)
//	GET  /api/edges              Linkerd viz edges
//
// Starting a job while another runs stops that one: the twin runs one
// scenario at a time, as the cluster has one app to load.
func (e *Emulator) Handler() http.Handler {
	agent := loadtest.NewAgent(runner{e}, loadtest.AgentOptions{Token: e.o.Token, Log: e.o.Log})
	mux := http.NewServeMux()
	mux.Handle("/healthz", agent)
	mux.Handle("/jobs", agent)
	mux.Handle("/jobs/", agent)
	mux.HandleFunc("GET /api/v1/query", e.query)
	mux.HandleFunc("POST /api/v1/query", e.query)
	mux.HandleFunc("GET /api/edges", e.vizEdges)
	return mux
}

// runner is the emulator's jobs as the load agent serves them. Their
// state lives in the Emulator, under e.mu, because each step of the twin
// records into the active job and ends it.
type runner struct{ e *Emulator }

var _ loadtest.AgentRunner = runner{}

// Launch resolves the job's scenario and replays it in the twin from its
// start, stopping the job that runs; a Name the emulator already has is
// that job. A job for another app or without a scenario the twin knows is
// refused with loadtest.ErrBadJob.
func (r runner) Launch(ctx context.Context, lj loadtest.Job) (loadtest.Handle, bool, error) {
	e := r.e
	if err := ctx.Err(); err != nil {
		return loadtest.Handle{}, false, err
	}
	if lj.App != "" && lj.App != e.o.App.Name {
		return loadtest.Handle{}, false, fmt.Errorf("%w: job app %q: the emulator runs %s", loadtest.ErrBadJob, lj.App, e.o.App.Name)
	}
	sc, err := e.scenarioOf(lj)
	if err != nil {
		return loadtest.Handle{}, false, fmt.Errorf("%w: %w", loadtest.ErrBadJob, err)
	}
	id, err := newID()
	if err != nil {
		return loadtest.Handle{}, false, err
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	if j, ok := e.names[lj.Name]; ok && lj.Name != "" {
		// The same Name is the same job: a retried activity must not
		// restart the load.
		return loadtest.Handle{ID: j.st.ID}, false, nil
	}
	if err := e.switchTo(sc); err != nil {
		return loadtest.Handle{}, false, err
	}
	if prev := e.active; prev != nil {
		e.finish(prev, loadtest.StateStopped, "superseded by job "+id+": the emulator's twin runs one scenario at a time")
	}
	j := e.newJob(id, lj.Name, sc, lj.Duration)
	e.jobs[id] = j
	if lj.Name != "" {
		e.names[lj.Name] = j
	}
	e.order = append(e.order, j)
	e.active = j
	e.o.Log.Info("emulated load job started", "id", id, "name", lj.Name, "scenario", sc.Name, "duration", lj.Duration)
	return loadtest.Handle{ID: id}, true, nil
}

// Jobs lists the jobs in start order.
func (r runner) Jobs() []loadtest.Status {
	e := r.e
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]loadtest.Status, 0, len(e.order))
	for _, j := range e.order {
		out = append(out, j.st)
	}
	return out
}

// lookup returns the job h names; e.mu is held.
func (e *Emulator) lookup(h loadtest.Handle) (*job, error) {
	j, ok := e.jobs[h.ID]
	if !ok {
		return nil, fmt.Errorf("%w: %q", loadtest.ErrNotFound, h.ID)
	}
	return j, nil
}

// Status reports the job's status.
func (r runner) Status(_ context.Context, h loadtest.Handle) (loadtest.Status, error) {
	e := r.e
	e.mu.Lock()
	defer e.mu.Unlock()
	j, err := e.lookup(h)
	if err != nil {
		return loadtest.Status{}, err
	}
	return j.st, nil
}

// Stop stops a running job at once (the twin has no Locust to wait for)
// and returns the twin to idle; stopping a job that has ended changes
// nothing.
func (r runner) Stop(_ context.Context, h loadtest.Handle) (loadtest.Status, error) {
	e := r.e
	e.mu.Lock()
	defer e.mu.Unlock()
	j, err := e.lookup(h)
	if err != nil {
		return loadtest.Status{}, err
	}
	if !j.st.State.Done() {
		e.finish(j, loadtest.StateStopped, "stopped on request")
		if err := e.switchTo(e.idleScenario()); err != nil {
			return loadtest.Status{}, err
		}
	}
	return j.st, nil
}

// Results renders the twin's steps of a job that is done as Locust's
// files and parses them as a Locust agent does.
func (r runner) Results(_ context.Context, h loadtest.Handle) (*loadtest.Results, error) {
	e := r.e
	e.mu.Lock()
	j, err := e.lookup(h)
	var st loadtest.Status
	var files map[string][]byte
	if err == nil {
		st = j.st
		if st.State.Done() {
			files = j.files()
		}
	}
	e.mu.Unlock()
	switch {
	case err != nil:
		return nil, err
	case !st.State.Done():
		return nil, fmt.Errorf("%w: %s", loadtest.ErrNotDone, h.ID)
	}
	res, err := loadtest.ParseResults(files, e.o.App)
	if err != nil {
		return nil, fmt.Errorf("%w: load job %s (%s): %w", loadtest.ErrNoResults, h.ID, st.State, err)
	}
	return res, nil
}

// writeJSON answers the Prometheus and viz requests; the agent writes its
// own.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
