package loadtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/grlscaler/grlscaler/envs/app"
	"github.com/grlscaler/grlscaler/envs/load"
)

// Job is one Locust run.
type Job struct {
	// Name optionally identifies the job: a runner asked to start a Name it
	// already has returns that job instead of starting another, so a retried
	// activity does not double the load. A DNS-1123 label (it names
	// Kubernetes objects); empty means a new job every time.
	Name string
	// App names the app (envs/app) whose request types the results are
	// mapped to; empty leaves them unmapped.
	App string
	// Locustfile is the Locust file's content (GenerateLocustfile).
	Locustfile []byte
	// Host is Locust's --host: the target, e.g. http://frontend.ob.svc:80
	// or redis://redis-leader.redis.svc:6379.
	Host string
	// Duration is how long the file's shape runs. Runners stop a job that
	// is still running Grace after it (LocalRunner.Grace and the like).
	Duration time.Duration
	// Scenario optionally names the scenario the Locust file was generated
	// from (envs/load, e.g. "peak"). Locust agents only pass it along, since
	// the file itself is what they run; an emulated agent (envs/emulator)
	// has no Locust and replays the named scenario in its digital twin.
	Scenario string
}

// NewJob generates the Locust file of scenario s for app a and returns the
// job that runs it against host for the scenario's duration.
func NewJob(s load.Scenario, a *app.App, host string, opts GenerateOptions) (Job, error) {
	f, err := GenerateLocustfile(s, a, opts)
	if err != nil {
		return Job{}, err
	}
	j := Job{App: a.Name, Locustfile: f, Host: host, Duration: s.Duration, Scenario: s.Name}
	return j, j.Validate()
}

var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)

// Validate names the first bad field.
func (j Job) Validate() error {
	if j.Name != "" && !dnsLabel.MatchString(j.Name) {
		return fmt.Errorf("job name %q must be a DNS-1123 label (lowercase letters, digits and '-', at most 63)", j.Name)
	}
	if j.App != "" {
		if _, err := app.Lookup(j.App); err != nil {
			return fmt.Errorf("job app: %w", err)
		}
	}
	if err := checkHost(j.App, j.Host); err != nil {
		return err
	}
	if len(j.Locustfile) == 0 {
		return errors.New("job has no locustfile")
	}
	if j.Duration <= 0 {
		return fmt.Errorf("job duration %v must be positive", j.Duration)
	}
	return nil
}

// checkHost checks the target the way the app's user class reads it:
// Locust's HTTP users need an http(s) URL (else every user fails to start
// and the run sends nothing), redis-py a redis://, rediss:// or unix://
// URL, or host:port.
func checkHost(appName, host string) error {
	if host == "" {
		return errors.New("job has no host")
	}
	if !strings.Contains(host, "://") {
		if _, _, err := net.SplitHostPort(host); appName != appRedis || err != nil {
			return fmt.Errorf("job host must be a URL (or host:port for %s)", appRedis)
		}
		return nil
	}
	u, err := url.Parse(host)
	if err != nil {
		return fmt.Errorf("job host: %w", err)
	}
	switch appName {
	case appOnlineBoutique:
		if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("job host %q must be an http(s) URL for %s", u.Redacted(), appName)
		}
	case appRedis:
		if u.Scheme != "redis" && u.Scheme != "rediss" && u.Scheme != "unix" {
			return fmt.Errorf("job host %q must be a redis://, rediss:// or unix:// URL or host:port for %s", u.Redacted(), appName)
		}
	}
	return nil
}

// app returns the job's app, or nil when it has none.
func (j Job) app() *app.App {
	if j.App == "" {
		return nil
	}
	a, err := app.Lookup(j.App)
	if err != nil {
		return nil
	}
	return a
}

// Handle identifies a started job to the runner that started it. It is
// plain data, so an activity can record it in a heartbeat and find the job
// again after a retry.
type Handle struct {
	ID string `json:"id"`
}

// State is where a job is in its life.
type State string

// Job states.
const (
	StateRunning State = "running"
	// StateSucceeded: Locust ran to the end of its shape and left complete
	// statistics (it exits 1 when any request failed; that is a result).
	StateSucceeded State = "succeeded"
	// StateFailed: Locust did not finish; Status.Reason says why.
	StateFailed State = "failed"
	// StateStopped: Stop (or the end of the job's context) ended it early.
	StateStopped State = "stopped"
)

// Done reports whether the job has ended.
func (s State) Done() bool { return s != StateRunning && s != "" }

// Status is what a runner knows about a job.
type Status struct {
	ID    string `json:"id"`
	Name  string `json:"name,omitempty"`
	State State  `json:"state"`
	// Reason explains a failed or stopped job.
	Reason string `json:"reason,omitempty"`
	// ExitCode is Locust's exit code once it has exited, if known.
	ExitCode *int      `json:"exit_code,omitempty"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished,omitzero"`
}

// Runner runs Locust jobs.
//
// Start returns once the job is running. ctx scopes the job, not only the
// call: when ctx ends, the runner stops the job, so an activity's
// cancellation stops its load. Results is available once the job is done
// (ErrNotDone before); a stopped job's results are partial, and some
// runners have none (ErrNoResults).
type Runner interface {
	Start(ctx context.Context, job Job) (Handle, error)
	Status(ctx context.Context, h Handle) (Status, error)
	Stop(ctx context.Context, h Handle) (Status, error)
	Results(ctx context.Context, h Handle) (*Results, error)
}

// Runner errors.
var (
	// ErrNotFound: the runner has no job with that handle.
	ErrNotFound = errors.New("no such load job")
	// ErrNotDone: the job is still running.
	ErrNotDone = errors.New("load job still running")
	// ErrNoResults: the job ended without results (see its Status).
	ErrNoResults = errors.New("load job has no results")
)

// Wait polls the job's status every poll until it is done or ctx ends.
func Wait(ctx context.Context, r Runner, h Handle, poll time.Duration) (Status, error) {
	for {
		st, err := r.Status(ctx, h)
		if err != nil || st.State.Done() {
			return st, err
		}
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-time.After(poll):
		}
	}
}

// The runners.
var (
	_ Runner = (*LocalRunner)(nil)
	_ Runner = (*RemoteRunner)(nil)
	_ Runner = (*KubernetesJobRunner)(nil)
)
