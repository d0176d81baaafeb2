package emulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/grlscaler/grlscaler/loadtest"
)

// maxRequestBody bounds POST /jobs, as the Locust agent does.
const maxRequestBody = 4 << 20

// The load agent's error codes (loadtest/agent.go), which RemoteRunner
// turns back into loadtest.ErrNotFound, ErrNotDone and ErrNoResults.
const (
	codeBadRequest = "bad_request"
	codeNotFound   = "not_found"
	codeNotDone    = "not_done"
	codeNoResults  = "no_results"
	codeInternal   = "internal"
)

type errorResponse struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

// Handler serves, on one mux, everything the k8s backend reads besides the
// API server, so one loopback port is PROMETHEUS_URL, LINKERD_VIZ_API_URL
// (with /api/edges) and M1_HOST at once:
//
//	GET  /healthz                the load agent's API (loadtest.Agent),
//	POST /jobs                   where a job replays its scenario in the
//	GET  /jobs                   twin; the token, if any, is not checked
//	GET  /jobs/{id}
//	POST /jobs/{id}/stop
//	GET  /jobs/{id}/results
//	GET|POST /api/v1/query       Prometheus instant queries (envs/k8s's)
//	GET  /api/edges              Linkerd viz edges
//
// Starting a job while another runs stops that one: the twin runs one
// scenario at a time, as the cluster has one app to load.
func (e *Emulator) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("POST /jobs", e.startJob)
	mux.HandleFunc("GET /jobs", e.listJobs)
	mux.HandleFunc("GET /jobs/{id}", e.jobStatus)
	mux.HandleFunc("POST /jobs/{id}/stop", e.stopJob)
	mux.HandleFunc("GET /jobs/{id}/results", e.jobResults)
	mux.HandleFunc("GET /api/v1/query", e.query)
	mux.HandleFunc("POST /api/v1/query", e.query)
	mux.HandleFunc("GET /api/edges", e.vizEdges)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		mux.ServeHTTP(rec, r)
		// Debug: the backend sends a score of queries per observation.
		e.o.Log.Debug("request", "method", r.Method, "path", r.URL.Path, "status", rec.code, "duration", time.Since(start).Round(time.Microsecond))
	})
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

func (e *Emulator) startJob(w http.ResponseWriter, r *http.Request) {
	var req loadtest.StartRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequestBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, codeBadRequest, fmt.Errorf("decode start request: %w", err))
		return
	}
	d, err := time.ParseDuration(req.Duration)
	if err != nil {
		writeError(w, http.StatusBadRequest, codeBadRequest, fmt.Errorf("duration: %w", err))
		return
	}
	lj := loadtest.Job{Name: req.Name, App: req.App, Locustfile: []byte(req.Locustfile), Host: req.Host, Duration: d, Scenario: req.Scenario}
	if err := lj.Validate(); err != nil {
		writeError(w, http.StatusBadRequest, codeBadRequest, err)
		return
	}
	if req.App != "" && req.App != e.o.App.Name {
		writeError(w, http.StatusBadRequest, codeBadRequest, fmt.Errorf("job app %q: the emulator runs %s", req.App, e.o.App.Name))
		return
	}
	sc, err := e.scenarioOf(&req, d)
	if err != nil {
		writeError(w, http.StatusBadRequest, codeBadRequest, err)
		return
	}
	id, err := newID()
	if err != nil {
		writeError(w, http.StatusInternalServerError, codeInternal, err)
		return
	}

	e.mu.Lock()
	if j, ok := e.names[req.Name]; ok && req.Name != "" {
		// The same Name is the same job: a retried activity must not
		// restart the load.
		st := j.st
		e.mu.Unlock()
		writeJSON(w, http.StatusOK, st)
		return
	}
	if err := e.switchTo(sc); err != nil {
		e.mu.Unlock()
		writeError(w, http.StatusInternalServerError, codeInternal, err)
		return
	}
	if prev := e.active; prev != nil {
		e.finish(prev, loadtest.StateStopped, "superseded by job "+id+": the emulator's twin runs one scenario at a time")
	}
	j := e.newJob(id, req.Name, sc, d)
	e.jobs[id] = j
	if req.Name != "" {
		e.names[req.Name] = j
	}
	e.order = append(e.order, j)
	e.active = j
	st := j.st
	e.mu.Unlock()

	e.o.Log.Info("emulated load job started", "id", id, "name", req.Name, "scenario", sc.Name, "duration", d)
	w.Header().Set("Location", "/jobs/"+id)
	writeJSON(w, http.StatusCreated, st)
}

func (e *Emulator) listJobs(w http.ResponseWriter, _ *http.Request) {
	e.mu.Lock()
	out := make([]loadtest.Status, 0, len(e.order))
	for _, j := range e.order {
		out = append(out, j.st)
	}
	e.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

// errNoJob answers an unknown job ID.
func errNoJob(id string) error { return fmt.Errorf("%w: %q", loadtest.ErrNotFound, id) }

func (e *Emulator) jobStatus(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	j, ok := e.jobs[r.PathValue("id")]
	var st loadtest.Status
	if ok {
		st = j.st
	}
	e.mu.Unlock()
	if !ok {
		writeRunnerError(w, errNoJob(r.PathValue("id")))
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// stopJob stops a running job at once (the twin has no Locust to wait
// for) and returns the twin to idle; stopping a job that has ended
// changes nothing.
func (e *Emulator) stopJob(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	j, ok := e.jobs[r.PathValue("id")]
	var err error
	if ok && !j.st.State.Done() {
		e.finish(j, loadtest.StateStopped, "stopped on request")
		err = e.switchTo(e.idleScenario())
	}
	var st loadtest.Status
	if ok {
		st = j.st
	}
	e.mu.Unlock()
	switch {
	case !ok:
		writeRunnerError(w, errNoJob(r.PathValue("id")))
	case err != nil:
		writeError(w, http.StatusInternalServerError, codeInternal, err)
	default:
		writeJSON(w, http.StatusOK, st)
	}
}

func (e *Emulator) jobResults(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	e.mu.Lock()
	j, ok := e.jobs[id]
	var st loadtest.Status
	var files map[string][]byte
	if ok {
		st = j.st
		if st.State.Done() {
			files = j.files()
		}
	}
	e.mu.Unlock()
	switch {
	case !ok:
		writeRunnerError(w, errNoJob(id))
		return
	case !st.State.Done():
		writeRunnerError(w, fmt.Errorf("%w: %s", loadtest.ErrNotDone, id))
		return
	}
	res, err := loadtest.ParseResults(files, e.o.App)
	if err != nil {
		writeRunnerError(w, fmt.Errorf("%w: load job %s (%s): %w", loadtest.ErrNoResults, id, st.State, err))
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func writeRunnerError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, loadtest.ErrNotFound):
		writeError(w, http.StatusNotFound, codeNotFound, err)
	case errors.Is(err, loadtest.ErrNotDone):
		writeError(w, http.StatusConflict, codeNotDone, err)
	case errors.Is(err, loadtest.ErrNoResults):
		writeError(w, http.StatusUnprocessableEntity, codeNoResults, err)
	default:
		writeError(w, http.StatusInternalServerError, codeInternal, err)
	}
}

func writeError(w http.ResponseWriter, status int, code string, err error) {
	writeJSON(w, status, errorResponse{Error: err.Error(), Code: code})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
