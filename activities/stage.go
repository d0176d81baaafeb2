package activities

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/grlscaler/grlscaler/infra/objstore"
	"github.com/grlscaler/grlscaler/workflows/api"
)

// The stages that can run outside the worker. Each activity runs its stage
// with the runner the spec chooses (execution.stageRunner and
// stageRunners): in process, or as `grlctl stage NAME --input KEY --output
// KEY` in a child process, which calls the same implementation. A stage
// in a child process reads its input object from the store, writes its
// output object and then a status object; the activity waits for it with
// heartbeats and reads the output. An output already stored for the same
// input (and the same build) is reused instead of recomputed; the logs and
// the result (api.StageCache) say so.

// DeployApp builds the twin and its training environment (sim mode) and
// records the spec in the store.
func (a *Activities) DeployApp(ctx context.Context, in api.DeployInput) (api.DeployResult, error) {
	return runStage(ctx, a, api.StageNameDeploy, in, a.deployApp)
}

// WarmUp runs the training scenario at minimum replicas for the warm-up
// duration.
func (a *Activities) WarmUp(ctx context.Context, in api.WarmUpInput) (api.WarmUpResult, error) {
	return runStage(ctx, a, api.StageNameWarmUp, in, a.warmUp)
}

// TrainChunk trains one chunk of one agent and stores its checkpoint.
func (a *Activities) TrainChunk(ctx context.Context, in api.TrainChunkInput) (api.TrainChunkResult, error) {
	return runStage(ctx, a, api.StageNameTrainChunk, in, a.trainChunk)
}

// EvaluateRun runs one controller on one scenario and stores its series.
func (a *Activities) EvaluateRun(ctx context.Context, in api.EvaluateRunInput) (api.EvaluateRunResult, error) {
	return runStage(ctx, a, api.StageNameEvaluateRun, in, a.evaluateRun)
}

// WriteReport builds and stores the experiment's report.
func (a *Activities) WriteReport(ctx context.Context, in api.ReportInput) (api.ReportResult, error) {
	return runStage(ctx, a, api.StageNameReport, in, a.writeReport)
}

// Exit codes of `grlctl stage`.
const (
	StageExitOK        = 0
	StageExitRetryable = 1
	StageExitInvalid   = 2
)

// stageStatus is the status object a stage writes after its output (or
// instead of it, when it fails).
type stageStatus struct {
	ExitCode     int    `json:"exitCode"`
	Error        string `json:"error,omitempty"`
	ErrorType    string `json:"errorType,omitempty"`
	NonRetryable bool   `json:"nonRetryable,omitempty"`
}

// stageProgressPrefix marks a progress line on a stage's stderr; the
// runner turns it into a heartbeat.
const stageProgressPrefix = "grlctl-progress: "

func runStage[In experimentInput, Out any](ctx context.Context, a *Activities, stage string, in In, run func(context.Context, In) (Out, error)) (Out, error) {
	id, spec := in.Experiment()
	runner := spec.Spec.Execution.RunnerFor(stage)
	if a.InStage || runner == api.StageRunnerInProcess {
		return run(ctx, in)
	}
	var out Out
	switch runner {
	case api.StageRunnerSubprocess:
		err := a.runSubprocess(ctx, stage, id, spec, in, &out)
		return out, err
	case api.StageRunnerKubernetes:
		err := a.runJob(ctx, stage, id, spec, in, &out)
		return out, err
	default:
		return out, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("stage %s: unknown stage runner %q (valid: %s, %s, %s)", stage, runner,
				api.StageRunnerInProcess, api.StageRunnerSubprocess, api.StageRunnerKubernetes), api.ErrTypeInvalidSpec, nil)
	}
}

// stageKeys are a stage run's input and output objects, named by the hash
// of the stage, the build and the input, so that a retry or a rerun of the
// same work finds the same keys.
func stageKeys(spec *api.ExperimentSpec, id, stage string, input []byte) (in, out string) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n", stage, CodeVersion())
	h.Write(input)
	name := hex.EncodeToString(h.Sum(nil))[:24]
	return experimentKey(spec, id, "stages", stage, name+".input.json"), experimentKey(spec, id, "stages", stage, name+".output.json")
}

func statusKey(outputKey string) string {
	return strings.TrimSuffix(outputKey, ".output.json") + ".status.json"
}

// stageRun is one run of a stage outside the worker.
type stageRun struct {
	stage, id     string
	spec          *api.ExperimentSpec
	inKey, outKey string
	store         objstore.Store
}

// stageLauncher starts a stage run and waits for it. It returns nil when
// the stage exited 0, and otherwise an error whose exitCode says how.
type stageLauncher func(ctx context.Context, r *stageRun) error

// stageExit is how a stage outside the worker ended, when not with 0.
type stageExit struct {
	code int // StageExit*, or -1 when it did not exit (killed, evicted)
	err  error
}

func (e *stageExit) Error() string { return e.err.Error() }
func (e *stageExit) Unwrap() error { return e.err }

// runOutside runs a stage with launch: it reuses an output stored for the
// same input, else stores the input, launches, and reads the output (or
// the status object's error).
func (a *Activities) runOutside(ctx context.Context, stage, id string, spec *api.ExperimentSpec, in, out any, where string, launch stageLauncher) error {
	log := logger(ctx)
	store, err := a.storeFor(ctx, spec)
	if err != nil {
		return fmt.Errorf("stage %s: %w", stage, err)
	}
	input, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("stage %s: encode input: %w", stage, err)
	}
	inKey, outKey := stageKeys(spec, id, stage, input)
	if data, _, err := objstore.GetVerified(ctx, store, outKey, ""); err == nil && json.Unmarshal(data, out) == nil {
		log.Info("stage output already stored for this input; skipping the stage", "stage", stage, "output", outKey)
		heartbeat(ctx, map[string]any{"stage": stage, "cached": true})
		// The result says so (api.StageCache), for the workflow's progress.
		if c, ok := out.(interface{ MarkCached() }); ok {
			c.MarkCached()
		}
		return nil
	}
	if _, err := objstore.PutVerified(ctx, store, inKey, input); err != nil {
		return fmt.Errorf("stage %s: store input: %w", stage, err)
	}
	_ = store.Delete(ctx, statusKey(outKey))
	run := &stageRun{stage: stage, id: id, spec: spec, inKey: inKey, outKey: outKey, store: store}
	launchErr := launch(ctx, run)
	if ctx.Err() != nil {
		return fmt.Errorf("stage %s: %w", stage, ctx.Err())
	}
	if launchErr == nil {
		data, _, err := objstore.GetVerified(ctx, store, outKey, "")
		if err != nil {
			return fmt.Errorf("stage %s: read output: %w", stage, err)
		}
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("stage %s: decode output %s: %w", stage, outKey, err)
		}
		return nil
	}
	var st stageStatus
	if data, _, err := objstore.GetVerified(ctx, store, statusKey(outKey), ""); err == nil {
		_ = json.Unmarshal(data, &st)
	}
	msg := st.Error
	if msg == "" {
		msg = launchErr.Error()
	}
	// The stage's own status says whether retrying can help; a stage that
	// died before writing one is judged by its exit code.
	var exit *stageExit
	if st.NonRetryable || st.ExitCode == StageExitInvalid || (errors.As(launchErr, &exit) && exit.code == StageExitInvalid) {
		typ := st.ErrorType
		if typ == "" {
			typ = api.ErrTypeInvalidSpec
		}
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("stage %s: %s", stage, msg), typ, nil)
	}
	// Exit 1, a kill, an eviction or a crash: retryable.
	return fmt.Errorf("stage %s failed %s: %s", stage, where, msg)
}

// stageArgs are the arguments of grlctl stage for a run.
func stageArgs(r *stageRun) []string {
	return []string{r.stage, "--input", r.inKey, "--output", r.outKey, "--s3-bucket", r.spec.Spec.Storage.Bucket}
}

func (a *Activities) runSubprocess(ctx context.Context, stage, id string, spec *api.ExperimentSpec, in, out any) error {
	if len(a.StageCommand) == 0 {
		return temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("stage %s: the worker has no stage command configured (Activities.StageCommand)", stage), ErrTypeNotImplemented, nil)
	}
	return a.runOutside(ctx, stage, id, spec, in, out, "in its child process", a.launchSubprocess)
}

func (a *Activities) launchSubprocess(ctx context.Context, r *stageRun) error {
	args := append(append([]string(nil), a.StageCommand[1:]...), stageArgs(r)...)
	cmd := exec.Command(a.StageCommand[0], args...)
	cmd.Env = append(os.Environ(), a.StageEnv...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", a.StageCommand[0], err)
	}
	logger(ctx).Info("stage started in a child process", "stage", r.stage, "pid", cmd.Process.Pid, "input", r.inKey)
	// Cancelling the activity (or a lost heartbeat) stops the child and
	// its process group.
	stop := context.AfterFunc(ctx, func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	defer stop()
	tail := relayStderr(ctx, r.stage, stderr)
	err = cmd.Wait()
	if err == nil {
		return nil
	}
	code := -1
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	}
	return &stageExit{code: code, err: fmt.Errorf("%v; last output: %s", err, tail())}
}

// relayStderr copies a stage's stderr into the activity's log, turning
// progress lines into heartbeats, and returns a function giving the last
// lines once the stream ends.
func relayStderr(ctx context.Context, stage string, r io.Reader) func() string {
	log := logger(ctx)
	done := make(chan struct{})
	var last []string
	go func() {
		defer close(done)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			line := sc.Text()
			if p, ok := strings.CutPrefix(line, stageProgressPrefix); ok {
				heartbeat(ctx, json.RawMessage(p))
				continue
			}
			log.Info("stage output", "stage", stage, "line", line)
			if last = append(last, line); len(last) > 5 {
				last = last[1:]
			}
		}
	}()
	return func() string {
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
		return strings.Join(last, " | ")
	}
}

// RunStageFromStore runs stage as `grlctl stage` does: it reads the input
// object, runs the stage in this process, writes the output object and
// then the status object, and returns the process exit code (StageExit*).
// progress receives the stage's heartbeats.
func (a *Activities) RunStageFromStore(ctx context.Context, stage, inKey, outKey string) (int, error) {
	a.InStage = true
	data, _, err := objstore.GetVerified(ctx, a.Store, inKey, "")
	if err != nil {
		code := StageExitRetryable
		if errors.Is(err, objstore.ErrCorrupt) || errors.Is(err, objstore.ErrNotFound) {
			code = StageExitInvalid
		}
		return a.finishStage(ctx, outKey, code, fmt.Errorf("stage %s: read input %s: %w", stage, inKey, err))
	}
	var out any
	switch stage {
	case api.StageNameDeploy:
		out, err = decodeAndRun(ctx, data, a.DeployApp)
	case api.StageNameWarmUp:
		out, err = decodeAndRun(ctx, data, a.WarmUp)
	case api.StageNameTrainChunk:
		out, err = decodeAndRun(ctx, data, a.TrainChunk)
	case api.StageNameEvaluateRun:
		out, err = decodeAndRun(ctx, data, a.EvaluateRun)
	case api.StageNameReport:
		out, err = decodeAndRun(ctx, data, a.WriteReport)
	case api.StageNameLoad:
		out, err = decodeAndRun(ctx, data, a.runLoad)
	default:
		return a.finishStage(ctx, outKey, StageExitInvalid, fmt.Errorf("unknown stage %q (valid: %s)", stage, strings.Join(api.StageNames, ", ")))
	}
	if err != nil {
		code := StageExitRetryable
		var appErr *temporal.ApplicationError
		if errors.As(err, &appErr) && appErr.NonRetryable() {
			code = StageExitInvalid
		}
		var decodeErr *stageDecodeError
		if errors.As(err, &decodeErr) {
			code = StageExitInvalid
		}
		return a.finishStage(ctx, outKey, code, err)
	}
	result, err := json.Marshal(out)
	if err != nil {
		return a.finishStage(ctx, outKey, StageExitRetryable, fmt.Errorf("stage %s: encode output: %w", stage, err))
	}
	if _, err := objstore.PutVerified(ctx, a.Store, outKey, result); err != nil {
		return StageExitRetryable, fmt.Errorf("stage %s: store output: %w", stage, err)
	}
	return a.finishStage(ctx, outKey, StageExitOK, nil)
}

type stageDecodeError struct{ err error }

func (e *stageDecodeError) Error() string { return "decode stage input: " + e.err.Error() }
func (e *stageDecodeError) Unwrap() error { return e.err }

func decodeAndRun[In, Out any](ctx context.Context, data []byte, run func(context.Context, In) (Out, error)) (any, error) {
	var in In
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return nil, &stageDecodeError{err}
	}
	return run(ctx, in)
}

// finishStage writes the status object and returns the exit code with err.
func (a *Activities) finishStage(ctx context.Context, outKey string, code int, err error) (int, error) {
	st := stageStatus{ExitCode: code}
	if err != nil {
		st.Error = err.Error()
		st.NonRetryable = code == StageExitInvalid
		var appErr *temporal.ApplicationError
		if errors.As(err, &appErr) {
			st.ErrorType = appErr.Type()
		}
	}
	data, merr := json.Marshal(st)
	if merr == nil {
		if _, perr := objstore.PutVerified(ctx, a.Store, statusKey(outKey), data); perr != nil && err == nil {
			return StageExitRetryable, fmt.Errorf("store stage status: %w", perr)
		}
	}
	return code, err
}
