package loadtest

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// TokenEnv names the environment variable holding the load agent's shared
// token: the agent requires it when set, and RemoteRunner sends it.
const TokenEnv = "GRL_AGENT_TOKEN"

// DefaultAgentPort is the seed's load agent port (seed-spec 4.5).
const DefaultAgentPort = "8099"

// maxRequestBody bounds POST /jobs; a generated Locust file is about 10 kB.
const maxRequestBody = 4 << 20

// StartRequest is the body of POST /jobs.
type StartRequest struct {
	// Name, App, Host: as in Job.
	Name string `json:"name,omitempty"`
	App  string `json:"app,omitempty"`
	// Locustfile is the Locust file's text.
	Locustfile string `json:"locustfile"`
	Host       string `json:"host"`
	// Duration is a Go duration, e.g. "15m".
	Duration string `json:"duration"`
	// Scenario: as in Job.
	Scenario string `json:"scenario,omitempty"`
}

// Error codes of the agent's error responses ({"error": ..., "code": ...}).
const (
	codeBadRequest   = "bad_request"
	codeUnauthorized = "unauthorized"
	codeNotFound     = "not_found"
	codeNotDone      = "not_done"
	codeNoResults    = "no_results"
	codeInternal     = "internal"
)

type errorResponse struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

// AgentRunner is what an Agent serves: LocalRunner's Locust jobs, or jobs
// that replay a scenario in the emulator's twin (envs/emulator), behind one
// HTTP API. Status, Stop and Results are Runner's; the agent has already
// validated the job it passes to Launch.
type AgentRunner interface {
	// Launch starts job, or returns the job the runner already has under
	// its Name with created false. A job the runner refuses as such (one
	// for an app it does not run, a scenario it cannot resolve) is an
	// error wrapping ErrBadJob; any other error is the runner's failure.
	// ctx scopes the job as in Runner.Start.
	Launch(ctx context.Context, job Job) (h Handle, created bool, err error)
	// Jobs lists every job's status, oldest first.
	Jobs() []Status
	Status(ctx context.Context, h Handle) (Status, error)
	Stop(ctx context.Context, h Handle) (Status, error)
	Results(ctx context.Context, h Handle) (*Results, error)
}

// ErrBadJob: the runner refuses the job itself, because it is invalid
// (Job.Validate) or not one the runner can run. The agent answers it with
// 400 bad_request, so the caller knows a retry cannot help.
var ErrBadJob = errors.New("bad load job")

var _ AgentRunner = (*LocalRunner)(nil)

// AgentOptions configure an Agent.
type AgentOptions struct {
	// Token, when not empty, must come with every /jobs request as
	// "Authorization: Bearer <token>". It is never logged.
	Token string
	// Log receives one line per request; nil discards them.
	Log *slog.Logger
}

// Agent is the load agent's HTTP API over an AgentRunner:
//
//	GET  /healthz              {"status": "ok"} (no token needed)
//	POST /jobs                 StartRequest -> Status (201; 200 for a Name it already has)
//	GET  /jobs                 [Status], oldest first
//	GET  /jobs/{id}            Status
//	POST /jobs/{id}/stop       Status, once Locust has exited
//	GET  /jobs/{id}/results    Results: parsed series and totals, and the raw CSV files
//
// Errors are {"error": message, "code": code} with 400, 401, 404, 409
// (results of a running job) or 422 (a job that ended without results).
// Jobs run until they end or are stopped; they outlive the request that
// started them. Over a LocalRunner, closing the runner stops them and
// their records outlive the agent.
type Agent struct {
	runner AgentRunner
	token  [sha256.Size]byte
	auth   bool
	log    *slog.Logger
	mux    *http.ServeMux
}

// NewAgent returns the agent serving r's jobs.
func NewAgent(r AgentRunner, opts AgentOptions) *Agent {
	a := &Agent{runner: r, log: opts.Log, mux: http.NewServeMux()}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if opts.Token != "" {
		a.auth, a.token = true, sha256.Sum256([]byte(opts.Token))
	}
	a.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	a.mux.HandleFunc("POST /jobs", a.authorized(a.start))
	a.mux.HandleFunc("GET /jobs", a.authorized(a.list))
	a.mux.HandleFunc("GET /jobs/{id}", a.authorized(a.status))
	a.mux.HandleFunc("POST /jobs/{id}/stop", a.authorized(a.stop))
	a.mux.HandleFunc("GET /jobs/{id}/results", a.authorized(a.results))
	return a
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

// ServeHTTP serves the API and logs each request (method, path, status,
// duration; never its headers).
func (a *Agent) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
	a.mux.ServeHTTP(rec, r)
	a.log.Info("request", "method", r.Method, "path", r.URL.Path, "status", rec.code, "duration", time.Since(start).Round(time.Microsecond))
}

func (a *Agent) authorized(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if a.auth {
			given, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			sum := sha256.Sum256([]byte(given))
			// Comparing digests keeps the comparison constant-time whatever the length.
			if !ok || subtle.ConstantTimeCompare(sum[:], a.token[:]) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="grlscaler load agent"`)
				writeError(w, http.StatusUnauthorized, codeUnauthorized, errors.New("missing or wrong token (Authorization: Bearer $"+TokenEnv+")"))
				return
			}
		}
		h(w, r)
	}
}

func (a *Agent) start(w http.ResponseWriter, r *http.Request) {
	var req StartRequest
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
	job := Job{Name: req.Name, App: req.App, Locustfile: []byte(req.Locustfile), Host: req.Host, Duration: d, Scenario: req.Scenario}
	if err := job.Validate(); err != nil {
		writeError(w, http.StatusBadRequest, codeBadRequest, err)
		return
	}
	// The job belongs to the agent, not to this request: closing the
	// runner, not the end of the request, stops it.
	h, created, err := a.runner.Launch(context.WithoutCancel(r.Context()), job)
	if err != nil {
		writeRunnerError(w, err)
		return
	}
	st, err := a.runner.Status(r.Context(), h)
	if err != nil {
		writeRunnerError(w, err)
		return
	}
	code := http.StatusOK
	if created {
		code = http.StatusCreated
		w.Header().Set("Location", "/jobs/"+h.ID)
	}
	writeJSON(w, code, st)
}

func (a *Agent) list(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, a.runner.Jobs())
}

func (a *Agent) status(w http.ResponseWriter, r *http.Request) {
	st, err := a.runner.Status(r.Context(), Handle{ID: r.PathValue("id")})
	if err != nil {
		writeRunnerError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (a *Agent) stop(w http.ResponseWriter, r *http.Request) {
	st, err := a.runner.Stop(r.Context(), Handle{ID: r.PathValue("id")})
	if err != nil {
		writeRunnerError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (a *Agent) results(w http.ResponseWriter, r *http.Request) {
	res, err := a.runner.Results(r.Context(), Handle{ID: r.PathValue("id")})
	if err != nil {
		writeRunnerError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func writeRunnerError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, ErrBadJob):
		writeError(w, http.StatusBadRequest, codeBadRequest, err)
	case errors.Is(err, ErrNotFound):
		writeError(w, http.StatusNotFound, codeNotFound, err)
	case errors.Is(err, ErrNotDone):
		writeError(w, http.StatusConflict, codeNotDone, err)
	case errors.Is(err, ErrNoResults):
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
