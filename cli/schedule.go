package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/grlscaler/grlscaler/experiment"
	"github.com/grlscaler/grlscaler/workflows"
	"github.com/grlscaler/grlscaler/workflows/api"
)

// overlapPolicies are the --overlap choices, Temporal's policies by their
// CLI names.
var overlapPolicies = map[string]enumspb.ScheduleOverlapPolicy{
	"skip":            enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
	"buffer-one":      enumspb.SCHEDULE_OVERLAP_POLICY_BUFFER_ONE,
	"buffer-all":      enumspb.SCHEDULE_OVERLAP_POLICY_BUFFER_ALL,
	"cancel-other":    enumspb.SCHEDULE_OVERLAP_POLICY_CANCEL_OTHER,
	"terminate-other": enumspb.SCHEDULE_OVERLAP_POLICY_TERMINATE_OTHER,
	"allow-all":       enumspb.SCHEDULE_OVERLAP_POLICY_ALLOW_ALL,
}

func overlapNames() string {
	var names []string
	for n := range overlapPolicies {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// NewCmdSchedule builds grlctl schedule and its subcommands.
func NewCmdSchedule(streams IO) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "schedule",
		Short: "Run an experiment on a schedule (Temporal Schedules) for reproducibility",
		Long: `Schedule reproducibility runs of an experiment.yaml with Temporal Schedules.
Each run is an experiment whose ID is the schedule's name plus the run's
scheduled time; it compares itself with the previous completed run of the
same spec (grlctl drift NAME prints the latest comparison).`,
	}
	cmd.AddCommand(newCmdScheduleCreate(streams), newCmdScheduleList(streams), newCmdScheduleDescribe(streams))
	for _, a := range scheduleActions {
		cmd.AddCommand(newCmdScheduleAction(streams, a))
	}
	return cmd
}

func newCmdScheduleCreate(streams IO) *cobra.Command {
	var tf temporalFlags
	var cron, overlap, note string
	var every, catchup time.Duration
	cmd := &cobra.Command{
		Use:   "create NAME FILE",
		Short: "Create a schedule that runs the experiment in FILE",
		Long: `Create the schedule NAME running the experiment in FILE, by --cron
(e.g. "0 3 * * *", at 03:00 UTC every day) or --every (e.g. 24h).

--overlap decides what happens when a run is due while the previous one
still runs: skip (default: the due run is dropped), buffer-one, buffer-all,
cancel-other, terminate-other, allow-all. --catchup-window bounds how late
a run missed while the Temporal server was down may still start (default
10m: after a longer outage the missed runs are dropped, not replayed).`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if (cron == "") == (every == 0) {
				return fmt.Errorf("%w: set exactly one of --cron and --every", ErrUsage)
			}
			if every < 0 {
				return fmt.Errorf("%w: --every %v must be positive", ErrUsage, every)
			}
			policy, ok := overlapPolicies[overlap]
			if !ok {
				return fmt.Errorf("%w: unknown --overlap %q (valid: %s)", ErrUsage, overlap, overlapNames())
			}
			spec, err := experiment.Load(args[1])
			if err != nil {
				return fmt.Errorf("%w: %w", ErrUsage, err)
			}
			c, err := tf.dial(streams)
			if err != nil {
				return err
			}
			defer c.Close()
			ctx := cmd.Context()
			sspec := client.ScheduleSpec{}
			if cron != "" {
				sspec.CronExpressions = []string{cron}
			} else {
				sspec.Intervals = []client.ScheduleIntervalSpec{{Every: every}}
			}
			memo := workflows.ExperimentMemo(spec)
			_, err = c.ScheduleClient().Create(ctx, client.ScheduleOptions{
				ID:   name,
				Spec: sspec,
				Action: &client.ScheduleWorkflowAction{
					ID:                    name,
					Workflow:              api.ExperimentWorkflowName,
					Args:                  []any{*spec},
					TaskQueue:             api.TaskQueue,
					Memo:                  memo,
					TypedSearchAttributes: searchAttributes(ctx, c, tf.namespace, spec, streams),
				},
				Overlap:       policy,
				CatchupWindow: catchup,
				Note:          note,
				Memo:          map[string]any{api.MemoSpecHash: api.SpecHash(spec), api.MemoSummary: memo[api.MemoSummary]},
			})
			if isAlreadyExists(err) {
				return fmt.Errorf("%w: schedule %q already exists; delete it first or choose another name", ErrUsage, name)
			}
			if err != nil {
				return fmt.Errorf("create schedule %q: %w", name, err)
			}
			fmt.Fprintf(streams.Out, "created schedule %s (spec hash %s)\n", name, api.SpecHash(spec))
			return nil
		},
	}
	tf.add(cmd)
	cmd.Flags().StringVar(&cron, "cron", "", `cron expression, e.g. "0 3 * * *" (UTC)`)
	cmd.Flags().DurationVar(&every, "every", 0, "interval between runs, e.g. 24h")
	cmd.Flags().StringVar(&overlap, "overlap", "skip", "overlap policy: "+overlapNames())
	cmd.Flags().DurationVar(&catchup, "catchup-window", 10*time.Minute, "how late a missed run may still start")
	cmd.Flags().StringVar(&note, "note", "", "a note shown with the schedule")
	return cmd
}

func isAlreadyExists(err error) bool {
	var exists *serviceerror.AlreadyExists
	return errors.Is(err, temporal.ErrScheduleAlreadyRunning) || errors.As(err, &exists)
}

// scheduleHandle returns a handle on an existing schedule, or a usage
// error naming it.
func scheduleHandle(cmd *cobra.Command, c client.Client, name string) (client.ScheduleHandle, *client.ScheduleDescription, error) {
	h := c.ScheduleClient().GetHandle(cmd.Context(), name)
	desc, err := h.Describe(cmd.Context())
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		return nil, nil, fmt.Errorf("%w: no schedule %q", ErrUsage, name)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("describe schedule %q: %w", name, err)
	}
	return h, desc, nil
}

// scheduleView is what list and describe print.
type scheduleView struct {
	Name       string      `json:"name"`
	Paused     bool        `json:"paused"`
	Note       string      `json:"note,omitempty"`
	Spec       string      `json:"spec"`
	SpecHash   string      `json:"spec_hash,omitempty"`
	NextRuns   []time.Time `json:"next_runs"`
	RecentRuns []string    `json:"recent_runs"`
	Running    []string    `json:"running,omitempty"`
	Actions    int         `json:"actions,omitempty"`
	Skipped    int         `json:"skipped_overlap,omitempty"`
	Missed     int         `json:"missed_catchup_window,omitempty"`
}

func describeSpec(s *client.ScheduleSpec) string {
	if s == nil {
		return "-"
	}
	var parts []string
	for _, c := range s.CronExpressions {
		parts = append(parts, "cron "+c)
	}
	for _, cal := range s.Calendars {
		parts = append(parts, fmt.Sprintf("calendar %v", cal))
	}
	for _, iv := range s.Intervals {
		parts = append(parts, "every "+iv.Every.String())
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, "; ")
}

func recentRuns(rs []client.ScheduleActionResult) []string {
	out := []string{}
	for _, r := range rs {
		if r.StartWorkflowResult != nil {
			out = append(out, r.StartWorkflowResult.WorkflowID)
		}
	}
	return out
}

func printSchedules(streams IO, output string, views []scheduleView, detail bool) error {
	if output == "json" {
		enc := json.NewEncoder(streams.Out)
		enc.SetIndent("", "  ")
		if detail && len(views) == 1 {
			return enc.Encode(views[0])
		}
		return enc.Encode(views)
	}
	w := tabwriter.NewWriter(streams.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tPAUSED\tSPEC\tNEXT RUN\tLAST RUN")
	for _, v := range views {
		next, last := "-", "-"
		if len(v.NextRuns) > 0 {
			next = v.NextRuns[0].UTC().Format(time.RFC3339)
		}
		if n := len(v.RecentRuns); n > 0 {
			last = v.RecentRuns[n-1]
		}
		fmt.Fprintf(w, "%s\t%t\t%s\t%s\t%s\n", v.Name, v.Paused, v.Spec, next, last)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if detail && len(views) == 1 {
		v := views[0]
		fmt.Fprintf(streams.Out, "spec hash %s; %d runs started, %d skipped (overlap), %d missed (catch-up window); running: %s\n",
			orDash(v.SpecHash), v.Actions, v.Skipped, v.Missed, orDash(strings.Join(v.Running, ", ")))
	}
	return nil
}

func newCmdScheduleList(streams IO) *cobra.Command {
	var tf temporalFlags
	var output string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List schedules",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			c, err := tf.dial(streams)
			if err != nil {
				return err
			}
			defer c.Close()
			it, err := c.ScheduleClient().List(cmd.Context(), client.ScheduleListOptions{})
			if err != nil {
				return fmt.Errorf("list schedules: %w", err)
			}
			views := []scheduleView{}
			for it.HasNext() {
				e, err := it.Next()
				if err != nil {
					return fmt.Errorf("list schedules: %w", err)
				}
				views = append(views, scheduleView{Name: e.ID, Paused: e.Paused, Note: e.Note, Spec: describeSpec(e.Spec),
					SpecHash: memoStrings(e.Memo)[api.MemoSpecHash], NextRuns: e.NextActionTimes, RecentRuns: recentRuns(e.RecentActions)})
			}
			sort.Slice(views, func(i, j int) bool { return views[i].Name < views[j].Name })
			return printSchedules(streams, output, views, false)
		},
	}
	tf.add(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text, json")
	return cmd
}

func newCmdScheduleDescribe(streams IO) *cobra.Command {
	var tf temporalFlags
	var output string
	cmd := &cobra.Command{
		Use:   "describe NAME",
		Short: "Show a schedule: its spec, state, next and recent runs",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			c, err := tf.dial(streams)
			if err != nil {
				return err
			}
			defer c.Close()
			_, d, err := scheduleHandle(cmd, c, args[0])
			if err != nil {
				return err
			}
			v := scheduleView{Name: args[0], Spec: describeSpec(d.Schedule.Spec), SpecHash: memoStrings(d.Memo)[api.MemoSpecHash],
				NextRuns: d.Info.NextActionTimes, RecentRuns: recentRuns(d.Info.RecentActions),
				Actions: d.Info.NumActions, Skipped: d.Info.NumActionsSkippedOverlap, Missed: d.Info.NumActionsMissedCatchupWindow}
			if d.Schedule.State != nil {
				v.Paused, v.Note = d.Schedule.State.Paused, d.Schedule.State.Note
			}
			for _, r := range d.Info.RunningWorkflows {
				v.Running = append(v.Running, r.WorkflowID)
			}
			return printSchedules(streams, output, []scheduleView{v}, true)
		},
	}
	tf.add(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text, json")
	return cmd
}

// scheduleAction is one of the commands that act on an existing schedule.
type scheduleAction struct {
	verb, past, short string
	// note adds --note, passed to act.
	note bool
	act  func(ctx context.Context, h client.ScheduleHandle, note string) error
}

var scheduleActions = []scheduleAction{
	{verb: "pause", past: "paused", short: "Pause a schedule", note: true,
		act: func(ctx context.Context, h client.ScheduleHandle, note string) error {
			return h.Pause(ctx, client.SchedulePauseOptions{Note: note})
		}},
	{verb: "unpause", past: "unpaused", short: "Unpause a schedule", note: true,
		act: func(ctx context.Context, h client.ScheduleHandle, note string) error {
			return h.Unpause(ctx, client.ScheduleUnpauseOptions{Note: note})
		}},
	{verb: "trigger", past: "triggered", short: "Start a run of a schedule now (its overlap policy applies)",
		act: func(ctx context.Context, h client.ScheduleHandle, _ string) error {
			return h.Trigger(ctx, client.ScheduleTriggerOptions{})
		}},
	{verb: "delete", past: "deleted", short: "Delete a schedule (its runs and their results stay)",
		act: func(ctx context.Context, h client.ScheduleHandle, _ string) error { return h.Delete(ctx) }},
}

func newCmdScheduleAction(streams IO, a scheduleAction) *cobra.Command {
	var tf temporalFlags
	var note string
	cmd := &cobra.Command{
		Use:   a.verb + " NAME",
		Short: a.short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := tf.dial(streams)
			if err != nil {
				return err
			}
			defer c.Close()
			h, _, err := scheduleHandle(cmd, c, args[0])
			if err != nil {
				return err
			}
			if err := a.act(cmd.Context(), h, note); err != nil {
				return fmt.Errorf("%s schedule %q: %w", a.verb, args[0], err)
			}
			_, err = fmt.Fprintf(streams.Out, "%s schedule %s\n", a.past, args[0])
			return err
		},
	}
	tf.add(cmd)
	if a.note {
		cmd.Flags().StringVar(&note, "note", "", "why (shown with the schedule)")
	}
	return cmd
}
