package activities

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/interceptor"
	tlog "go.temporal.io/sdk/log"

	"github.com/grlscaler/grlscaler/infra/objstore"
	"github.com/grlscaler/grlscaler/workflows/api"
)

// experimentInput is implemented by every activity input (api's
// Experiment methods).
type experimentInput interface {
	Experiment() (string, *api.ExperimentSpec)
}

// LogKey is where the log of one activity attempt is stored:
// <prefix>/<id>/logs/<workflowID>/<activityType>-<activityID>-attempt<N>.log.
func LogKey(spec *api.ExperimentSpec, id, workflowID, activityType, activityID string, attempt int32) string {
	return experimentKey(spec, id, api.LogsDir, workflowID,
		activityType+"-"+activityID+"-attempt"+strconv.Itoa(int(attempt))+".log")
}

// RunLogs is a worker interceptor that gives every activity attempt a
// logger writing both to the worker's logger (stderr, at the worker's
// level) and, at debug level, to a buffer that is stored under the
// experiment's logs/ when the attempt returns, whether it succeeded or
// failed. An attempt whose worker is killed loses its log; its retry logs
// again.
type RunLogs struct {
	interceptor.WorkerInterceptorBase
	Activities *Activities
}

// InterceptActivity implements interceptor.WorkerInterceptor.
func (r *RunLogs) InterceptActivity(ctx context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	return &runLogInbound{ActivityInboundInterceptorBase: interceptor.ActivityInboundInterceptorBase{Next: next}, acts: r.Activities}
}

type runLogInbound struct {
	interceptor.ActivityInboundInterceptorBase
	acts *Activities
}

type runLogOutbound struct {
	interceptor.ActivityOutboundInterceptorBase
}

// runLogKey keys an attempt's log buffer in its context.
type runLogKey struct{}

// lockedBuffer serialises writes from the activity's goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}

func (i *runLogInbound) Init(outbound interceptor.ActivityOutboundInterceptor) error {
	return i.Next.Init(&runLogOutbound{ActivityOutboundInterceptorBase: interceptor.ActivityOutboundInterceptorBase{Next: outbound}})
}

func (i *runLogInbound) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	var exp experimentInput
	if len(in.Args) > 0 {
		exp, _ = in.Args[0].(experimentInput)
	}
	if exp == nil {
		return i.Next.ExecuteActivity(ctx, in)
	}
	buf := &lockedBuffer{}
	ctx = context.WithValue(ctx, runLogKey{}, buf)
	res, err := i.Next.ExecuteActivity(ctx, in)

	info := activity.GetInfo(ctx)
	if err != nil {
		fmt.Fprintf(buf, "time=%s level=ERROR msg=\"activity failed\" error=%q\n", time.Now().UTC().Format(time.RFC3339Nano), err.Error())
	}
	id, spec := exp.Experiment()
	key := LogKey(spec, id, info.WorkflowExecution.ID, info.ActivityType.Name, info.ActivityID, info.Attempt)
	// The attempt's context may be cancelled; the log is still worth
	// keeping, within a bound.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	store, serr := i.acts.storeFor(sctx, spec)
	if serr == nil {
		_, serr = objstore.PutVerified(sctx, store, key, buf.bytes())
	}
	if serr != nil {
		activity.GetLogger(ctx).Warn("could not store the activity's log", "key", key, "error", serr)
	}
	return res, err
}

// GetLogger returns the worker's activity logger teed into the attempt's
// buffer.
func (o *runLogOutbound) GetLogger(ctx context.Context) tlog.Logger {
	next := o.Next.GetLogger(ctx)
	buf, ok := ctx.Value(runLogKey{}).(*lockedBuffer)
	if !ok {
		return next
	}
	info := o.Next.GetInfo(ctx)
	file := tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})).With(
		"ActivityType", info.ActivityType.Name, "ActivityID", info.ActivityID, "Attempt", info.Attempt, "WorkflowID", info.WorkflowExecution.ID))
	return teeLogger{next, file}
}

// teeLogger writes every record to both loggers.
type teeLogger [2]tlog.Logger

func (t teeLogger) Debug(msg string, kv ...any) { t[0].Debug(msg, kv...); t[1].Debug(msg, kv...) }
func (t teeLogger) Info(msg string, kv ...any)  { t[0].Info(msg, kv...); t[1].Info(msg, kv...) }
func (t teeLogger) Warn(msg string, kv ...any)  { t[0].Warn(msg, kv...); t[1].Warn(msg, kv...) }
func (t teeLogger) Error(msg string, kv ...any) { t[0].Error(msg, kv...); t[1].Error(msg, kv...) }
