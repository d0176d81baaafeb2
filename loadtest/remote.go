package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// HostEnv names the environment variable that locates the load agent: the
// seed's M1_HOST (seed-spec 4.5; the seed later renamed it LOADTEST_SERVER).
const HostEnv = "M1_HOST"

// RemoteRunner runs jobs on a load agent (grlctl agent) over HTTP.
type RemoteRunner struct {
	// BaseURL is the agent's URL, e.g. http://10.0.0.5:8099.
	BaseURL string
	// Token is sent as "Authorization: Bearer <token>" when not empty.
	Token string
	// Client defaults to an http.Client with a 30 s timeout.
	Client *http.Client
	// StopTimeout bounds the stop request sent when a job's context ends;
	// zero means 30 s.
	StopTimeout time.Duration

	mu      sync.Mutex
	release map[string]func() bool
}

// NewRemoteRunnerFromEnv returns a runner for the agent that getenv's
// M1_HOST names (a host, host:port, or URL; the port defaults to 8099),
// with the token from GRL_AGENT_TOKEN if set.
func NewRemoteRunnerFromEnv(getenv func(string) string) (*RemoteRunner, error) {
	host := strings.TrimSpace(getenv(HostEnv))
	if host == "" {
		return nil, fmt.Errorf("%s is not set: it names the load agent (host, host:port or URL)", HostEnv)
	}
	base, err := agentURL(host)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", HostEnv, err)
	}
	return &RemoteRunner{BaseURL: base, Token: getenv(TokenEnv)}, nil
}

// agentURL turns M1_HOST into the agent's base URL.
func agentURL(host string) (string, error) {
	if !strings.Contains(host, "://") {
		host = "http://" + host
	}
	u, err := url.Parse(host)
	if err != nil {
		return "", err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return "", fmt.Errorf("%q is not an http(s) host without credentials", u.Redacted())
	}
	if u.Port() == "" {
		u.Host = net.JoinHostPort(u.Hostname(), DefaultAgentPort)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	return u.String(), nil
}

// Start asks the agent to start job. When ctx ends before the job has
// been seen to end, the runner asks the agent to stop it.
func (r *RemoteRunner) Start(ctx context.Context, job Job) (Handle, error) {
	if err := job.Validate(); err != nil {
		return Handle{}, fmt.Errorf("%w: %w", ErrBadJob, err)
	}
	req := StartRequest{Name: job.Name, App: job.App, Locustfile: string(job.Locustfile), Host: job.Host, Duration: job.Duration.String(), Scenario: job.Scenario}
	var st Status
	if err := r.do(ctx, http.MethodPost, "/jobs", req, &st); err != nil {
		return Handle{}, err
	}
	h := Handle{ID: st.ID}
	if !st.State.Done() {
		r.mu.Lock()
		if r.release == nil {
			r.release = map[string]func() bool{}
		}
		if _, ok := r.release[h.ID]; !ok {
			r.release[h.ID] = context.AfterFunc(ctx, func() {
				timeout := r.StopTimeout
				if timeout == 0 {
					timeout = 30 * time.Second
				}
				sctx, cancel := context.WithTimeout(context.Background(), timeout)
				defer cancel()
				_, _ = r.Stop(sctx, h)
			})
		}
		r.mu.Unlock()
	}
	return h, nil
}

// forget detaches a job that has ended from its context.
func (r *RemoteRunner) forget(h Handle) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if release, ok := r.release[h.ID]; ok {
		release()
		delete(r.release, h.ID)
	}
}

// Status asks the agent for the job's status.
func (r *RemoteRunner) Status(ctx context.Context, h Handle) (Status, error) {
	var st Status
	if err := r.do(ctx, http.MethodGet, "/jobs/"+url.PathEscape(h.ID), nil, &st); err != nil {
		return Status{}, err
	}
	if st.State.Done() {
		r.forget(h)
	}
	return st, nil
}

// Stop asks the agent to stop the job and returns its status once Locust
// has exited.
func (r *RemoteRunner) Stop(ctx context.Context, h Handle) (Status, error) {
	var st Status
	if err := r.do(ctx, http.MethodPost, "/jobs/"+url.PathEscape(h.ID)+"/stop", nil, &st); err != nil {
		return Status{}, err
	}
	r.forget(h)
	return st, nil
}

// Results fetches the job's results, raw CSV files included.
func (r *RemoteRunner) Results(ctx context.Context, h Handle) (*Results, error) {
	var res Results
	if err := r.do(ctx, http.MethodGet, "/jobs/"+url.PathEscape(h.ID)+"/results", nil, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// Jobs lists the agent's jobs.
func (r *RemoteRunner) Jobs(ctx context.Context) ([]Status, error) {
	var out []Status
	err := r.do(ctx, http.MethodGet, "/jobs", nil, &out)
	return out, err
}

// do sends one request and decodes the answer into out; an error answer
// becomes the matching sentinel (ErrNotFound, ErrNotDone, ErrNoResults).
func (r *RemoteRunner) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, r.BaseURL+path, rd)
	if err != nil {
		return fmt.Errorf("load agent: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.Token != "" {
		req.Header.Set("Authorization", "Bearer "+r.Token)
	}
	client := r.Client
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("load agent %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		var e errorResponse
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(b))
		}
		ae := &agentError{op: method + " " + path, status: resp.Status, msg: e.Error}
		switch e.Code {
		case codeNotFound:
			ae.kind = ErrNotFound
		case codeNotDone:
			ae.kind = ErrNotDone
		case codeNoResults:
			ae.kind = ErrNoResults
		case codeBadRequest:
			ae.kind = ErrBadJob
		}
		return ae
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("load agent %s %s: decode: %w", method, path, err)
	}
	return nil
}

// agentError is an error answer of the agent; it unwraps to the sentinel
// its code stands for, if any.
type agentError struct {
	op, status, msg string
	kind            error
}

func (e *agentError) Error() string { return "load agent " + e.op + ": " + e.status + ": " + e.msg }
func (e *agentError) Unwrap() error { return e.kind }
