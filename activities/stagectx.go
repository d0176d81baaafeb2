package activities

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	tlog "go.temporal.io/sdk/log"
)

// Every stage runs either inside a Temporal activity (in the worker) or as
// `grlctl stage` (a subprocess of the worker, or a container). A stage logs
// and reports progress through logger and heartbeat, which use the
// activity's logger and heartbeat inside an activity and the stage's own
// reporter (WithStageReporter) outside, so that one implementation serves
// both.

// StageReporter receives a stage's logs and progress outside an activity.
type StageReporter struct {
	Logger *slog.Logger
	// Progress receives what an activity would heartbeat.
	Progress func(details any)
}

type stageReporterKey struct{}

// WithStageReporter returns ctx carrying r, for running a stage outside an
// activity.
func WithStageReporter(ctx context.Context, r StageReporter) context.Context {
	return context.WithValue(ctx, stageReporterKey{}, r)
}

func stageReporter(ctx context.Context) StageReporter {
	r, _ := ctx.Value(stageReporterKey{}).(StageReporter)
	return r
}

// logger is the stage's logger.
func logger(ctx context.Context) tlog.Logger {
	if activity.IsActivity(ctx) {
		return activity.GetLogger(ctx)
	}
	l := stageReporter(ctx).Logger
	if l == nil {
		l = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return tlog.NewStructuredLogger(l)
}

// heartbeat reports the stage's progress.
func heartbeat(ctx context.Context, details any) {
	if activity.IsActivity(ctx) {
		activity.RecordHeartbeat(ctx, details)
		return
	}
	if p := stageReporter(ctx).Progress; p != nil {
		p(details)
	}
}

// keepAlive heartbeats the latest details every interval until stop is
// called, starting with initial. Training reports progress only between rollouts and updates, and
// one of them can outlast a short heartbeat timeout on a loaded machine (a
// per-node policy under the race detector): without this, the server takes
// a live attempt for a lost one and runs it again. set replaces the
// details; it heartbeats at once too.
func keepAlive(ctx context.Context, interval time.Duration, initial any) (set func(details any), stop func()) {
	if interval <= 0 {
		interval = time.Second
	}
	var mu sync.Mutex
	last := initial
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				mu.Lock()
				d := last
				mu.Unlock()
				heartbeat(ctx, d)
			}
		}
	}()
	set = func(details any) {
		mu.Lock()
		last = details
		mu.Unlock()
		heartbeat(ctx, details)
	}
	var once sync.Once
	stop = func() { once.Do(func() { close(done); wg.Wait() }) }
	return set, stop
}
