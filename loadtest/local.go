package loadtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// LocalOptions configure a LocalRunner.
type LocalOptions struct {
	// Locust is the locust executable; empty means "locust" on PATH.
	Locust string
	// Grace is how long after its Duration a job may still run before it is
	// stopped and failed; zero means one minute (Locust starts in a second
	// or two and stops within a second of the shape's end).
	Grace time.Duration
	// StopTimeout is how long Locust has to exit after SIGTERM (it writes
	// its statistics and exits) before it is killed; zero means 15 s.
	StopTimeout time.Duration
	// Env is added to Locust's environment.
	Env []string
	// Log receives job events; nil discards them.
	Log *slog.Logger
}

// LocalRunner runs Locust as a subprocess, one directory per job under its
// directory:
//
//	<dir>/<id>/job.json        the job's record (status, host, duration, pid)
//	<dir>/<id>/locustfile.py   the Locust file
//	<dir>/<id>/locust.log      Locust's output
//	<dir>/<id>/locust_*.csv    its statistics (--csv <dir>/<id>/locust)
//
// Records survive the runner: a new LocalRunner on the same directory
// reports the jobs that ended, and fails those whose Locust it did not see
// end (it ended with the process that ran it, or is stopped now), with a
// reason. Locust runs in its own process group, so stopping it stops
// everything it started, and on Linux it gets SIGTERM if the runner's
// process dies.
type LocalRunner struct {
	dir  string
	opts LocalOptions

	mu    sync.Mutex
	jobs  map[string]*localJob
	names map[string]string
}

type localJob struct {
	dir string
	rec jobRecord
	app string // for results
	// Set while the process runs.
	pid      int
	done     chan struct{} // closed once rec is final
	stopping bool
	stopAs   State
	stopWhy  string
	release  func() bool // detaches the job from its context
	watchdog *time.Timer
}

// jobRecord is job.json.
type jobRecord struct {
	Status
	App      string        `json:"app,omitempty"`
	Host     string        `json:"host"`
	Duration time.Duration `json:"duration_ns"`
	PID      int           `json:"pid,omitempty"`
}

const (
	recordFile     = "job.json"
	locustfileName = "locustfile.py"
	logFile        = "locust.log"
	csvPrefix      = "locust"
)

// NewLocalRunner returns a runner whose jobs live under dir, creating it,
// and loads the jobs an earlier runner left there.
func NewLocalRunner(dir string, opts LocalOptions) (*LocalRunner, error) {
	if opts.Locust == "" {
		opts.Locust = "locust"
	}
	if opts.Grace == 0 {
		opts.Grace = time.Minute
	}
	if opts.StopTimeout == 0 {
		opts.StopTimeout = 15 * time.Second
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("load job directory: %w", err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	r := &LocalRunner{dir: abs, opts: opts, jobs: map[string]*localJob{}, names: map[string]string{}}
	if err := r.recover(); err != nil {
		return nil, err
	}
	return r, nil
}

// recover loads the records under dir. A record still marked running
// belongs to a runner that is gone: its Locust is stopped if it still runs,
// and the job is failed.
func (r *LocalRunner) recover() error {
	entries, err := os.ReadDir(r.dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		jobDir := filepath.Join(r.dir, e.Name())
		b, err := os.ReadFile(filepath.Join(jobDir, recordFile))
		if errors.Is(err, os.ErrNotExist) {
			continue // not a job, or one that never started
		}
		if err != nil {
			return err
		}
		var rec jobRecord
		if err := json.Unmarshal(b, &rec); err != nil || rec.ID != e.Name() {
			r.opts.Log.Warn("skipping unreadable load job record", "dir", jobDir, "err", err)
			continue
		}
		j := &localJob{dir: jobDir, rec: rec, app: rec.App, done: make(chan struct{})}
		close(j.done)
		if rec.State == StateRunning {
			j.rec.State = StateFailed
			j.rec.Finished = time.Now().UTC()
			if processRunning(rec.PID, jobDir) {
				killGroup(rec.PID, r.opts.StopTimeout, func() bool { return processRunning(rec.PID, jobDir) })
				j.rec.Reason = fmt.Sprintf("the runner that started Locust (pid %d) went away while it ran; a new runner stopped it; its results are partial", rec.PID)
			} else {
				j.rec.Reason = fmt.Sprintf("Locust (pid %d) ended while no runner watched it (the runner that started it stopped or crashed, and Locust with it); its exit code is unknown and its results may be partial", rec.PID)
			}
			if err := writeRecord(jobDir, j.rec); err != nil {
				return err
			}
			r.opts.Log.Warn("load job failed while no runner watched it", "id", rec.ID, "reason", j.rec.Reason)
		}
		r.jobs[rec.ID] = j
		if rec.Name != "" {
			r.names[rec.Name] = rec.ID
		}
	}
	return nil
}

// Start starts Locust on job and returns once it runs. A job whose Name
// the runner already has is not started again: its handle is returned.
func (r *LocalRunner) Start(ctx context.Context, job Job) (Handle, error) {
	h, _, err := r.Launch(ctx, job)
	return h, err
}

// Launch is Start that also says whether it started a job (the agent
// answers 201 or 200). An invalid job is an error wrapping ErrBadJob.
func (r *LocalRunner) Launch(ctx context.Context, job Job) (Handle, bool, error) {
	if err := job.Validate(); err != nil {
		return Handle{}, false, fmt.Errorf("%w: %w", ErrBadJob, err)
	}
	if err := ctx.Err(); err != nil {
		return Handle{}, false, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if id, ok := r.names[job.Name]; ok && job.Name != "" {
		return Handle{ID: id}, false, nil
	}
	h, err := r.launch(ctx, job)
	return h, err == nil, err
}

// launch starts Locust; r.mu is held.
func (r *LocalRunner) launch(ctx context.Context, job Job) (Handle, error) {
	id, err := newID()
	if err != nil {
		return Handle{}, err
	}
	jobDir := filepath.Join(r.dir, id)
	if err := os.Mkdir(jobDir, 0o750); err != nil {
		return Handle{}, fmt.Errorf("load job %s: %w", id, err)
	}
	file := filepath.Join(jobDir, locustfileName)
	if err := os.WriteFile(file, job.Locustfile, 0o640); err != nil {
		return Handle{}, fmt.Errorf("load job %s: %w", id, err)
	}
	logf, err := os.OpenFile(filepath.Join(jobDir, logFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return Handle{}, fmt.Errorf("load job %s: %w", id, err)
	}
	cmd := exec.Command(r.opts.Locust, locustArgs(file, job.Host, filepath.Join(jobDir, csvPrefix))...)
	cmd.Dir = jobDir
	cmd.Env = append(locustEnv(os.Environ()), r.opts.Env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return Handle{}, fmt.Errorf("load job %s: start %s: %w", id, r.opts.Locust, err)
	}
	j := &localJob{dir: jobDir, app: job.App, pid: cmd.Process.Pid, done: make(chan struct{})}
	j.rec = jobRecord{
		Status: Status{ID: id, Name: job.Name, State: StateRunning, Started: time.Now().UTC()},
		App:    job.App, Host: job.Host, Duration: job.Duration, PID: cmd.Process.Pid,
	}
	if err := writeRecord(jobDir, j.rec); err != nil {
		_ = syscall.Kill(-j.pid, syscall.SIGKILL)
		_ = cmd.Wait()
		logf.Close()
		return Handle{}, err
	}
	r.jobs[id] = j
	if job.Name != "" {
		r.names[job.Name] = id
	}
	r.opts.Log.Info("load job started", "id", id, "name", job.Name, "pid", j.pid, "duration", job.Duration)

	limit := job.Duration + r.opts.Grace
	j.watchdog = time.AfterFunc(limit, func() {
		r.stop(j, StateFailed, fmt.Sprintf("still running %v after its %v duration", r.opts.Grace, job.Duration))
	})
	j.release = context.AfterFunc(ctx, func() {
		r.stop(j, StateStopped, "its context ended: "+context.Cause(ctx).Error())
	})
	go r.wait(j, cmd, logf)
	return Handle{ID: id}, nil
}

// secretName matches environment variable names that may hold
// credentials (the agent's token, S3 and cloud keys, K8S_TOKEN and the
// like): Locust and the file it runs need none of them.
var secretName = regexp.MustCompile(`(?i)(TOKEN|SECRET|PASSW|ACCESS_KEY|API_KEY|PRIVATE_KEY|CREDENTIAL)`)

// locustEnv is env without the variables secretName matches.
func locustEnv(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if !secretName.MatchString(name) {
			out = append(out, kv)
		}
	}
	return out
}

// locustArgs are the arguments every runner gives Locust. No --run-time:
// the file's shape ends the run, and Locust refuses both.
func locustArgs(file, host, prefix string) []string {
	return []string{"--headless", "-f", file, "--host", host, "--csv", prefix, "--csv-full-history"}
}

// wait records how Locust ended.
func (r *LocalRunner) wait(j *localJob, cmd *exec.Cmd, logf *os.File) {
	waitErr := cmd.Wait()
	logf.Close()
	code := cmd.ProcessState.ExitCode()
	files, readErr := ReadResultFiles(filepath.Join(j.dir, csvPrefix))

	r.mu.Lock()
	defer r.mu.Unlock()
	j.watchdog.Stop()
	j.release()
	rec := &j.rec
	rec.Finished = time.Now().UTC()
	if code >= 0 {
		rec.ExitCode = &code
	}
	var incomplete error
	if readErr != nil {
		incomplete = readErr
	} else {
		incomplete = Complete(files)
	}
	switch {
	case j.stopping:
		rec.State, rec.Reason = j.stopAs, j.stopWhy
	case (code == 0 || code == 1) && incomplete == nil:
		// Locust exits with 1 whenever a request failed; the failures are
		// in the results.
		rec.State = StateSucceeded
	case code == 0 || code == 1:
		rec.State = StateFailed
		rec.Reason = fmt.Sprintf("Locust exited with %d but %v; %s", code, incomplete, logTail(j.dir))
	default:
		rec.State = StateFailed
		rec.Reason = fmt.Sprintf("Locust ended: %v; %s", waitErr, logTail(j.dir))
	}
	if err := writeRecord(j.dir, *rec); err != nil {
		r.opts.Log.Error("cannot record the end of a load job", "id", rec.ID, "err", err)
	}
	r.opts.Log.Info("load job ended", "id", rec.ID, "state", rec.State, "exit_code", code, "reason", rec.Reason)
	close(j.done)
}

// stop asks Locust to stop (SIGTERM: it writes its statistics and exits)
// and kills its process group if it has not exited after StopTimeout.
func (r *LocalRunner) stop(j *localJob, as State, why string) {
	r.mu.Lock()
	select {
	case <-j.done:
		r.mu.Unlock()
		return
	default:
	}
	if j.stopping {
		r.mu.Unlock()
		return
	}
	j.stopping, j.stopAs, j.stopWhy = true, as, why
	pid := j.pid
	r.mu.Unlock()
	r.opts.Log.Info("stopping load job", "id", j.rec.ID, "why", why)
	go killGroup(pid, r.opts.StopTimeout, func() bool {
		select {
		case <-j.done:
			return false
		default:
			return true
		}
	})
}

// killGroup sends SIGTERM to the process group pid leads, then SIGKILL if
// running still reports true after timeout.
func killGroup(pid int, timeout time.Duration, running func() bool) {
	if pid <= 0 {
		return
	}
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	deadline := time.Now().Add(timeout)
	for running() {
		if time.Now().After(deadline) {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (r *LocalRunner) job(h Handle) (*localJob, error) {
	j, ok := r.jobs[h.ID]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, h.ID)
	}
	return j, nil
}

// Status reports the job's status.
func (r *LocalRunner) Status(_ context.Context, h Handle) (Status, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	j, err := r.job(h)
	if err != nil {
		return Status{}, err
	}
	return j.rec.Status, nil
}

// Jobs lists every job's status, oldest first.
func (r *LocalRunner) Jobs() []Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Status, 0, len(r.jobs))
	for _, j := range r.jobs {
		out = append(out, j.rec.Status)
	}
	slices.SortFunc(out, func(a, b Status) int {
		if c := a.Started.Compare(b.Started); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

// Stop stops a running job and waits until Locust has exited (or ctx
// ends); stopping a job that has ended changes nothing.
func (r *LocalRunner) Stop(ctx context.Context, h Handle) (Status, error) {
	r.mu.Lock()
	j, err := r.job(h)
	r.mu.Unlock()
	if err != nil {
		return Status{}, err
	}
	r.stop(j, StateStopped, "stopped on request")
	select {
	case <-j.done:
	case <-ctx.Done():
		return Status{}, ctx.Err()
	}
	return r.Status(ctx, h)
}

// Results parses the job's statistics once it is done.
func (r *LocalRunner) Results(_ context.Context, h Handle) (*Results, error) {
	r.mu.Lock()
	j, err := r.job(h)
	var st Status
	if err == nil {
		st = j.rec.Status
	}
	r.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if !st.State.Done() {
		return nil, fmt.Errorf("%w: %s", ErrNotDone, h.ID)
	}
	files, err := ReadResultFiles(filepath.Join(j.dir, csvPrefix))
	if err != nil {
		return nil, fmt.Errorf("load job %s: %w", h.ID, err)
	}
	res, err := ParseResults(files, Job{App: j.app}.app())
	if err != nil {
		return nil, fmt.Errorf("%w: load job %s (%s): %w", ErrNoResults, h.ID, st.State, err)
	}
	return res, nil
}

// Close stops every running job and waits until they have ended.
func (r *LocalRunner) Close() error {
	r.mu.Lock()
	var running []*localJob
	for _, j := range r.jobs {
		running = append(running, j)
	}
	r.mu.Unlock()
	for _, j := range running {
		r.stop(j, StateStopped, "the runner was closed")
	}
	for _, j := range running {
		<-j.done
	}
	return nil
}

func writeRecord(dir string, rec jobRecord) error {
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, recordFile+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o640); err != nil {
		return fmt.Errorf("record load job %s: %w", rec.ID, err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, recordFile)); err != nil {
		return fmt.Errorf("record load job %s: %w", rec.ID, err)
	}
	return nil
}

// logTail returns the end of Locust's output for a failure's reason.
func logTail(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, logFile))
	if err != nil {
		return "no Locust output"
	}
	b = bytes.TrimSpace(b)
	const keep = 1500
	if len(b) > keep {
		b = b[len(b)-keep:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	if len(b) == 0 {
		return "no Locust output"
	}
	return "Locust's output ends with: " + string(b)
}

func newID() (string, error) {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}
