package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/grlscaler/grlscaler/workflows/api"
)

// queryTimeout bounds one progress query: with no worker to answer it the
// server would otherwise hold it for long.
const queryTimeout = 5 * time.Second

// NewCmdWatch builds grlctl watch.
func NewCmdWatch(streams IO) *cobra.Command {
	var tf temporalFlags
	var output string
	var interval time.Duration
	cmd := &cobra.Command{
		Use:   "watch ID",
		Short: "Follow an experiment's progress until it finishes",
		Long: `Poll an experiment's progress every --interval and show it as a one-line
progress bar (stage, training chunk, steps, latest reward, ETA and, once a
stage run has finished, how many of the finished ones were served from the
store instead of run) until the experiment closes: redrawn in place on a
terminal, otherwise printed as a new line whenever it changes. -o json prints one JSON object per change (JSON
lines) with the keys of grlctl status -o json. Exits 0 when the experiment
completed, and 1, printing why, when it failed, was canceled or terminated,
or timed out.`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeExperimentIDs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			if interval <= 0 {
				return fmt.Errorf("%w: --interval must be positive, got %v", ErrUsage, interval)
			}
			c, err := tf.dial(streams)
			if err != nil {
				return err
			}
			defer c.Close()
			ctx, id := cmd.Context(), args[0]
			r := &progressRenderer{out: streams.Out, id: id, json: output == "json", tty: isTerminal(streams.Out)}
			last, err := watchExperiment(ctx, c, id, interval, r.show)
			r.finish()
			if err != nil {
				return err
			}
			if last.status == "completed" {
				return nil
			}
			if reason := closeReason(ctx, c, id, last.runID); reason != "" {
				return fmt.Errorf("experiment %q %s: %s", id, last.status, reason)
			}
			return fmt.Errorf("experiment %q %s", id, last.status)
		},
	}
	tf.add(cmd)
	cmd.Flags().DurationVar(&interval, "interval", time.Second, "how often to poll the progress")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text, json")
	return cmd
}

// watchState is what watch shows; a change to it is a new line.
type watchState struct {
	status, runID string
	progress      api.Progress
}

// watchExperiment polls the experiment every interval, calls show with
// its state the first time and whenever the state changes, and returns the
// last state once the experiment has closed.
func watchExperiment(ctx context.Context, c client.Client, id string, interval time.Duration, show func(watchState) error) (watchState, error) {
	var last watchState
	shown := false
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		e, err := describeExperiment(ctx, c, id)
		if err != nil {
			return last, err
		}
		st := watchState{status: e.Status, runID: e.RunID, progress: last.progress}
		// A closed experiment still answers the query (a worker replays
		// it), so the final stage and counts show; without a worker the
		// last known progress stays.
		qctx, cancel := context.WithTimeout(ctx, queryTimeout)
		if q, err := c.QueryWorkflow(qctx, id, e.RunID, api.ProgressQueryName); err == nil {
			var p api.Progress
			if q.Get(&p) == nil {
				st.progress = p
			}
		}
		cancel()
		if !shown || st != last {
			if err := show(st); err != nil {
				return st, err
			}
			shown = true
		}
		last = st
		if !e.Running {
			return last, nil
		}
		select {
		case <-ctx.Done():
			return last, ctx.Err()
		case <-tick.C:
		}
	}
}

// closeReason says why a closed run did not complete, from its close
// event: the failure, the termination reason; "" when there is nothing to
// add to its status.
func closeReason(ctx context.Context, c client.Client, id, runID string) string {
	it := c.GetWorkflowHistory(ctx, id, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return fmt.Sprintf("(its close event could not be read: %v)", err)
		}
		if a := ev.GetWorkflowExecutionFailedEventAttributes(); a != nil {
			return temporal.GetDefaultFailureConverter().FailureToError(a.GetFailure()).Error()
		}
		if a := ev.GetWorkflowExecutionTerminatedEventAttributes(); a != nil && a.GetReason() != "" {
			return "reason: " + a.GetReason()
		}
	}
	return ""
}

// progressRenderer prints watch states: JSON lines, a line per change, or
// one line redrawn in place on a terminal.
type progressRenderer struct {
	out       io.Writer
	id        string
	json, tty bool
	drawn     bool
}

func (r *progressRenderer) show(s watchState) error {
	if r.json {
		return json.NewEncoder(r.out).Encode(statusRecord(r.id, s))
	}
	if r.tty {
		// Return to the line's start, draw, and clear what a longer
		// previous line left.
		r.drawn = true
		_, err := io.WriteString(r.out, "\r"+progressLine(r.id, s)+"\x1b[K")
		return err
	}
	_, err := io.WriteString(r.out, progressLine(r.id, s)+"\n")
	return err
}

// finish ends a line redrawn in place.
func (r *progressRenderer) finish() {
	if r.drawn {
		_, _ = io.WriteString(r.out, "\n")
	}
}

// statusRecord is a watch state with the keys of grlctl status -o json.
func statusRecord(id string, s watchState) map[string]any {
	p := s.progress
	return map[string]any{
		"id": id, "run_id": s.runID, "status": s.status,
		"stage": p.Stage, "chunk": p.Chunk, "chunks": p.Chunks, "steps": p.Steps, "total_steps": p.TotalSteps,
		"latest_reward": p.LatestReward, "stages": p.Runs,
	}
}

// stageRunsText lists the finished runs of each stage that has any, e.g.
// "deploy 1 cached, warm-up 1 ran, train-chunk 2 ran 3 cached"; "" when
// none has finished.
func stageRunsText(c api.StageRunCounts) string {
	var parts []string
	for i, r := range c.ByStage() {
		var counts []string
		if r.Ran > 0 {
			counts = append(counts, fmt.Sprintf("%d ran", r.Ran))
		}
		if r.Cached > 0 {
			counts = append(counts, fmt.Sprintf("%d cached", r.Cached))
		}
		if len(counts) > 0 {
			parts = append(parts, api.CountedStageNames[i]+" "+strings.Join(counts, " "))
		}
	}
	return strings.Join(parts, ", ")
}

const barWidth = 20

// progressLine renders a state as one line, e.g.
// [##########----------]  50% exp running | stage train | chunk 1/2 | steps 50/100 | reward -3.2 | ETA 1m30s | cached 3/4
// where the last part, once a stage run has finished, counts the runs
// served from the store of all the finished ones.
func progressLine(id string, s watchState) string {
	p := s.progress
	frac := 0.0
	switch {
	case s.status == "completed":
		frac = 1
	case p.TotalSteps > 0:
		frac = float64(p.Steps) / float64(p.TotalSteps)
	case p.Chunks > 0:
		frac = float64(p.Chunk) / float64(p.Chunks)
	}
	frac = min(max(frac, 0), 1)
	filled := int(frac * barWidth)
	stage, reward, eta := string(p.Stage), "-", "-"
	if stage == "" {
		stage = "-"
	}
	if p.Chunk > 0 {
		reward = fmt.Sprintf("%.4g", p.LatestReward)
	}
	if p.ETA > 0 && s.status == "running" {
		eta = p.ETA.Std().Round(time.Second).String()
	}
	line := fmt.Sprintf("[%s%s] %3.0f%% %s %s | stage %s | chunk %d/%d | steps %d/%d | reward %s | ETA %s",
		strings.Repeat("#", filled), strings.Repeat("-", barWidth-filled), 100*frac,
		id, s.status, stage, p.Chunk, p.Chunks, p.Steps, p.TotalSteps, reward, eta)
	if t := p.Runs.Total(); t.Ran+t.Cached > 0 {
		line += fmt.Sprintf(" | cached %d/%d", t.Cached, t.Ran+t.Cached)
	}
	return line
}

// isTerminal reports whether w is a character device such as a terminal,
// where watch redraws its line in place.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
